"""Signing in, refreshing, and the ways a token stops working."""

import datetime
import threading
import time

import jwt
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api import tokens
from api.models import RefreshToken, TokenFamily
from api.tasks import prune_refresh_tokens
from tenancy.models import AuditEvent
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


# -- rotation: each refresh token works once; a second use revokes its sign-in -----------------


def refresh(client, refresh_token, **extra):
    return client.get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {refresh_token}", **extra)


def works(client, access_token) -> bool:
    return client.get(GROUPS, HTTP_AUTHORIZATION=f"Bearer {access_token}").status_code == 200


def test_refreshing_returns_a_new_pair_and_retires_the_old_refresh_token(client, people):
    first = signin(client).json()["data"]["attributes"]
    second = refresh(client, first["refresh_token"]).json()["data"]["attributes"]
    assert second["refresh_token"] != first["refresh_token"]
    assert works(client, second["token"])
    third = refresh(client, second["refresh_token"])
    assert third.status_code == 200  # the successor works, once
    row = RefreshToken.objects.get(
        jti=jwt.decode(first["refresh_token"], options={"verify_signature": False})["jti"]
    )
    assert row.used_at is not None


def test_a_retired_refresh_token_used_again_revokes_the_whole_family(client, people, caplog):
    first = signin(client).json()["data"]["attributes"]
    second = refresh(client, first["refresh_token"]).json()["data"]["attributes"]

    stolen = refresh(client, first["refresh_token"], HTTP_X_FORWARDED_FOR="203.0.113.66")
    assert stolen.status_code == 401
    assert stolen.json()["code"] == "refresh_token_reused"
    assert "token" not in stolen.json()
    # Everything of that sign-in is dead: old and new, access and refresh.
    for access in (first["token"], second["token"]):
        assert not works(client, access)
    assert refresh(client, second["refresh_token"]).status_code == 401
    event = AuditEvent.objects.get(action="api.refresh_token_reused")
    assert event.actor == people["group_admin"] and event.ip_address == "203.0.113.66"
    logged = [r.getMessage() for r in caplog.records if "refresh token reused" in r.getMessage()]
    assert len(logged) == 1
    for secret in (first["refresh_token"], second["refresh_token"], first["token"]):
        assert secret not in caplog.text
    # Replaying it again answers the same, and is not recorded twice.
    assert refresh(client, first["refresh_token"]).json()["code"] == "refresh_token_reused"
    assert AuditEvent.objects.filter(action="api.refresh_token_reused").count() == 1


def test_access_tokens_of_a_revoked_family_are_refused_at_once(client, people):
    pair = tokens.issue_pair(people["group_admin"])
    assert works(client, pair.token)
    TokenFamily.objects.update(revoked_at=timezone.now(), revoked_reason="reuse")
    assert not works(client, pair.token)  # long before its 15 minutes are up


def test_two_refreshes_racing_with_one_token_never_leave_two_live_successors(
    transactional_db, people
):
    pair = tokens.issue_pair(people["group_admin"])
    answers = []
    barrier = threading.Barrier(2)

    def race():
        barrier.wait()
        answers.append(Client().get(REFRESH, HTTP_AUTHORIZATION=f"Bearer {pair.refresh_token}"))
        connection.close()

    threads = [threading.Thread(target=race) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # One wins the token; the other is its second use, which revokes the family, so the
    # winner's successor is dead too: never two live successors, not even one.
    assert sorted(a.status_code for a in answers) == [200, 401]
    (won,) = [a.json()["data"]["attributes"] for a in answers if a.status_code == 200]
    assert refresh(Client(), won["refresh_token"]).status_code == 401
    assert not works(Client(), won["token"])
    assert TokenFamily.objects.get().revoked_reason == "reuse"


def test_another_sign_in_is_a_separate_family_untouched_by_a_reuse(client, people):
    phone = signin(client).json()["data"]["attributes"]
    laptop = signin(client).json()["data"]["attributes"]
    refresh(client, phone["refresh_token"])
    assert refresh(client, phone["refresh_token"]).status_code == 401  # reuse: phone's family
    assert works(client, laptop["token"])
    assert refresh(client, laptop["refresh_token"]).status_code == 200


def test_a_refresh_token_from_before_rotation_is_accepted_once_then_counts_as_reused(
    client, people
):
    user = people["group_admin"]
    now = int(time.time())
    claims = {
        "iss": tokens.ISSUER,
        "sub": str(user.pk),
        "typ": tokens.REFRESH,
        "iat": now,
        "exp": now + 3600,
        "jti": "0123456789abcdef0123456789abcdef",
        "pwd": tokens._password_binding(user),
    }  # what the portal issued before rotation: no family
    old = jwt.encode(claims, tokens._signing_key(), algorithm=tokens.ALGORITHM)
    first = refresh(client, old)
    assert first.status_code == 200
    adopted = first.json()["data"]["attributes"]
    assert works(client, adopted["token"])
    again = refresh(client, old)
    assert again.status_code == 401 and again.json()["code"] == "refresh_token_reused"
    assert not works(client, adopted["token"])


def test_a_family_ends_at_its_absolute_lifetime(client, people, settings):
    settings.API_REFRESH_FAMILY_TTL = 2 * 3600
    start = time.time() - 2 * 3600 + 60  # signed in almost two hours ago
    pair = tokens.issue_pair(people["group_admin"], now=start)
    # The refresh token never outlives its family, whatever API_REFRESH_TOKEN_TTL says.
    assert pair.refresh_token_ttl == int(start + 2 * 3600) * 1000
    newer = refresh(client, pair.refresh_token).json()["data"]["attributes"]
    assert newer["refresh_token_ttl"] == pair.refresh_token_ttl
    family = TokenFamily.objects.get()
    family.expires_at = timezone.now() - datetime.timedelta(seconds=1)
    family.save()  # the family's end has come (its tokens' exp would say the same)
    ended = refresh(client, newer["refresh_token"])
    assert ended.status_code == 401 and ended.json()["code"] == "refresh_token_revoked"


def test_a_bearer_call_costs_no_extra_query(client, people, django_assert_num_queries):
    user = people["group_admin"]
    legacy_claims = {
        "iss": tokens.ISSUER,
        "sub": str(user.pk),
        "typ": tokens.ACCESS,
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
        "jti": "f" * 32,
        "pwd": tokens._password_binding(user),
    }
    legacy = jwt.encode(legacy_claims, tokens._signing_key(), algorithm=tokens.ALGORITHM)
    rotated = tokens.issue_pair(user).token
    # The family check replaces the user query: the same count as a token without one.
    with CaptureQueriesContext(connection) as before:
        assert works(client, legacy)
    with django_assert_num_queries(len(before.captured_queries)):
        assert works(client, rotated)


def test_expired_refresh_rows_are_pruned(people):
    user = people["group_admin"]
    long_ago = time.time() - 40 * 24 * 3600
    tokens.issue_pair(user, now=long_ago)  # a family and token that ended long ago
    live = tokens.issue_pair(user)
    prune_refresh_tokens()
    assert list(RefreshToken.objects.values_list("jti", flat=True)) == [
        jwt.decode(live.refresh_token, options={"verify_signature": False})["jti"]
    ]
    assert TokenFamily.objects.count() == 1
