"""Charging sessions per connector (1.6) and EVSE (2.0.1), as the gateway records them."""

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargers import signals
from chargers.models import Charger
from ocpp_gateway import sessions
from ocpp_gateway.sessions import SessionBook
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url
from tests.ocpp_gateway.test_boot_and_presence import SignalLog

T0 = "2025-01-01T00:00:00Z"


def sessions_of(charge_point_id):
    charger = Charger.objects.get(charge_point_id=charge_point_id)
    return charger.sessions, charger.session_active


# ---- the rules, without a socket ---------------------------------------------------------


def test_the_operations_keep_one_entry_per_connector():
    s = sessions.apply({}, sessions.START, "1", "7")
    s = sessions.apply(s, sessions.START, "2", "8")
    assert s == {"1": "7", "2": "8"}
    assert sessions.apply(s, sessions.END, "", "7") == {"2": "8"}  # StopTransaction: by id
    assert sessions.apply(s, sessions.END, "2", "") == {"1": "7"}  # a status: by connector
    assert sessions.apply(s, sessions.SEEN, "1", "") == s  # a known session keeps its id
    assert sessions.apply({}, sessions.SEEN, "3", "") == {"3": ""}
    assert sessions.apply(s, sessions.CLEAR, "", "") == {}
    # A session from before per-connector sessions ("0") ends with any session end.
    assert sessions.apply({"0": ""}, sessions.END, "1", "") == {}


def test_a_socket_reports_only_changes():
    noted = []
    book = SessionBook(lambda *op: noted.append(op))
    book.status_16(1, "Charging")
    book.status_16(1, "Charging")  # the same again: nothing
    book.status_16(1, "Faulted")  # says nothing about a session
    book.started(1, 42)
    book.ended(transaction_id=42)
    book.status_16(1, "Finishing")  # already ended here
    book.status_16(0, "Charging")  # connector 0 is the charger: no session there
    book.transaction_event_201("Started", "T-9", None)
    book.transaction_event_201("Updated", "T-9", None)
    book.booted()
    assert noted == [
        ("seen", "1", ""),
        ("start", "1", "42"),
        ("end", "1", "42"),
        ("start", "tx:T-9", "T-9"),
        ("clear", "", ""),
    ]


# ---- through the gateway ------------------------------------------------------------------


def test_ocpp16_two_connectors_charge_and_end_apart(gateway, runner):
    charger = make_charger(charge_point_id="CP16-TWO", is_connected=False)
    log = SignalLog(signals.charger_session_changed)
    try:

        async def start_both():
            cp, ws, _ = await open_client(ws_url(gateway), "CP16-TWO", "1.6")
            await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            first = await cp.call(
                call16.StartTransaction(connector_id=1, id_tag="A", meter_start=0, timestamp=T0)
            )
            second = await cp.call(
                call16.StartTransaction(connector_id=2, id_tag="B", meter_start=0, timestamp=T0)
            )
            return cp, ws, first.transaction_id, second.transaction_id

        cp, ws, t1, t2 = runner.run(start_both())
        both = ({"1": str(t1), "2": str(t2)}, True)
        wait_for(lambda: sessions_of("CP16-TWO") == both, message="two sessions")

        runner.run(cp.call(call16.StopTransaction(meter_stop=5, timestamp=T0, transaction_id=t1)))
        wait_for(lambda: sessions_of("CP16-TWO") == ({"2": str(t2)}, True), message="one left")
        last = log.of(signals.charger_session_changed, charger.pk)[-1]
        assert (last["active"], last["connector"]) == (True, "1")  # not "session over"

        runner.run(cp.call(call16.StopTransaction(meter_stop=9, timestamp=T0, transaction_id=t2)))
        wait_for(lambda: sessions_of("CP16-TWO") == ({}, False), message="none left")
        last = log.of(signals.charger_session_changed, charger.pk)[-1]
        assert (last["active"], last["connector"]) == (False, "2")
        runner.run(ws.close())
    finally:
        log.close()


