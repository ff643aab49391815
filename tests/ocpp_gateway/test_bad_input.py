"""Bad frames get the right CallError (or a clean close) and nothing else is affected."""

import json
import logging

import pytest
from ocpp.v16 import call as call16
from websockets.asyncio.client import connect

from chargers.models import Charger
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import open_client, ws_url

HEARTBEAT = json.dumps([2, "hb-1", "Heartbeat", {}])


async def exchange(ws, frame):
    await ws.send(frame)
    return json.loads(await ws.recv())


@pytest.fixture
def bystander(gateway, runner):
    """Another charger on the same gateway that must not notice anything."""
    make_charger(charge_point_id="CP-BYSTANDER", is_connected=False)
    cp, ws, _ = runner.run(open_client(ws_url(gateway), "CP-BYSTANDER", "1.6"))
    yield cp
    runner.run(ws.close())


def still_fine(runner, bystander):
    assert runner.run(bystander.call(call16.Heartbeat())).current_time


CASES_16 = [
    ("not json", "this is {not json", "-1", "FormationViolation"),
    ("json, not a list", '{"hello": 1}', "-1", "FormationViolation"),
    ("list too short", "[2]", "-1", "FormationViolation"),
    ("bad message type", '[7, "m-7", "Heartbeat", {}]', "m-7", "ProtocolError"),
    ("call with no payload", '[2, "m-2", "Heartbeat"]', "m-2", "FormationViolation"),
    ("unknown action", '[2, "m-3", "MakeCoffee", {}]', "m-3", "NotSupported"),
    ("action not for us", '[2, "m-4", "GetConfiguration", {}]', "m-4", "NotImplemented"),
    (
        "schema: wrong type",
        '[2, "m-5", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "M"}]',
        "m-5",
        "TypeConstraintViolation",
    ),
    (
        "schema: extra field",
        '[2, "m-6", "Heartbeat", {"surprise": true}]',
        "m-6",
        "FormationViolation",
    ),
    (
        "schema: required missing",
        '[2, "m-8", "StatusNotification", {"connectorId": 1}]',
        "m-8",
        "ProtocolError",
    ),
]


@pytest.mark.parametrize(
    ("case", "frame", "message_id", "code"), CASES_16, ids=[c[0] for c in CASES_16]
)
def test_ocpp16_bad_frames_get_the_right_call_error(
    gateway, runner, bystander, case, frame, message_id, code
):
    make_charger(charge_point_id="CP-BAD16", is_connected=False)

    async def scenario():
        async with connect(ws_url(gateway, "CP-BAD16"), subprotocols=["ocpp1.6"]) as ws:
            error = await exchange(ws, frame)
            after = await exchange(ws, HEARTBEAT)  # the connection goes on
            return error, after

    error, after = runner.run(scenario())
    assert error[:3] == [4, message_id, code]
    assert after[:2] == [3, "hb-1"] and "currentTime" in after[2]
    still_fine(runner, bystander)


CASES_201 = [
    ("not json", "\x00\x01garbage", "-1", "RpcFrameworkError"),
    ("bad message type", '[9, "m-9", "Heartbeat", {}]', "m-9", "MessageTypeNotSupported"),
    ("unknown action", '[2, "m-3", "MakeCoffee", {}]', "m-3", "NotSupported"),
    (
        "schema: bad enum",
        '[2, "m-5", "BootNotification", {"reason": "Bored", '
        '"chargingStation": {"model": "M", "vendorName": "V"}}]',
        "m-5",
        "FormatViolation",
    ),
]


@pytest.mark.parametrize(
    ("case", "frame", "message_id", "code"), CASES_201, ids=[c[0] for c in CASES_201]
)
def test_ocpp201_bad_frames_get_the_right_call_error(
    gateway, runner, bystander, case, frame, message_id, code
):
    make_charger(charge_point_id="CP-BAD201", is_connected=False)

    async def scenario():
        async with connect(ws_url(gateway, "CP-BAD201"), subprotocols=["ocpp2.0.1"]) as ws:
            error = await exchange(ws, frame)
            after = await exchange(ws, HEARTBEAT)
            return error, after

    error, after = runner.run(scenario())
    assert error[:3] == [4, message_id, code]
    assert after[:2] == [3, "hb-1"]
    still_fine(runner, bystander)


def test_an_answer_nobody_asked_for_is_dropped(gateway, runner, bystander):
    make_charger(charge_point_id="CP-STRAY", is_connected=False)

    async def scenario():
        async with connect(ws_url(gateway, "CP-STRAY"), subprotocols=["ocpp1.6"]) as ws:
            await ws.send(json.dumps([3, "never-asked", {"status": "Accepted"}]))
            await ws.send(json.dumps([4, "never-asked-2", "GenericError", "", {}]))
            return await exchange(ws, HEARTBEAT)

    assert runner.run(scenario())[:2] == [3, "hb-1"]
    still_fine(runner, bystander)


def test_an_oversized_frame_closes_that_socket_cleanly(make_gateway, runner):
    gateway = make_gateway(max_frame_bytes=1024)
    make_charger(charge_point_id="CP-BIG", is_connected=False)
    make_charger(charge_point_id="CP-SMALL", is_connected=False)
    cp, small_ws, _ = runner.run(open_client(ws_url(gateway), "CP-SMALL", "1.6"))

    async def scenario():
        ws = await connect(ws_url(gateway, "CP-BIG"), subprotocols=["ocpp1.6"], max_size=None)
        huge = json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 5000}])
        await ws.send(huge)
        await ws.wait_closed()
        return ws.close_code, ws.close_reason

    code, reason = runner.run(scenario())
    assert code == 1009 and reason
    wait_for(lambda: Charger.objects.get(charge_point_id="CP-BIG").disconnected_at)
    assert runner.run(cp.call(call16.Heartbeat())).current_time
    assert Charger.objects.get(charge_point_id="CP-SMALL").is_connected
    runner.run(small_ws.close())


def test_an_answer_to_a_charger_that_closed_its_socket_is_one_info_line(
    make_gateway, runner, caplog
):
    """A charger that hangs up right after its BootNotification costs one INFO line."""
    caplog.set_level(logging.INFO, logger="ocpp_gateway")
    gateway = make_gateway()
    make_charger(charge_point_id="CP-HANGUP", is_connected=False)
    boot = json.dumps(
        [2, "boot-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    )

    async def boot_and_hang_up():
        ws = await connect(ws_url(gateway, "CP-HANGUP"), subprotocols=["ocpp1.6"])
        await ws.send(boot)
        await ws.close()

    runner.run(boot_and_hang_up())
    wait_for(
        lambda: any(
            "before our answer to BootNotification" in r.getMessage() for r in caplog.records
        ),
        10,
        message="the INFO line about the answer that could not leave",
    )
    line = [r for r in caplog.records if "before our answer" in r.getMessage()]
    assert [r.levelno for r in line] == [logging.INFO]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
