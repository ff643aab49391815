"""Selvhelbredelse under a group: the policy form (super-admins), what it read and did,
the charger page's notice, and the API's GET/PUT, on the same rules."""

from __future__ import annotations

from datetime import time

import pytest
from django.urls import reverse
from django.utils import timezone

from restarts.healing.models import HealingCase, HealingPolicy
from restarts.healing.policy import effective_policy, healing_policy_set
from tenancy.models import AuditEvent, Group
from tests.factories import make_charger

pytestmark = pytest.mark.django_db

ON = {
    "enabled": True,
    "faulted_minutes": 15,
    "unresponsive": True,
    "max_per_charger_day": 2,
    "max_per_group_hour": 5,
}


def url(group):
    return reverse("healing:group", kwargs={"pk": group.pk})


def test_a_super_admin_turns_self_healing_on_and_sub_groups_follow(client, fleet):
    client.force_login(fleet.super_admin)
    page = client.get(url(fleet.root))
    assert page.status_code == 200 and "Selvhelbredelse" in page.content.decode()
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()

    response = client.post(url(fleet.root), ON)

    assert response.status_code == 302
    assert HealingPolicy.objects.get(group=fleet.root).as_dict() == ON
    site = effective_policy(fleet.site)
    assert site.enabled and site.inherited and site.owner == fleet.root
    event = AuditEvent.objects.get(action="self_healing.changed")
    assert event.before is None and event.after == ON and event.actor == fleet.super_admin


def test_a_sub_group_overrides_and_then_follows_again(client, fleet):
    healing_policy_set(actor=fleet.super_admin, group=fleet.root, values=ON)
    client.force_login(fleet.super_admin)

    client.post(url(fleet.site), {**ON, "enabled": ""})
    assert not effective_policy(fleet.site).enabled
    assert effective_policy(fleet.other_site).enabled

    client.post(url(fleet.site), {**ON, "follow_parent": "on"})
    assert effective_policy(fleet.site).enabled and effective_policy(fleet.site).inherited
    assert not HealingPolicy.objects.filter(group=fleet.site).exists()


def test_bad_values_are_form_errors_and_nothing_is_saved(client, fleet):
    client.force_login(fleet.super_admin)
    response = client.post(url(fleet.root), {**ON, "faulted_minutes": "0"})
    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert not HealingPolicy.objects.exists()


def test_an_admin_reads_the_policy_but_cannot_change_it(client, fleet):
    healing_policy_set(actor=fleet.super_admin, group=fleet.root, values=ON)
    client.force_login(fleet.admin)
    page = client.get(url(fleet.site))
    assert page.status_code == 200
    assert "<form" not in page.content.decode().split('id="policy"')[1].split("</section>")[0]
    assert client.post(url(fleet.site), {**ON, "enabled": ""}).status_code == 403
    assert effective_policy(fleet.site).enabled
    client.force_login(fleet.plain)
    assert client.get(url(fleet.site)).status_code == 403
    client.force_login(fleet.basic_admin)
    assert client.get(url(fleet.site)).status_code == 404


def test_the_page_shows_what_it_acted_on_gave_up_on_and_success_rates(client, fleet):
    healing_policy_set(actor=fleet.super_admin, group=fleet.root, values=ON)
    now = timezone.now()
    healed = make_charger(fleet.site, name="Rask", model="Pulsar Plus")
    stuck = make_charger(fleet.site, name="Fast", model="Pulsar Plus")
    for charger, outcome in ((healed, "healed"), (stuck, "gave_up")):
        HealingCase.objects.create(
            charger=charger,
            policy_group=fleet.root,
            rule="faulted",
            step="hard",
            outcome=outcome,
            closed_at=now,
            model="Pulsar Plus",
            firmware_version="6.4.12",
            attempts=[
                {"step": "soft", "at": now.isoformat(), "state": "rejected", "text": "Afvist"}
            ],
        )
    client.force_login(fleet.admin)
    body = client.get(url(fleet.site)).content.decode()
    gave_up = body.split('id="gave-up"')[1].split("</section>")[0]
    assert "Fast" in gave_up and "Rask" not in gave_up
    acted = body.split('id="acted-on"')[1].split("</section>")[0]
    assert "Fast" in acted and "Rask" in acted
    rates = body.split('id="rates"')[1].split("</section>")[0]
    assert "Pulsar Plus" in rates and "6.4.12" in rates and "50 %" in rates
    # The charger page says the same for the one it gave up on.
    charger_page = client.get(reverse("chargers:detail", kwargs={"pk": stuck.pk})).content
    assert "Selvhelbredelse kunne ikke helbrede" in charger_page.decode()
    assert "Afvist" in charger_page.decode()
    healthy_page = client.get(reverse("chargers:detail", kwargs={"pk": healed.pk})).content
    assert 'id="self-healing"' not in healthy_page.decode()


def api(group):
    return f"/api/v1/groups/{group.pk}/self-healing"


def test_the_api_reads_and_sets_the_policy_like_the_page(client, fleet):
    client.force_login(fleet.super_admin)
    assert client.get(api(fleet.site)).json()["enabled"] is False

    answer = client.put(api(fleet.root), ON, content_type="application/json")

    assert answer.status_code == 200 and answer.json()["enabled"] is True
    site = client.get(api(fleet.site)).json()
    assert site["inherited"] is True and site["policy_group"] == fleet.root.pk
    assert site["max_per_group_hour"] == 5
    bad = client.put(api(fleet.root), {**ON, "faulted_minutes": 0}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    top = client.put(
        api(fleet.root), {**ON, "follow_parent": True}, content_type="application/json"
    )
    assert top.status_code == 422 and top.json()["code"] == "no_parent"
    follow = client.put(
        api(fleet.site), {**ON, "follow_parent": True}, content_type="application/json"
    )
    assert follow.json()["inherited"] is True


def test_the_api_refuses_admins_a_change_and_strangers_the_group(client, fleet):
    client.force_login(fleet.admin)
    assert client.get(api(fleet.site)).status_code == 200
    refused = client.put(api(fleet.site), ON, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    client.force_login(fleet.basic_admin)
    assert client.get(api(fleet.site)).status_code == 404
    assert not HealingPolicy.objects.exists()


def test_the_page_names_the_maintenance_window_self_healing_keeps_to(client, fleet):
    client.force_login(fleet.admin)
    assert "Intet servicevindue" in client.get(url(fleet.site)).content.decode()
    Group.objects.filter(pk=fleet.root.pk).update(
        maintenance_start=time(1, 0), maintenance_end=time(5, 0)
    )
    page = client.get(url(fleet.site)).content.decode()
    assert "Servicevindue 01:00–05:00 (Europe/Copenhagen): uden for det venter" in page
    assert "maintenance-window/" not in page  # an admin cannot change it
    client.force_login(fleet.super_admin)
    page = client.get(url(fleet.site)).content.decode()
    assert f'href="/groups/{fleet.site.pk}/maintenance-window/"' in page
