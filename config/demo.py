"""The demo fleet: two organisations, a small group tree, ~50 chargers and four logins.

`seed_demo` writes it; `make run` reads DEMO_OFFLINE and DEMO_BEHAVIOURS to start
the simulated fleet so that a few chargers stay away and a few misbehave on purpose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chargers.models import Charger
from tenancy.models import Group, Membership, Organisation, Subscription

DEFAULT_DEMO_PASSWORD = "wallbox-demo"
DEFAULT_OCPP_PASSWORD = "ocpp-demo-secret"

BUSINESS_ORG = "Nordlys Energi A/S"
BASIC_ORG = "Basis Ladning ApS"

# Maintenance windows set when the group is first made (a re-seed keeps what people set).
MAINTENANCE_WINDOWS = {("Nordlys Energi", "København"): (time(1, 0), time(5, 0))}

# (organisation, path of group names)
GROUPS = [
    (BUSINESS_ORG, ("Nordlys Energi",)),
    (BUSINESS_ORG, ("Nordlys Energi", "København")),
    (BUSINESS_ORG, ("Nordlys Energi", "København", "P-hus Syd")),
    (BUSINESS_ORG, ("Nordlys Energi", "København", "P-hus Nord")),
    (BUSINESS_ORG, ("Nordlys Energi", "Aarhus")),
    (BUSINESS_ORG, ("Nordlys Energi", "Aarhus", "Havnen")),
    (BASIC_ORG, ("Basis Ladning",)),
    (BASIC_ORG, ("Basis Ladning", "Odense")),
]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    vendor: str
    ocpp: str
    remote_restart: bool
    firmware: str


MODELS = [
    ModelSpec("Pulsar Plus", "Wallbox", "1.6", True, "6.4.12"),
    ModelSpec("Commander 2", "Wallbox", "1.6", True, "6.3.9"),
    ModelSpec("Copper SB", "Wallbox", "2.0.1", True, "6.5.2"),
    ModelSpec("Supernova", "Wallbox", "2.0.1", True, "2.1.0"),
    ModelSpec("Pulsar (legacy)", "Wallbox", "1.6", False, "3.2.1"),
]

# (group path, how many chargers, charge point id prefix)
FLEET = [
    (("Nordlys Energi", "København", "P-hus Syd"), 12, "NE-KBH-S"),
    (("Nordlys Energi", "København", "P-hus Nord"), 10, "NE-KBH-N"),
    (("Nordlys Energi", "Aarhus"), 6, "NE-AAR"),
    (("Nordlys Energi", "Aarhus", "Havnen"), 10, "NE-AAR-H"),
    (("Basis Ladning", "Odense"), 10, "BL-ODE"),
]

# Chargers the demo's simulator leaves disconnected on purpose.
DEMO_OFFLINE = ["NE-KBH-S-012", "NE-KBH-N-010", "NE-AAR-H-010", "BL-ODE-010"]
# Chargers that misbehave on purpose in the demo (simulator behaviours).
DEMO_BEHAVIOURS = {
    "NE-KBH-S-011": "reject",
    "NE-KBH-N-009": "charging",
    "NE-AAR-H-009": "no_answer",
}
# Every demo charger requires OCPP Basic auth (the simulator is given the password) but
# these, which show how the portal warns about a charger without one.
DEMO_WITHOUT_PASSWORD = ["BL-ODE-009"]

USERS = [
    # username, organisation, group path, role
    ("superadmin", BUSINESS_ORG, ("Nordlys Energi",), Membership.Role.SUPER_ADMIN),
    ("admin", BUSINESS_ORG, ("Nordlys Energi", "København"), Membership.Role.ADMIN),
    ("bruger", BUSINESS_ORG, ("Nordlys Energi", "København"), Membership.Role.USER),
    ("basicadmin", BASIC_ORG, ("Basis Ladning",), Membership.Role.ADMIN),
]


def demo_password(explicit: str | None = None) -> str:
    return explicit or os.getenv("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD


def ocpp_password() -> str:
    return os.getenv("DEMO_OCPP_PASSWORD") or DEFAULT_OCPP_PASSWORD


@transaction.atomic
def seed(password: str) -> list[tuple[str, str, str]]:
    """Create or refresh the demo data; returns (username, role, group) for each login."""
    now = timezone.now()
    orgs = {}
    for name, plan in ((BUSINESS_ORG, "business"), (BASIC_ORG, "basic")):
        org, _ = Organisation.objects.get_or_create(name=name)
        Subscription.objects.update_or_create(
            organisation=org,
            defaults={
                "plan": plan,
                "valid_from": now - timedelta(days=365),
                "valid_until": now + timedelta(days=3 * 365),
            },
        )
        orgs[name] = org

    groups: dict[tuple[str, ...], Group] = {}
    for org_name, path in GROUPS:
        parent = groups.get(path[:-1])
        start, end = MAINTENANCE_WINDOWS.get(path, (None, None))
        group, _ = Group.objects.get_or_create(
            organisation=orgs[org_name],
            parent=parent,
            name=path[-1],
            defaults={"maintenance_start": start, "maintenance_end": end},
        )
        groups[path] = group

    ocpp_pw = ocpp_password()
    for path, count, prefix in FLEET:
        for i in range(1, count + 1):
            spec = MODELS[(i - 1) % len(MODELS)]
            cp_id = f"{prefix}-{i:03d}"
            charger, created = Charger.objects.get_or_create(
                charge_point_id=cp_id,
                defaults={
                    "name": f"{path[-1]} {i:02d}",
                    "group": groups[path],
                    "model": spec.name,
                    "vendor": spec.vendor,
                    "serial_number": f"SN{prefix.replace('-', '')}{i:04d}",
                    "firmware_version": spec.firmware,
                    "ocpp_version": spec.ocpp,
                    "supports_remote_restart": spec.remote_restart,
                    "simulated": True,
                },
            )
            if not created and not charger.simulated and charger.group_id == groups[path].pk:
                # A demo charger from before the mark (an old dev database): still the
                # seed's own, in its own group. One of the same id elsewhere is left alone.
                charger.simulated = True
                charger.save(update_fields=["simulated"])
            if created and cp_id not in DEMO_WITHOUT_PASSWORD:
                charger.set_ocpp_password(ocpp_pw)
                charger.save(update_fields=["password_hash"])

    User = get_user_model()
    logins = []
    for username, _org, path, role in USERS:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        user.set_password(password)
        user.is_active = True
        user.save()
        Membership.objects.update_or_create(user=user, group=groups[path], defaults={"role": role})
        logins.append((username, role, " / ".join(path)))
    return logins
