"""Small factory functions for tests: make_x(**overrides)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from chargers.models import Charger
from tenancy.models import Group, Membership, Organisation, Subscription

_seq = itertools.count(1)


def make_org(name=None, plan="business", active=True) -> Organisation:
    org = Organisation.objects.create(name=name or f"Org {next(_seq)}")
    now = timezone.now()
    Subscription.objects.create(
        organisation=org,
        plan=plan,
        valid_from=now - timedelta(days=30),
        valid_until=(now + timedelta(days=30)) if active else (now - timedelta(days=1)),
    )
    return org


def make_group(org=None, parent=None, name=None) -> Group:
    if org is None:
        org = parent.organisation if parent else make_org()
    return Group.objects.create(organisation=org, parent=parent, name=name or f"G{next(_seq)}")


def make_user(username=None, password="pw", **extra):
    User = get_user_model()
    user = User.objects.create_user(
        username=username or f"u{next(_seq)}", password=password, **extra
    )
    return user


def make_member(group, role=Membership.Role.ADMIN, user=None, **user_kwargs):
    user = user or make_user(**user_kwargs)
    Membership.objects.create(user=user, group=group, role=role)
    return user


def make_charger(group=None, **overrides) -> Charger:
    n = next(_seq)
    fields = {
        "charge_point_id": f"CP-{n:05d}",
        "name": f"Charger {n}",
        "group": group or make_group(),
        "model": "Pulsar Plus",
        "ocpp_version": "1.6",
        "supports_remote_restart": True,
        "is_connected": True,
        "connected_at": timezone.now(),
        "last_seen_at": timezone.now(),
    }
    password = overrides.pop("password", None)
    fields.update(overrides)
    charger = Charger(**fields)
    if password:
        charger.set_ocpp_password(password)
    charger.save()
    return charger
