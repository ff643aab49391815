import pytest
import redis
from django.conf import settings

from restarts import waves
from tests.restarts.fleet import make_fleet


@pytest.fixture
def fleet(db):
    return make_fleet()


@pytest.fixture
def restarts_queue():
    """The "restarts" Celery queue's Redis list and the release mark, emptied around a test."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("restarts", waves.RELEASE_PENDING)
    yield client
    client.delete("restarts", waves.RELEASE_PENDING)
    client.close()


# The gateway's own fixtures: a real gateway on loopback and simulated chargers.
from tests.ocpp_gateway.conftest import (  # noqa: E402, F401
    clean_ocpp_keys,
    gateway,
    gateway_process,
    make_gateway,
    runner,
    sims,
)
