"""OCPP statuses in the user's language, from one table (chargers/statuses.py)."""

import re

import pytest
from ocpp.v16.enums import ChargePointStatus
from ocpp.v201.enums import ChargingStateEnumType, ConnectorStatusEnumType

from chargers.models import Charger
from chargers.statuses import COLOURS, OCPP_STATUSES, status_of
from tests.api.conftest import bearer
from tests.factories import make_charger

ALL_SENT = (
    {s.value for s in ChargePointStatus}
    | {s.value for s in ConnectorStatusEnumType}
    | {s.value for s in ChargingStateEnumType}
)
DANISH = {
    "Available": "Ledig",
    "Occupied": "Optaget",
    "Faulted": "Fejl",
    "SuspendedEV": "Venter på bilen",
    "EVConnected": "Bil tilsluttet",
}


def status_cell(body: str, charger: Charger) -> str:
    row = re.search(rf'<tr data-charger-id="{charger.pk}"(.*?)</tr>', body, re.S).group(1)
    return re.search(r'<span class="status [^"]*" data-ocpp-status="[^"]*">[^<]*</span>', row)[0]


def test_every_status_both_versions_can_send_has_a_label_and_colour():
    assert set(OCPP_STATUSES) == ALL_SENT, "a status the ocpp library knows is missing here"
    for value, status in OCPP_STATUSES.items():
        assert status.value == value and status.colour in COLOURS
        assert str(status.label) and status.versions and status.scopes


@pytest.mark.parametrize("value", sorted(ALL_SENT))
def test_every_status_has_its_own_danish_label(value):
    from django.utils import translation

    with translation.override("da"):
        danish = str(OCPP_STATUSES[value].label)
    with translation.override("en"):
        english = str(OCPP_STATUSES[value].label)
    assert danish and english
    if value in DANISH:
        assert danish == DANISH[value]
    assert danish != value, "the Danish page would show the raw OCPP word"


def test_rows_and_charger_page_show_the_danish_label_and_keep_the_raw_value(client, fleet):
    occupied, faulted = fleet.ready[0], fleet.ready[1]
    Charger.objects.filter(pk=occupied.pk).update(last_status="Occupied")
    Charger.objects.filter(pk=faulted.pk).update(last_status="Faulted")
    client.force_login(fleet.admin)
    body = client.get("/chargers/").content.decode()
    assert status_cell(body, occupied) == (
        '<span class="status status-busy" data-ocpp-status="Occupied">Optaget</span>'
    )
    assert status_cell(body, faulted) == (
        '<span class="status status-bad" data-ocpp-status="Faulted">Fejl</span>'
    )
    assert ">Occupied<" not in body and ">Available<" not in body

    page = client.get(f"/chargers/{faulted.pk}/").content.decode()
    assert '<span class="status status-bad" data-ocpp-status="Faulted">Fejl</span>' in page

    client.post("/i18n/setlang/", {"language": "en", "next": "/chargers/"})
    english = client.get("/chargers/").content.decode()
    assert status_cell(english, occupied).endswith(">Occupied</span>")


def test_unknown_status_is_shown_raw_in_a_neutral_colour(client, fleet):
    assert status_of("BrandNewStatus").label == "BrandNewStatus"
    assert status_of("BrandNewStatus").colour == "idle"
    odd = fleet.ready[0]
    Charger.objects.filter(pk=odd.pk).update(last_status="<b>Odd</b>")
    client.force_login(fleet.admin)
    body = client.get("/chargers/").content.decode()
    assert status_cell(body, odd) == (
        '<span class="status status-idle" data-ocpp-status="&lt;b&gt;Odd&lt;/b&gt;">'
        "&lt;b&gt;Odd&lt;/b&gt;</span>"
    )


def test_ocpp_status_filter_offers_labels_and_filters_by_raw_value(client, fleet):
    Charger.objects.filter(pk__in=[c.pk for c in fleet.ready]).update(last_status="Available")
    occupied = fleet.ready[0]
    Charger.objects.filter(pk=occupied.pk).update(last_status="Occupied")
    client.force_login(fleet.admin)
    page = client.get("/chargers/").content.decode()
    select = re.search(
        r'<select id="filter-ocpp-status" name="ocpp_status">(.*?)</select>', page, re.S
    )
    options = dict(re.findall(r'<option value="([^"]*)"\s*>([^<]*)</option>', select.group(1)))
    assert (
        options["Occupied"] == "Optaget" and options["SuspendedEVSE"] == "Sat på pause af laderen"
    )
    assert set(options) == {""} | ALL_SENT
    assert '<label for="filter-ocpp-status">OCPP-status</label>' in page

    body = client.get("/chargers/", {"ocpp_status": "Occupied"}).content.decode()
    ids = {int(pk) for pk in re.findall(r'<tr data-charger-id="(\d+)"', body)}
    assert ids == {occupied.pk}
    # The page's own "faulted" filter says it in the table's word.
    assert re.search(r'<option value="faulted"\s*>Fejl</option>', page)


def test_api_gives_raw_status_and_text_in_the_callers_language(client, db):
    from tenancy.models import Membership
    from tests.factories import make_group, make_member

    group = make_group()
    admin = make_member(group, Membership.Role.ADMIN, username="statusapi")
    suspended = make_charger(group, name="Paused one", last_status="SuspendedEVSE")
    make_charger(group, name="Ready one", last_status="Available")

    url = "/api/v1/chargers"
    danish = client.get(url, {"ocpp_status": "SuspendedEVSE"}, **bearer(admin)).json()
    (item,) = danish["items"]
    assert item["id"] == suspended.pk
    assert (item["ocpp_status"], item["ocpp_status_text"]) == (
        "SuspendedEVSE",
        "Sat på pause af laderen",
    )
    english = client.get(
        url, {"ocpp_status": "SuspendedEVSE"}, HTTP_ACCEPT_LANGUAGE="en", **bearer(admin)
    ).json()
    assert english["items"][0]["ocpp_status_text"] == "Paused by the charger"
    assert client.get(url, {"ocpp_status": "Sleeping"}, **bearer(admin)).status_code == 422
