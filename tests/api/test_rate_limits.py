"""Calling too fast is answered 429 with Retry-After; per user and per address."""

import time

import pytest

from api.throttling import WINDOW
from tests.api.conftest import basic, bearer
from tests.helpers import wait_for

URL = "/api/v1/chargers"


@pytest.fixture(autouse=True)
def well_inside_one_window():
    """Counts restart with each one-minute window: start a test early in one, so the
    calls it makes are all counted together."""
    wait_for(lambda: time.time() % WINDOW < WINDOW - 10, timeout=15, message="a fresh window")


def test_a_user_over_the_limit_gets_429_with_retry_after(client, people, settings):
    settings.API_RATE_LIMIT_PER_USER = 3
    user = people["group_admin"]
    for _ in range(3):
        assert client.get(URL, **bearer(user)).status_code == 200
    response = client.get(URL, **bearer(user))
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    # Every token of that user shares the limit; another user is not affected.
    assert client.get(URL, **bearer(user)).status_code == 429
    assert client.get(URL, **bearer(people["super_admin"])).status_code == 200


def test_one_address_over_the_limit_gets_429_whoever_it_signs_in_as(client, people, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 2
    assert client.get(URL, **bearer(people["group_admin"])).status_code == 200
    assert client.get(URL, **bearer(people["super_admin"])).status_code == 200
    response = client.get(URL, **bearer(people["plain"]))
    assert response.status_code == 429
    assert "Retry-After" in response
    # Another address is counted on its own.
    assert client.get(URL, REMOTE_ADDR="10.0.0.9", **bearer(people["plain"])).status_code == 200


def test_signin_has_its_own_stricter_limit_per_address(client, people, settings):
    settings.API_RATE_LIMIT_SIGNIN_PER_ADDRESS = 2
    settings.AXES_FAILURE_LIMIT = 100
    for _ in range(2):
        assert client.get("/users/signin", **basic("groupadmin", "pw")).status_code == 200
    response = client.get("/users/signin", **basic("groupadmin", "pw"))
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


def test_a_forwarded_for_header_does_not_dodge_the_limit(client, people, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 1
    assert client.get(URL, **bearer(people["plain"])).status_code == 200
    spoofed = client.get(URL, HTTP_X_FORWARDED_FOR="203.0.113.7", **bearer(people["plain"]))
    assert spoofed.status_code == 429


def test_without_redis_the_api_still_answers(client, people, settings):
    from api import throttling

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.API_RATE_LIMIT_PER_USER = 1
    try:
        for _ in range(3):
            assert client.get(URL, **bearer(people["plain"])).status_code == 200
    finally:
        throttling._client.cache_clear()
