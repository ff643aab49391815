"""The benchmark fleet in PostgreSQL: organisations, groups, users and chargers.

- "Bench Energi" (Business): group "Bench" with "Fleet" (the page fleet, split in
  sub-groups of 500, admin `bench-admin`) and "Rest" (the remaining chargers).
  Chargers are BENCH-00001 … in that order, so BENCH-00001 … BENCH-01000 are the
  admin's and can be restarted through the portal.
- "Bench Small" (Business): a small fleet with its own admin `bench-small`, to show
  that a page's query count does not grow with the fleet.
"""

from __future__ import annotations

from datetime import timedelta

import redis
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.functions import Mod
from django.utils import timezone

from chargers.models import Charger
from restarts.models import RestartJob, RestartRequest
from tenancy.models import Group, Membership, Organisation, Subscription

PREFIX = "BENCH-"
ADMIN = "bench-admin"
SMALL_ADMIN = "bench-small"
SUBGROUP = 500
ROOT_ADMIN = "bench-root"  # super-admin of the whole "Bench" tree (made when needed)


def charge_point_id(number: int) -> str:
    return f"{PREFIX}{number:05d}"


def _org(name: str) -> Organisation:
    org = Organisation.objects.create(name=name)
    now = timezone.now()
    Subscription.objects.create(
        organisation=org,
        plan=Subscription.Plan.BUSINESS,
        valid_from=now - timedelta(days=30),
        valid_until=now + timedelta(days=365),
    )
    return org


def _admin(username: str, group: Group):
    user = get_user_model().objects.create_user(username=username, password=None)
    Membership.objects.create(user=user, group=group, role=Membership.Role.ADMIN)
    return user


def seed(*, total: int, page_fleet: int, small_fleet: int) -> None:
    org = _org("Bench Energi")
    root = Group.objects.create(organisation=org, name="Bench")
    fleet = Group.objects.create(organisation=org, parent=root, name="Fleet")
    rest = Group.objects.create(organisation=org, parent=root, name="Rest")
    _admin(ADMIN, fleet)
    groups = [
        Group.objects.create(organisation=org, parent=fleet, name=f"Site {index + 1:02d}")
        for index in range(max(1, -(-page_fleet // SUBGROUP)))
    ]
    rows = []
    for number in range(1, total + 1):
        group = groups[(number - 1) // SUBGROUP] if number <= page_fleet else rest
        rows.append(_charger(charge_point_id(number), f"Bench charger {number:05d}", group))
    Charger.objects.bulk_create(rows, batch_size=2000)

    small_org = _org("Bench Small")
    small = Group.objects.create(organisation=small_org, name="Small")
    _admin(SMALL_ADMIN, small)
    Charger.objects.bulk_create(
        _charger(f"BENCH-S{number:04d}", f"Small charger {number:04d}", small)
        for number in range(1, small_fleet + 1)
    )
    settle_database()


def root_admin():
    """A super-admin of the whole "Bench" tree: every charger of the big fleet."""
    user, created = get_user_model().objects.get_or_create(username=ROOT_ADMIN)
    if created:
        root = Group.objects.get(name="Bench", parent=None)
        Membership.objects.create(user=user, group=root, role=Membership.Role.SUPER_ADMIN)
    return user


def _charger(cp_id: str, name: str, group: Group) -> Charger:
    return Charger(
        charge_point_id=cp_id,
        name=name,
        group=group,
        vendor="Wallbox",
        model="Pulsar Plus",
        serial_number=f"SN-{cp_id}",
        firmware_version="6.4.12",
        ocpp_version="1.6",
        supports_remote_restart=True,
    )


def reset_state(redis_url: str) -> None:
    """Every charger offline and never seen, no restarts under way (an earlier scenario's
    jobs would hold their groups' wave slots), no routes or queued commands in Redis."""
    RestartRequest.objects.filter(jobs__state__in=RestartJob.State.unfinished()).delete()
    Charger.objects.update(
        is_connected=False,
        connected_at=None,
        disconnected_at=None,
        last_seen_at=None,
        last_boot_at=None,
        last_status="",
        last_status_at=None,
        session_active=False,
        connection_token="",
    )
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter("ocpp:*", count=1000):
            client.delete(key)
    finally:
        client.close()
    settle_database()


def settle_database() -> None:
    """VACUUM (ANALYZE) the benchmark database, as autovacuum does on its own.

    Some machines run PostgreSQL with autovacuum off (this one does): there every
    scenario's updates of all chargers piled up dead rows and the planner never had
    statistics, so a later scenario's queries scanned a bloated table on guesses (one
    query of the OKAY POST took 0.44 s of its 0.63 s). A served database is vacuumed and
    analysed by autovacuum; the scenarios measure the portal on one, not on that debris.
    """
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def show_page_fleet() -> None:
    """The page fleet as an operator would see it: mostly online, a mix of statuses."""
    now = timezone.now()
    statuses = ["Available", "Available", "Charging", "Preparing", "Faulted"]
    for index, status in enumerate(statuses):
        Charger.objects.annotate(slot=Mod("id", len(statuses))).filter(
            charge_point_id__startswith=PREFIX, slot=index
        ).update(
            is_connected=status != "Faulted",
            connected_at=now,
            last_seen_at=now,
            last_boot_at=now,
            last_status=status,
            last_status_at=now,
        )


def restarting(count: int, *, small_share: float) -> None:
    """`count` of the page fleet (and `small_share` of the small fleet) restarting right now."""
    now = timezone.now()
    users = get_user_model().objects
    for username, chargers in (
        (ADMIN, Charger.objects.filter(group__name__startswith="Site").order_by("pk")[:count]),
        (SMALL_ADMIN, Charger.objects.filter(group__name="Small").order_by("pk")),
    ):
        chargers = list(chargers)
        if username == SMALL_ADMIN:
            chargers = chargers[: max(1, round(len(chargers) * small_share))]
        user = users.get(username=username)
        request = RestartRequest.objects.create(
            requested_by=user,
            requested_by_name=username,
            source=RestartRequest.Source.WEB,
            mode=RestartRequest.Mode.DEFAULT,
            asked_ids=[c.pk for c in chargers],
        )
        RestartJob.objects.bulk_create(
            RestartJob(
                request=request,
                charger=charger,
                state=RestartJob.State.ACCEPTED if index % 2 else RestartJob.State.SENT,
                reset_type="Soft",
                created_at=now,
                released_at=now,
                sent_at=now,
                accepted_at=now if index % 2 else None,
            )
            for index, charger in enumerate(chargers)
        )
