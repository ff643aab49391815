from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def healthz(request):
    """Liveness for load balancers: the process answers and the database does."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"ok": False, "database": "unreachable"}, status=503)
    return JsonResponse({"ok": True})


def login_locked_out(request, response=None, credentials=None):
    """What django-axes answers once a (username, address) pair has failed too often."""
    minutes = max(round(settings.AXES_COOLOFF_TIME * 60), 1)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
