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
    # From an address that is not one of our proxies (the test client's 127.0.0.1 is one).
    settings.API_RATE_LIMIT_PER_ADDRESS = 1
    outside = {"REMOTE_ADDR": "198.51.100.66", **bearer(people["plain"])}
    assert client.get(URL, **outside).status_code == 200
    spoofed = client.get(URL, HTTP_X_FORWARDED_FOR="203.0.113.7", **outside)
    assert spoofed.status_code == 429


def test_behind_the_trusted_proxy_each_client_has_its_own_address_limit(client, people, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 1
    first = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", **bearer(people["plain"])}
    assert client.get(URL, **first).status_code == 200
    assert client.get(URL, **first).status_code == 429
    # Another client through the same proxy is not limited by the first.
    second = {"HTTP_X_FORWARDED_FOR": "203.0.113.8", **bearer(people["group_admin"])}
    assert client.get(URL, **second).status_code == 200
    # An IPv6 client is counted per /64: a new address in it is no way out.
    v6 = {"HTTP_X_FORWARDED_FOR": "2001:db8:5:6::1", **bearer(people["super_admin"])}
    assert client.get(URL, **v6).status_code == 200
    v6["HTTP_X_FORWARDED_FOR"] = "2001:db8:5:6::beef"
    assert client.get(URL, **v6).status_code == 429


def test_every_api_throttle_keys_on_the_resolved_client_address():
    """ninja's own throttles key on the whole client-supplied X-Forwarded-For: none may be used."""
    from api.api import api
    from api.throttling import AddressThrottle, RedisThrottle

    operations = [
        operation
        for router in api._get_bound_routers()
        for view in router.path_operations.values()
        for operation in view.operations
    ]
    names = {operation.view_func.__name__ for operation in operations}
    assert {"signin", "refresh_token", "charger_list", "restart_create"} <= names
    for operation in operations:
        throttles = operation.throttle_objects
        assert throttles, operation.view_func.__name__
        assert all(isinstance(t, RedisThrottle) for t in throttles), operation.view_func.__name__
        assert any(isinstance(t, AddressThrottle) for t in throttles), operation.view_func.__name__


def test_without_redis_the_api_still_answers(client, people, settings):
    from api import throttling

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.API_RATE_LIMIT_PER_USER = 1
    try:
        for _ in range(3):
            assert client.get(URL, **bearer(people["plain"])).status_code == 200
    finally:
        throttling._client.cache_clear()
