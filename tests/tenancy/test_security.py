"""Security a user never sees until it matters: CSP, CSRF, throttled logins, deploy check."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tenancy import audit
from tenancy.models import AuditEvent, Membership
from tests.factories import make_member

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
    anna.is_staff = True
    anna.save()
    event = audit.record(action="test.event", actor=anna, group=tree["a"], summary="s")
    client = Client()
    client.force_login(anna)
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
