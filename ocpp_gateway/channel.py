"""The one message between a worker and a gateway, over Redis: requests and replies.

A worker (``commands.py``) pushes requests onto the list of the gateway that holds the
charger (``registry.requests_key``); the gateway (``command_loop.py``) pops them and pushes
one reply per call onto the list the request names. Both sides build and read those
messages here, and nowhere else. The JSON on the wire::

    call   {"kind": "call", "id", "cp", "action", "payload", "deadline", "reply"[, "registered"]}
    evict  {"kind": "evict", "cp", "token"}
    close_weaker {"kind": "close_weaker", "cp", "profile"}
    reply  {"id", "outcome", "status", "payload", "detail"[, "sent_at", "answered_at"]}

``deadline`` and the optional stamps are Unix times (seconds, float). ``registered``: true
asks the gateway to send the call only to a charger whose BootNotification it accepted on
its current socket (else the reply is ``not_registered`` and nothing is sent). A reader ignores
keys it does not know and defaults those it misses, so a worker and a gateway of
neighbouring versions understand each other during a deploy.

One call's outcome has one shape on the way back, ``CallResult``: the gateway's socket
code returns one, the reply carries it, the worker gets it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# What came of a call.
ANSWERED = "answered"  # the charger answered (status and payload say what)
NOT_CONNECTED = "not_connected"  # no socket to send it on: nothing was sent
TIMEOUT = "timeout"  # no answer by the deadline (sent or not: the detail says)
CALL_ERROR = "call_error"  # the charger answered with a CallError
ERROR = "error"  # refused before sending (invalid), or we cannot know what happened
# The command channel (Redis) failed before the request was queued: nothing can have
# been sent, so the caller may safely try again later.
NOT_SENT = "not_sent"
# Asked with `registered`: the charger has no accepted BootNotification on its current
# socket (it has not registered yet), so nothing was sent.
NOT_REGISTERED = "not_registered"

OUTCOMES = (ANSWERED, NOT_CONNECTED, TIMEOUT, CALL_ERROR, ERROR, NOT_SENT, NOT_REGISTERED)
# The charger's route names a gateway whose liveness is late (busy, not known dead):
# nothing was pushed. Commands report it as NOT_SENT with this word leading the detail
# (so older callers retry it); the restart flow lets such a job wait (restarts/waiting.py).
GATEWAY_LATE = "gateway_late"

CALL = "call"
EVICT = "evict"
CLOSE_WEAKER = "close_weaker"


@dataclass(frozen=True)
class CallResult:
    outcome: str  # one of OUTCOMES
    status: str | None = None  # the answer's status field when answered
    payload: dict | None = None  # the whole CallResult payload when answered
    detail: str = ""  # why, when not answered
    # Stamped by the gateway on its own clock (Unix seconds): when the call's frame
    # was written to the charger's socket, and when the charger's answer arrived.
    sent_at: float | None = None
    answered_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == ANSWERED

    def to_dict(self) -> dict:
        data = {
            "outcome": self.outcome,
            "status": self.status,
            "payload": self.payload,
            "detail": self.detail,
        }
        if self.sent_at is not None:
            data["sent_at"] = self.sent_at
        if self.answered_at is not None:
            data["answered_at"] = self.answered_at
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CallResult:
        return cls(
            outcome=str(data.get("outcome") or ERROR),
            status=data.get("status"),
            payload=data.get("payload"),
            detail=str(data.get("detail") or ""),
            sent_at=_stamp(data.get("sent_at")),
            answered_at=_stamp(data.get("answered_at")),
        )


def _stamp(value) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# -- requests ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallRequest:
    """Send `action` with `payload` to charger `cp`; reply to list `reply`, naming `id`.

    As read from the queue the fields are whatever the sender put there (the gateway
    checks them); as built by ``call_request`` they are what the names say.
    """

    id: object
    cp: object
    action: object
    payload: object
    deadline: object  # Unix time after which the call must not be sent
    reply: str
    # Send only to a charger registered on its current socket (older readers ignore it).
    registered: bool = False

    def encode(self) -> str:
        data = {
            "kind": CALL,
            "id": self.id,
            "cp": self.cp,
            "action": self.action,
            "payload": self.payload,
            "deadline": self.deadline,
            "reply": self.reply,
        }
        if self.registered:
            data["registered"] = True
        return json.dumps(data)


@dataclass(frozen=True)
class Evict:
    """Charger `cp` connected through another gateway with `token`: close its socket here."""

    cp: object
    token: object

    def encode(self) -> str:
        return json.dumps({"kind": EVICT, "cp": self.cp, "token": self.token})


@dataclass(frozen=True)
class CloseWeaker:
    """Charger `cp` must now prove security profile `profile`: close its socket here if it
    connected with less (it reconnects, and the handshake holds it to the new floor)."""

    cp: object
    profile: object

    def encode(self) -> str:
        return json.dumps({"kind": CLOSE_WEAKER, "cp": self.cp, "profile": self.profile})


class UnreadableRequest(ValueError):
    """Not JSON, or no kind."""


class UnknownRequest(ValueError):
    """A kind we do not serve, or a call without a reply list."""


def call_request(
    request_id: str,
    charge_point_id: str,
    action: str,
    payload: dict,
    deadline: float,
    reply: str,
    *,
    registered: bool = False,
) -> CallRequest:
    return CallRequest(request_id, charge_point_id, action, payload, deadline, reply, registered)


def decode_request(raw: str | bytes) -> CallRequest | Evict | CloseWeaker:
    try:
        data = json.loads(raw)
        kind = data["kind"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UnreadableRequest(str(exc)) from exc
    if kind == EVICT:
        return Evict(data.get("cp"), data.get("token"))
    if kind == CLOSE_WEAKER:
        return CloseWeaker(data.get("cp"), data.get("profile"))
    reply = data.get("reply")
    if kind != CALL or not isinstance(reply, str):
        raise UnknownRequest(f"kind {kind!r}")
    return CallRequest(
        id=data.get("id"),
        cp=data.get("cp"),
        action=data.get("action"),
        payload=data.get("payload"),
        deadline=data.get("deadline"),
        reply=reply,
        registered=data.get("registered") is True,
    )


# -- replies -------------------------------------------------------------------------------
def encode_reply(request_id, result: CallResult) -> str:
    """The reply to one request, naming it (several requests may share a reply list)."""
    data = result.to_dict()
    if request_id is not None:
        data["id"] = request_id
    return json.dumps(data)


def decode_reply(raw: str | bytes) -> tuple[str, CallResult]:
    """(the request id it answers, the result); ValueError when unreadable."""
    try:
        data = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"unreadable reply: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("a reply is a JSON object")
    return str(data.get("id")), CallResult.from_dict(data)
