"""Cancelling restarts from the pages: a request's history page and a charger's page.

GET shows the confirmation (in the page's dialog with HTMX, as a page without it);
POST cancels through restarts.cancel, which decides who may (the one place) and
what can still be cancelled.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from chargers.access import get_manageable_charger
from restarts import cancel
from restarts.models import RestartJob, RestartRequest
from tenancy.audit import client_ip


def _done(request, result: cancel.Cancelled, back: str):
    message = _("Cancelled: %(cancelled)d. Already underway: %(underway)d.") % {
        "cancelled": len(result.cancelled),
        "underway": result.underway,
    }
    messages.success(request, message)
    return HttpResponseClientRedirect(back) if request.htmx else redirect(back)


def _confirm(request, preview: cancel.Preview, action: str, back: str):
    template = "restarts/cancel.html#confirm" if request.htmx else "restarts/cancel.html"
    context = {"preview": preview, "action": action, "back": back}
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def cancel_request(request, pk):
    """Cancel a request's restarts that have not reached their chargers yet."""
    back = reverse("restarts:history_detail", args=[pk])
    if request.method == "POST":
        try:
            result = cancel.restart_request_cancel(
                user=request.user, request_id=pk, ip=client_ip(request)
            )
        except RestartRequest.DoesNotExist as exc:
            raise Http404 from exc
        return _done(request, result, back)
    jobs = cancel.request_jobs(request.user, pk)
    if not jobs.exists():  # none of its chargers are yours: as if it did not exist
        raise Http404
    action = reverse("restarts:cancel_request", args=[pk])
    return _confirm(request, cancel.cancel_preview(jobs), action, back)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def cancel_charger(request, charger_id):
    """Cancel a charger's restart, if it has not reached the charger yet."""
    back = reverse("chargers:detail", args=[charger_id])
    if request.method == "POST":
        result = cancel.restart_charger_cancel(
            user=request.user, charger_id=charger_id, ip=client_ip(request)
        )
        return _done(request, result, back)
    charger = get_manageable_charger(request.user, charger_id)
    jobs = RestartJob.objects.filter(charger=charger)
    action = reverse("restarts:cancel_charger", args=[charger.pk])
    return _confirm(request, cancel.cancel_preview(jobs), action, back)
