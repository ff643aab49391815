import base64

import pytest
import redis
from django.conf import settings

from api import tokens
from api.throttling import KEY_PREFIX
from tenancy.models import Membership
from tests.factories import make_charger, make_member

Role = Membership.Role


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The default PBKDF2 costs ~0.3 s a password; these tests make many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Each test starts with no calls counted (only our keys, in our own Redis db)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{KEY_PREFIX}:*"))
    if keys:
        client.delete(*keys)
    yield


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_pair(user).token}"}


def basic(username, password) -> dict:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {raw}"}


@pytest.fixture
def people(tree):
    """One of each kind of caller the authorisation table names."""
    return {
        "plain": make_member(tree["root"], Role.USER, username="plain"),
        "group_admin": make_member(tree["a"], Role.ADMIN, username="groupadmin"),
        "super_admin": make_member(tree["root"], Role.SUPER_ADMIN, username="superadmin"),
        "other_admin": make_member(tree["other_root"], Role.ADMIN, username="otheradmin"),
    }


@pytest.fixture
def fleet(tree):
    return {
        "a": make_charger(tree["a"], name="Alpha", serial_number="SN-A"),
        "a1": make_charger(tree["a1"], name="Alpha one"),
        "b": make_charger(tree["b"], name="Bravo", is_connected=False),
        "other": make_charger(tree["other_root"], name="Other org"),
    }


@pytest.fixture
def rfleet(db):
    """The restart tests' fleet: one charger of every kind the restart rules care about."""
    from tests.restarts.fleet import make_fleet

    return make_fleet()
