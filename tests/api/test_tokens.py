"""Signing in, refreshing, and the ways a token stops working."""

import time

import jwt
import pytest

from api import tokens
from tests.api.conftest import basic, bearer

SIGNIN = "/users/signin"
REFRESH = "/users/refresh-token"
GROUPS = "/v3/chargers/groups"


def signin(client, username="groupadmin", password="pw"):
    return client.get(SIGNIN, **basic(username, password), HTTP_PARTNER="wallbox")


def test_signin_answers_a_token_pair_in_wallbox_shape_with_expiry_in_epoch_ms(client, people):
    before_ms = time.time() * 1000
    response = signin(client)
    assert response.status_code == 200
    attrs = response.json()["data"]["attributes"]
    assert attrs["user_id"] == people["group_admin"].pk
    assert attrs["token"] and attrs["refresh_token"] and attrs["token"] != attrs["refresh_token"]
    # Expiry times, in milliseconds: the access token dies first.
    assert before_ms < attrs["ttl"] < attrs["refresh_token_ttl"]
    assert attrs["ttl"] <= before_ms + 1000 * (15 * 60 + 5)
    assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {attrs['token']}").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("groupadmin", "wrong"),
        basic("nobody", "pw"),
        {"HTTP_AUTHORIZATION": "Basic not-base64!"},
        {"HTTP_AUTHORIZATION": "Bearer something"},
    ],
    ids=["none", "wrong-password", "unknown-user", "garbled", "not-basic"],
)
def test_signin_without_good_credentials_is_401(client, people, headers):
    response = client.get(SIGNIN, **headers)
    assert response.status_code == 401
    assert response.json()["code"] == "bad_credentials"
    assert "token" not in response.content.decode()


def test_repeated_failed_signins_lock_the_username_out_with_retry_after(client, people, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert signin(client, password="wrong").status_code == 401
    last_try = signin(client, password="wrong")
    locked = signin(client)  # even the right password, while locked out
    for response in (last_try, locked):
        assert response.status_code == 429
        assert response.json()["code"] == "locked_out"
        assert int(response["Retry-After"]) > 0
    assert "token" not in locked.content.decode()


def test_refresh_token_gives_a_new_working_pair(client, people):
    first = signin(client).json()["data"]["attributes"]
    response = client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {first['refresh_token']}")
    assert response.status_code == 200
    new = response.json()["data"]["attributes"]
    assert new["token"] != first["token"]
    assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {new['token']}").status_code == 200


def test_access_and_refresh_tokens_are_not_interchangeable(client, people):
    pair = tokens.issue_pair(people["group_admin"])
    assert client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {pair.token}").status_code == 401
    assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {pair.refresh_token}").status_code == 401


def test_expired_tokens_are_refused(client, people, settings):
    long_ago = time.time() - settings.API_REFRESH_TOKEN_TTL - 60
    pair = tokens.issue_pair(people["group_admin"], now=long_ago)
    response = client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {pair.token}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {pair.refresh_token}").status_code == 401


def test_expired_access_token_with_live_refresh_token_can_be_refreshed(client, people, settings):
    pair = tokens.issue_pair(people["group_admin"], now=time.time() - settings.API_TOKEN_TTL - 5)
    assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {pair.token}").status_code == 401
    assert client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {pair.refresh_token}").status_code == 200


def test_changing_the_password_kills_every_earlier_token(client, people):
    user = people["group_admin"]
    pair = tokens.issue_pair(user)
    user.set_password("a-new-password")
    user.save()
    assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {pair.token}").status_code == 401
    assert client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {pair.refresh_token}").status_code == 401
    assert client.get(GROUPS, **bearer(user)).status_code == 200  # a fresh one works


def test_a_deactivated_user_is_refused_with_tokens_and_at_signin(client, people):
    user = people["group_admin"]
    pair = tokens.issue_pair(user)
    user.is_active = False
    user.save()
    assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {pair.token}").status_code == 401
    assert client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {pair.refresh_token}").status_code == 401
    assert signin(client).status_code == 401


def test_a_token_signed_with_another_key_or_tampered_is_refused(client, people):
    user = people["group_admin"]
    good = tokens.issue_pair(user).token
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-our-key-not-our-key-not-our-key!", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in (forged, unsigned, good[:-2] + "xx", "garbage"):
        assert client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
