"""The worker<->gateway message: its wire format stays readable across a deploy."""

import json
import time

import pytest

from ocpp_gateway import channel, commands
from ocpp_gateway.channel import CallResult
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url


def test_a_call_request_keeps_the_keys_every_gateway_version_reads():
    raw = channel.call_request("b.0", "CP-1", "Reset", {"type": "Soft"}, 1234.5, "r").encode()
    assert json.loads(raw) == {
        "kind": "call",
        "id": "b.0",
        "cp": "CP-1",
        "action": "Reset",
        "payload": {"type": "Soft"},
        "deadline": 1234.5,
        "reply": "r",
    }
    assert channel.decode_request(raw) == channel.CallRequest(
        "b.0", "CP-1", "Reset", {"type": "Soft"}, 1234.5, "r"
    )
    evict = channel.Evict("CP-1", "tok").encode()
    assert json.loads(evict) == {"kind": "evict", "cp": "CP-1", "token": "tok"}
    assert channel.decode_request(evict) == channel.Evict("CP-1", "tok")
    weaker = channel.CloseWeaker("CP-1", 3).encode()
    assert json.loads(weaker) == {"kind": "close_weaker", "cp": "CP-1", "profile": 3}
    assert channel.decode_request(weaker) == channel.CloseWeaker("CP-1", 3)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", channel.UnreadableRequest),
        ('["kind"]', channel.UnreadableRequest),
        ('{"id": 1}', channel.UnreadableRequest),
        ('{"kind": "fly"}', channel.UnknownRequest),
        ('{"kind": "call", "id": 1}', channel.UnknownRequest),
    ],
)
def test_a_request_that_cannot_be_served_is_told_apart(raw, error):
    with pytest.raises(error):
        channel.decode_request(raw)


def test_a_reply_reads_the_same_with_or_without_the_gateways_stamps():
    stamped = CallResult("answered", "Accepted", {"status": "Accepted"}, "", 10.0, 10.5)
    request_id, result = channel.decode_reply(channel.encode_reply("b.3", stamped))
    assert (request_id, result) == ("b.3", stamped)
    # What a gateway of the previous version pushes: no stamps, only what it knew.
    old = json.dumps({"outcome": "not_connected", "detail": "gone", "id": "b.4"})
    assert channel.decode_reply(old) == ("b.4", CallResult("not_connected", detail="gone"))
    # Without stamps the reply has exactly the previous version's keys.
    plain = json.loads(channel.encode_reply("b.5", CallResult("timeout", detail="late")))
    assert set(plain) == {"id", "outcome", "status", "payload", "detail"}
    with pytest.raises(ValueError):
        channel.decode_reply("[1, 2]")


def test_the_gateway_stamps_when_it_wrote_the_call_and_when_the_answer_came(gateway, sims):
    make_charger(charge_point_id="CP-STAMP", is_connected=False)
    sim = sims.start("CP-STAMP", ws_url(gateway))
    wait_for(lambda: sim.stats.boots >= 1 and commands.is_connected(sim.id))
    before = time.time()
    result = commands.trigger_boot_notification("CP-STAMP", timeout=10)
    assert result.ok
    assert before <= result.sent_at <= result.answered_at <= time.time()
    assert commands.send_call("NO-SUCH-ID", "Heartbeat", {}, timeout=5).sent_at is None
