"""Generated frames thrown at a live gateway (hypothesis): it answers or closes, never falls over.

Every frame goes over a real socket to one in-process gateway that lives for the whole
test. After each frame the test sends a Heartbeat probe on the same socket. The frame
must have been answered with exactly one CallError or CallResult (none for a stray
CallResult/CallError, which the gateway drops), or the socket closed with a close
code and a reason. Afterwards the gateway still serves: a bystander charger on
another socket gets its Heartbeat answered and a command still reaches it, and the
gateway never logged "could not handle a frame" (a frame that escaped the handlers).

Example counts are small on purpose: this runs in `make test`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.v16 import call as call16
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ocpp_gateway import commands
from tests.factories import make_charger
from tests.ocpp_gateway.conftest import open_client, ws_url

MAX_FRAME = 8 * 1024
VERSIONS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
ERROR_CODES = {
    "1.6": {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    },
    "2.0.1": {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    },
}
ACTIONS = [
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "MeterValues",
    "DataTransfer",
    "TransactionEvent",
    "NotifyReport",
    "Reset",
    "MakeCoffee",
]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- what we throw ----------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
ids = st.one_of(st.text(max_size=40), json_values)
payloads = st.one_of(
    st.dictionaries(
        st.sampled_from(
            [
                "chargePointVendor",
                "chargePointModel",
                "connectorId",
                "status",
                "errorCode",
                "idTag",
                "reason",
                "chargingStation",
                "vendorId",
                "data",
                "type",
                "eventType",
            ]
        )
        | st.text(max_size=10),
        json_values,
        max_size=6,
    ),
    json_values,
)
ocpp_shaped = st.builds(
    lambda kind, mid, action, payload, extra: json.dumps([kind, mid, action, payload, *extra]),
    st.sampled_from([2, 3, 4]) | st.integers(-5, 10) | json_values,
    ids,
    st.sampled_from(ACTIONS) | st.text(max_size=20) | json_values,
    payloads,
    st.lists(json_values, max_size=2),
)
truncated = ocpp_shaped.flatmap(
    lambda frame: st.integers(0, max(len(frame) - 1, 0)).map(lambda n: frame[:n])
)
random_json = json_values.map(json.dumps)
random_text = st.text(max_size=200)
huge_strings = st.integers(100, 3 * MAX_FRAME).map(
    lambda n: json.dumps([2, "huge", "DataTransfer", {"vendorId": "x" * n, "data": "y" * n}])
)
deep_nesting = st.tuples(st.integers(1, 4000), st.sampled_from(["[", "{"])).map(
    lambda t: json.dumps([2, "deep", "DataTransfer", {"vendorId": "v", "data": None}]).replace(
        "null", "[" * t[0] + "]" * t[0] if t[1] == "[" else '{"a":' * t[0] + "1" + "}" * t[0]
    )
)
binary = st.binary(max_size=200)  # a binary frame: bytes, most of them not UTF-8
invalid_utf8_text = st.binary(min_size=1, max_size=50).filter(lambda b: not _ok(b))


def _ok(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def expected_answers(frame) -> int | None:
    """How many answers the frame must get: 0 for a stray CallResult/CallError, else 1.

    None when the frame must close the socket (over the size limit, or a text frame
    that is not UTF-8), and the probe cannot be answered.
    """
    if isinstance(frame, tuple):  # ("text", bytes): invalid UTF-8 in a text frame
        return None
    size = len(frame.encode() if isinstance(frame, str) else frame)
    if size > MAX_FRAME:
        return None
    try:
        # As the gateway reads it: a binary frame must be UTF-8 too.
        msg = json.loads(frame.decode("utf-8") if isinstance(frame, bytes) else frame)
    except (ValueError, RecursionError):
        return 1
    if isinstance(msg, list) and len(msg) >= 3 and type(msg[0]) is int and msg[0] in (3, 4):
        return 0 if isinstance(msg[1], str) else 1
    return 1


# -- how we throw it --------------------------------------------------------------------
async def throw(port: int, charge_point_id: str, version: str, frame):
    probe = f"probe-{uuid.uuid4().hex}"
    async with connect(
        ws_url(port, charge_point_id),
        subprotocols=[VERSIONS[version]],
        max_size=None,
        close_timeout=2,
    ) as ws:
        try:
            if isinstance(frame, tuple):
                await ws.send(frame[1], text=True)
            else:
                await ws.send(frame)
            await ws.send(json.dumps([2, probe, "Heartbeat", {}]))
            answers = []
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if msg[1] == probe:
                    assert msg[0] == 3 and "currentTime" in msg[2], msg
                    return "answered", answers
                answers.append(msg)
        except ConnectionClosed:
            await ws.wait_closed()
            return "closed", (ws.close_code, ws.close_reason)


def check_outcome(version, frame, outcome):
    kind, detail = outcome
    expected = expected_answers(frame)
    if expected is None:
        assert kind == "closed", f"the socket should have been closed for {frame!r:.200}"
    if kind == "closed":
        code, reason = detail
        assert expected is None, f"closed ({code} {reason}) for a frame it should answer"
        assert code in (1007, 1009), (code, reason)
        assert reason, "closed without a reason"
        return
    assert len(detail) == expected, f"{frame!r:.200} got {detail!r:.300}"
    for answer in detail:
        assert isinstance(answer, list) and answer[0] in (3, 4), answer
        if answer[0] == 4:
            assert len(answer) == 5, answer
            _, message_id, code, description, details = answer
            assert isinstance(message_id, str)
            assert code in ERROR_CODES[version], code
            assert isinstance(description, str) and isinstance(details, dict)


@pytest.fixture
def target(make_gateway, runner, caplog):
    caplog.set_level(logging.WARNING, logger="ocpp_gateway")
    gateway = make_gateway(max_frame_bytes=MAX_FRAME)
    make_charger(charge_point_id="CP-FUZZ16", is_connected=False)
    make_charger(charge_point_id="CP-FUZZ201", is_connected=False, ocpp_version="2.0.1")
    make_charger(charge_point_id="CP-BYSTANDER", is_connected=False)
    bystander, bystander_ws, _ = runner.run(open_client(ws_url(gateway), "CP-BYSTANDER"))
    yield gateway
    # The gateway survived all of it: it serves, and the bystander never noticed.
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/healthz", timeout=5) as r:
        assert r.status == 200
    assert runner.run(bystander.call(call16.Heartbeat())).current_time
    assert bystander_ws.close_code is None
    triggered = commands.trigger_boot_notification("CP-BYSTANDER", timeout=10)
    assert triggered.ok and triggered.status == "Accepted"
    assert bystander.received == [("TriggerMessage", {"requested_message": "BootNotification"})]
    escaped = [r for r in caplog.records if "could not handle a frame" in r.getMessage()]
    assert not escaped, escaped[0].getMessage()
    runner.run(bystander_ws.close())


def fuzz(runner, gateway, version, frame):
    cp_id = "CP-FUZZ16" if version == "1.6" else "CP-FUZZ201"
    outcome = runner.run(throw(gateway.port, cp_id, version, frame), timeout=30)
    check_outcome(version, frame, outcome)


versions = st.sampled_from(list(VERSIONS))


@FUZZ
@given(version=versions, frame=st.one_of(ocpp_shaped, truncated, random_json, random_text))
def test_generated_json_and_ocpp_shaped_frames_are_answered(target, runner, version, frame):
    fuzz(runner, target, version, frame)


@settings(FUZZ, max_examples=25)
@given(version=versions, frame=st.one_of(huge_strings, deep_nesting))
def test_huge_and_deeply_nested_frames_are_answered_or_closed(target, runner, version, frame):
    fuzz(runner, target, version, frame)


@settings(FUZZ, max_examples=20)
@given(version=versions, frame=st.one_of(binary, invalid_utf8_text.map(lambda b: ("text", b))))
def test_binary_frames_and_invalid_utf8_are_answered_or_closed(target, runner, version, frame):
    fuzz(runner, target, version, frame)


def test_a_flood_of_frames_is_answered_in_order_and_others_keep_working(target, runner):
    """2,000 frames without waiting: each gets its answer, in order; the bystander is fine."""
    count = 2000

    async def flood():
        async with connect(ws_url(target, "CP-FUZZ16"), subprotocols=["ocpp1.6"]) as ws:

            async def send_all():
                for i in range(count):
                    frame = [2, f"f-{i}", "Heartbeat", {}] if i % 2 else [2, f"f-{i}", "Nope", {}]
                    await ws.send(json.dumps(frame))

            sender = asyncio.create_task(send_all())
            answers = [json.loads(await asyncio.wait_for(ws.recv(), 15)) for _ in range(count)]
            await sender
            return answers

    answers = runner.run(flood(), timeout=120)
    assert [a[1] for a in answers] == [f"f-{i}" for i in range(count)]
    assert all(a[0] == 3 for a in answers[1::2])
    assert all(a[:3] == [4, a[1], "NotSupported"] for a in answers[0::2])
