"""A small fleet with one charger of every kind the restart rules care about."""

from __future__ import annotations

from dataclasses import dataclass

from chargers.models import Charger
from tenancy.models import Group, Membership, Organisation
from tests.factories import make_charger, make_group, make_member, make_org


@dataclass
class Fleet:
    org: Organisation
    basic_org: Organisation
    root: Group
    site: Group
    other_site: Group
    basic_site: Group
    foreign_site: Group
    admin: object  # admin of `site` only
    super_admin: object  # super-admin of `root`
    plain: object  # plain user of `site`
    basic_admin: object  # admin of `basic_site` (Basic subscription)
    ready: list[Charger]  # connected, restartable, idle, in `site`
    charging: Charger  # connected, restartable, a session running (1.6)
    offline: Charger
    legacy: Charger  # cannot be restarted remotely
    elsewhere: Charger  # in `other_site`: the admin of `site` cannot see it
    foreign: Charger  # another organisation entirely
    basic: list[Charger]


def make_fleet() -> Fleet:
    org = make_org("Nordlys", plan="business")
    basic_org = make_org("Basis", plan="basic")
    foreign_org = make_org("Fremmed", plan="business")
    root = make_group(org, name="Nordlys")
    site = make_group(parent=root, name="P-hus Syd")
    other_site = make_group(parent=root, name="Havnen")
    basic_site = make_group(basic_org, name="Odense")
    foreign_site = make_group(foreign_org, name="Fremmed site")
    return Fleet(
        org=org,
        basic_org=basic_org,
        root=root,
        site=site,
        other_site=other_site,
        basic_site=basic_site,
        foreign_site=foreign_site,
        admin=make_member(site, Membership.Role.ADMIN, username="site-admin"),
        super_admin=make_member(root, Membership.Role.SUPER_ADMIN, username="super"),
        plain=make_member(site, Membership.Role.USER, username="plain"),
        basic_admin=make_member(basic_site, Membership.Role.ADMIN, username="basic-admin"),
        ready=[make_charger(site, name=f"Syd {i:02d}") for i in range(1, 4)],
        charging=make_charger(site, name="Syd lader", session_active=True),
        offline=make_charger(site, name="Syd offline", is_connected=False),
        legacy=make_charger(site, name="Syd legacy", supports_remote_restart=False),
        elsewhere=make_charger(other_site, name="Havnen 01"),
        foreign=make_charger(foreign_site, name="Fremmed 01"),
        basic=[make_charger(basic_site, name=f"Odense {i:02d}") for i in range(1, 3)],
    )
