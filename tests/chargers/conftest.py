import pytest
import redis
from django.conf import settings

from tests.restarts.fleet import make_fleet


@pytest.fixture
def fleet(db):
    return make_fleet()


@pytest.fixture
def restarts_queue():
    """The Redis list behind the "restarts" Celery queue, emptied around the test."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("restarts")
    yield client
    client.delete("restarts")
    client.close()
