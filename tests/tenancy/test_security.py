"""Security a user never sees until it matters: CSP, CSRF, throttled logins, deploy check."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tenancy import audit
from tenancy.models import AuditEvent, Membership
from tests.factories import make_member, make_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def anna(tree):
    return make_member(tree["a"], Membership.Role.SUPER_ADMIN, username="anna", password="right-pw")


def test_pages_carry_a_content_security_policy_with_a_script_nonce(client, anna):
    client.force_login(anna)
    response = client.get("/chargers/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()


@pytest.mark.django_db
def test_login_post_without_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403


def test_logout_without_csrf_token_is_refused_and_keeps_the_session(anna):
    client = Client(enforce_csrf_checks=True)
    client.force_login(anna)
    assert client.post("/logout/").status_code == 403
    assert client.get("/chargers/").status_code == 200


def test_password_guessing_is_throttled_per_user_and_address(anna, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/login/", {"username": "anna", "password": "guess"})
        assert response.status_code == 200
    # The failure that reaches the limit is already answered with the lockout.
    assert client.post("/login/", {"username": "anna", "password": "guess"}).status_code == 429
    locked = client.post("/login/", {"username": "anna", "password": "right-pw"})
    assert locked.status_code == 429
    assert "For mange forsøg" in locked.content.decode()
    assert client.get("/chargers/").status_code == 302  # still not logged in
    # Another address is not locked out of the same account.
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert other.post("/login/", {"username": "anna", "password": "right-pw"}).status_code == 302


def _guess_until_locked(client, settings, **extra):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "anna", "password": "guess"}, **extra)
    return client.post("/login/", {"username": "anna", "password": "right-pw"}, **extra)


def test_login_lockout_behind_the_proxy_is_per_client_not_per_proxy(anna, settings):
    # Every request reaches us from the proxy (127.0.0.1, trusted by default).
    attacker = Client(HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert _guess_until_locked(attacker, settings).status_code == 429
    # Anna at home, through the same proxy, is not locked out by the attacker.
    home = Client(HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert home.post("/login/", {"username": "anna", "password": "right-pw"}).status_code == 302
    failures = AccessAttempt.objects.get(username="anna")
    assert failures.ip_address == "203.0.113.5"  # the client, not the proxy


def test_a_spoofed_forwarded_for_from_an_untrusted_address_does_not_dodge_the_lockout(
    anna, settings
):
    client = Client(REMOTE_ADDR="198.51.100.66")
    for n in range(settings.AXES_FAILURE_LIMIT):
        spoof = f"203.0.113.{n}"
        client.post(
            "/login/", {"username": "anna", "password": "guess"}, HTTP_X_FORWARDED_FOR=spoof
        )
    locked = client.post(
        "/login/", {"username": "anna", "password": "right-pw"}, HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert locked.status_code == 429
    assert AccessAttempt.objects.get(username="anna").ip_address == "198.51.100.66"


def test_an_untrusted_peer_cannot_claim_https_with_x_forwarded_proto(anna, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    outsider = Client(REMOTE_ADDR="198.51.100.66", HTTP_X_FORWARDED_PROTO="https")
    response = outsider.get("/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    # Our proxy terminated TLS and says so: believed.
    proxied = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert proxied.get("/login/").status_code == 200


def test_the_audit_trail_records_the_forwarded_client_address(tree, anna):
    client = Client(HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.20")
    client.force_login(anna)
    response = client.post(f"/groups/{tree['a'].pk}/rename/", {"name": "Alfa"})
    assert response.status_code in (200, 302)
    event = AuditEvent.objects.get(action="group.rename")
    assert event.ip_address == "198.51.100.20"  # the right-most address our proxy vouches for
    outsider = Client(REMOTE_ADDR="198.51.100.66", HTTP_X_FORWARDED_FOR="203.0.113.9")
    outsider.force_login(anna)
    outsider.post(f"/groups/{tree['a'].pk}/rename/", {"name": "Alfa 2"})
    latest = AuditEvent.objects.filter(action="group.rename").latest("pk")
    assert latest.ip_address == "198.51.100.66"


def test_a_successful_login_resets_the_failure_count(anna, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/login/", {"username": "anna", "password": "guess"})
    assert client.post("/login/", {"username": "anna", "password": "right-pw"}).status_code == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/login/", {"username": "anna", "password": "guess"})
    assert client.post("/login/", {"username": "anna", "password": "right-pw"}).status_code == 302


def test_the_audit_trail_cannot_be_edited_from_the_admin(tree, anna):
    operator = make_user("operator", is_staff=True, is_superuser=True)
    event = audit.record(action="test.event", actor=anna, group=tree["a"], summary="s")
    client = Client()
    client.force_login(operator)  # not even a platform superuser may edit it
    url = f"/admin/portal/auditevent/{event.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="summary"' not in page.content.decode()  # read-only, no input
    client.post(url, {"summary": "changed", "action": "x"})
    client.post(f"/admin/portal/auditevent/{event.pk}/delete/", {"post": "yes"})
    event.refresh_from_db()
    assert event.summary == "s"
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_manage_py_check_deploy_is_clean_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        OCPP_PASSWORD_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="portal.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