def test_a_charger_reporting_more_sessions_than_connectors_keeps_its_row_small(gateway, runner):
    make_charger(charge_point_id="CP16-MANY", is_connected=False)
    too_many = sessions.MAX_SESSIONS + 6

    async def flood():
        cp, ws, _ = await open_client(ws_url(gateway), "CP16-MANY", "1.6")
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        for connector_id in range(1, too_many + 1):
            await cp.call(
                call16.StatusNotification(
                    connector_id=connector_id, error_code="NoError", status="Charging"
                )
            )
        # Ending one makes room again: the next one is kept.
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        await cp.call(
            call16.StatusNotification(
                connector_id=too_many + 1, error_code="NoError", status="Charging"
            )
        )
        return ws

    ws = runner.run(flood())
    kept = {str(n): "" for n in range(2, sessions.MAX_SESSIONS + 1)} | {str(too_many + 1): ""}
    wait_for(lambda: sessions_of("CP16-MANY") == (kept, True), message="at most MAX_SESSIONS")
    runner.run(ws.close())


def test_ocpp16_a_charger_back_mid_session_is_known_by_its_status(gateway, runner):
    make_charger(charge_point_id="CP16-MID", is_connected=False)

    async def back():
        cp, ws, _ = await open_client(ws_url(gateway), "CP16-MID", "1.6")
        for connector_id, status in ((0, "Available"), (1, "Available"), (2, "SuspendedEV")):
            await cp.call(
                call16.StatusNotification(
                    connector_id=connector_id, error_code="NoError", status=status
                )
            )
        return cp, ws

    cp, ws = runner.run(back())
    wait_for(lambda: sessions_of("CP16-MID") == ({"2": ""}, True), message="session on 2")
    runner.run(
        cp.call(call16.StatusNotification(connector_id=2, error_code="NoError", status="Finishing"))
    )
    wait_for(lambda: sessions_of("CP16-MID") == ({}, False), message="ended by its status")
    runner.run(ws.close())


def test_a_boot_notification_clears_the_sessions(gateway, runner):
    make_charger(
        charge_point_id="CP16-REBOOT",
        is_connected=False,
        sessions={"1": "5", "2": ""},
        session_active=True,
    )

    async def boot():
        cp, ws, _ = await open_client(ws_url(gateway), "CP16-REBOOT", "1.6")
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        return ws

    ws = runner.run(boot())
    wait_for(lambda: sessions_of("CP16-REBOOT") == ({}, False), message="cleared by the boot")
    runner.run(ws.close())


def test_ocpp201_sessions_are_kept_per_evse(gateway, runner):
    make_charger(charge_point_id="CP201-TWO", is_connected=False, ocpp_version="2.0.1")

    def event(kind, tx, seq, evse=None):
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=T0,
            trigger_reason="Authorized" if kind == "Started" else "EVDeparted",
            seq_no=seq,
            transaction_info={"transaction_id": tx},
            **({"evse": {"id": evse, "connector_id": 1}} if evse else {}),
        )

    async def start_both():
        cp, ws, _ = await open_client(ws_url(gateway), "CP201-TWO", "2.0.1")
        await cp.call(event("Started", "TX-A", 1, evse=1))
        await cp.call(event("Started", "TX-B", 1, evse=2))
        await cp.call(event("Updated", "TX-A", 2))  # names no EVSE: still the one on 1
        return cp, ws

    cp, ws = runner.run(start_both())
    wait_for(lambda: sessions_of("CP201-TWO") == ({"1": "TX-A", "2": "TX-B"}, True))
    runner.run(cp.call(event("Ended", "TX-B", 2)))
    wait_for(lambda: sessions_of("CP201-TWO") == ({"1": "TX-A"}, True), message="A charges on")
    runner.run(cp.call(event("Ended", "TX-A", 3)))
    wait_for(lambda: sessions_of("CP201-TWO") == ({}, False), message="both over")
    runner.run(ws.close())


def test_the_charger_page_and_the_api_name_the_charging_connectors(client, db):
    from api import tokens
    from tenancy.models import Membership
    from tests.factories import make_group, make_member

    group = make_group()
    admin = make_member(group, Membership.Role.ADMIN)
    charger = make_charger(group, sessions={"2": "8", "1": "7"}, session_active=True)
    client.force_login(admin)
    assert "(lader på stik 1, 2)" in client.get(f"/chargers/{charger.pk}/").content.decode()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue_pair(admin).token}"}
    (item,) = client.get("/api/v1/chargers", **auth).json()["items"]
    assert (item["session_active"], item["charging_connectors"]) == (True, ["1", "2"])
