"""The project's URLs plus one view that needs a Redis that is not there."""

import redis
from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns
from tests.helpers import free_port


def needs_redis(request):
    redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1).ping()
    return HttpResponse("unreachable")


urlpatterns = [path("needs-redis/", needs_redis), *project_urlpatterns]
