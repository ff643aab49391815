"""One socket's charge point: frames in, our calls out, what it says recorded.

``GatewayChargePointMixin`` is mixed in before the ``ocpp`` package's ChargePoint of the
socket's version (``handlers.py`` holds the action handlers of each version). Built on
the ``ocpp`` package: its routing, its JSON schemas and its CallError codes. Two things
are ours:

- ``route_message`` never lets a bad frame escape: not JSON, not an OCPP message, an
  unknown action or a payload failing the schema each get a CallError (the message id
  "-1" when none can be read) and the connection goes on.
- ``send_call`` replaces the library's ``call()``: every outgoing call runs under one
  deadline that covers waiting for our previous call to finish, sending and the answer
  (the library's own timeout starts only after its lock). Answers are matched by id, so
  a late or duplicate answer is logged and dropped instead of being taken for the next
  call's answer. It returns the command channel's ``CallResult``, stamped with when the
  frame was written and when the answer came.

Handlers only answer and record (into the in-memory ``Recorder``); they never await a
call to the same charger. Of the gateway they use only ``GatewaySide``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Protocol

from django.utils import timezone
from ocpp import exceptions as ocpp_exc
from ocpp import messages as ocpp_messages
from ocpp.messages import Call, CallError, MessageType, validate_payload
from ocpp.messages import CallResult as OcppCallResult
from websockets.exceptions import ConnectionClosed

from chargers.statuses import FAULTED
from ocpp_gateway import channel
from ocpp_gateway.channel import CallResult
from ocpp_gateway.metrics import GatewayMetrics
from ocpp_gateway.recorder import Recorder
from ocpp_gateway.sessions import SessionBook

# The ``ocpp`` library validates every frame's payload against its JSON schema in the
# default thread pool. A frame is at most max_frame_bytes and its check takes tens of
# microseconds of CPU that holds the GIL wherever it runs, so the hop to a thread and
# back only added work: in a reconnect storm handing frames to the pool (submit, wake,
# the future back onto the loop) took more of the gateway's time than the checks.
ocpp_messages.ASYNC_VALIDATION = False

logger = logging.getLogger("ocpp_gateway")
# Every frame in and out, at INFO (quiet by default, see LOGGING in settings).
frame_logger = logging.getLogger("ocpp_gateway.frames")


class GatewaySide(Protocol):
    """What a socket's handlers use of the gateway that holds it."""

    @property
    def recorder(self) -> Recorder: ...

    @property
    def heartbeat_interval(self) -> int: ...

    @property
    def metrics(self) -> GatewayMetrics: ...

    async def next_transaction_id(self) -> int: ...


class ConnectionGone(Exception):
    """The socket closed while a call to the charger was in flight."""


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _short(value, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GatewayChargePointMixin:
    """What both versions share; mixed in before the version's ``ocpp`` ChargePoint."""

    _ocpp_version: str
    # CallError codes for frames that cannot be routed (version-specific names).
    _not_json_code: str
    _bad_frame_code: str
    _bad_message_type_code: str

    def __init__(self, charge_point_id, connection, *, charger_pk, token, gateway: GatewaySide):
        super().__init__(charge_point_id, connection, logger=frame_logger)
        self.charger_pk = charger_pk
        self.token = token
        self.gateway = gateway
        self.recorder = gateway.recorder
        self.metrics = gateway.metrics
        # A BootNotification came on this socket and we accepted it: the charger is
        # registered here (ocpp_gateway_boots_pending counts the rest).
        self.boot_seen = False
        # When this socket was opened (gateway clock): a boot on it confirms a restart
        # only if the socket is newer than the Reset.
        self.connected_at = timezone.now()
        self.last_frame = time.monotonic()
        self._pending: dict[str, tuple[str, asyncio.Future]] = {}
        self._out_lock = asyncio.Lock()
        self._statuses: dict[object, str] = {}
        self.sessions = SessionBook(self._record_session)  # per connector (sessions.py)
        self.closed = False
        self.detached = False
        # Whether our route (ocpp:routes) made it to Redis; the gateway retries if not.
        self.route_written = False

    def heard_at(self) -> float:
        """time.monotonic() of the last frame from the charger: an OCPP message, or a
        websocket ping or pong (OCPP-J lets a charger keep the link alive with pings)."""
        return max(self.last_frame, getattr(self._connection, "last_frame_at", 0.0))

    # -- incoming frames ---------------------------------------------------------------
    async def route_message(self, raw_msg):
        self.last_frame = time.monotonic()
        self.recorder.seen(self.charger_pk, timezone.now())
        try:
            if isinstance(raw_msg, bytes):
                raw_msg = raw_msg.decode("utf-8")
            msg = json.loads(raw_msg)
        except (UnicodeDecodeError, ValueError):
            logger.warning("%s: frame is not JSON: %s", self.id, _short(raw_msg))
            await self._send_error("-1", self._not_json_code, "Frame is not valid JSON")
            return
        except RecursionError:
            # json.loads gives up on deep nesting (a few hundred levels) with
            # RecursionError, which is not a ValueError: without this the frame went
            # unanswered and the charger waited for its timeout.
            logger.warning("%s: frame nested too deeply: %s", self.id, _short(raw_msg))
            await self._send_error("-1", self._bad_frame_code, "Frame is nested too deeply")
            return

        if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[0], int):
            logger.warning("%s: frame is not an OCPP message: %s", self.id, _short(raw_msg))
            unique_id = msg[1] if isinstance(msg, list) and len(msg) > 1 else "-1"
            await self._send_error(
                unique_id if isinstance(unique_id, str) else "-1",
                self._bad_frame_code,
                "Frame is not an OCPP-J message [MessageTypeId, MessageId, ...]",
            )
            return

        message_type, unique_id = msg[0], msg[1]
        if not isinstance(unique_id, str):
            logger.warning("%s: message id is not a string: %s", self.id, _short(raw_msg))
            await self._send_error("-1", self._bad_frame_code, "MessageId must be a string")
            return

        if message_type == MessageType.Call:
            if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
                logger.warning("%s: malformed CALL: %s", self.id, _short(raw_msg))
                await self._send_error(
                    unique_id,
                    self._bad_frame_code,
                    "A CALL is [2, MessageId, Action, {Payload}]",
                )
                return
            self.metrics.message("in", msg[2], "call")
            await self._answer_call(Call(unique_id, msg[2], msg[3]))
        elif message_type == MessageType.CallResult:
            self.metrics.message("in", self._pending_action(unique_id), "result")
            payload = msg[2] if len(msg) == 3 else None
            self._resolve(unique_id, OcppCallResult(unique_id, payload), raw_msg)
        elif message_type == MessageType.CallError:
            self.metrics.message("in", self._pending_action(unique_id), "error")
            code = msg[2] if len(msg) > 2 else "GenericError"
            description = msg[3] if len(msg) > 3 else ""
            details = msg[4] if len(msg) > 4 else {}
            self._resolve(unique_id, CallError(unique_id, code, description, details), raw_msg)
        else:
            logger.warning("%s: unknown MessageTypeId %r", self.id, message_type)
            await self._send_error(
                unique_id,
                self._bad_message_type_code,
                f"MessageTypeId {message_type!r} is not supported",
            )

    async def _answer_call(self, msg: Call) -> None:
        try:
            await self._handle_call(msg)
            self.metrics.message("out", msg.action, "result")
        except ConnectionClosed:
            # An ordinary event in a storm: the charger hung up before our answer left.
            logger.info("%s: socket closed before our answer to %s left", self.id, msg.action)
        except ocpp_exc.OCPPError as error:
            self.metrics.message("out", msg.action, "error")
            logger.warning(
                "%s: %s refused with %s: %s",
                self.id,
                msg.action,
                error.code,
                _short(error.details.get("cause", error.description)),
            )
            await self._send_error(
                msg.unique_id,
                self._error_code(error),
                error.description,
                {"cause": _short(error.details.get("cause", ""))} if error.details else {},
            )
        except Exception:
            # Schema validation and the library's key conversion run outside its own
            # handler guard: a payload that breaks them (deep nesting, say) still gets an
            # answer, so the charger is not left waiting for one.
            logger.exception("%s: %s could not be handled", self.id, msg.action)
            self.metrics.message("out", msg.action, "error")
            await self._send_error(
                msg.unique_id, "InternalError", "The gateway could not handle this message"
            )

    def _error_code(self, error: ocpp_exc.OCPPError) -> str:
        return error.code

    async def _send_error(self, unique_id: str, code: str, description: str, details=None):
        frame = CallError(unique_id, code, description, details or {}).to_json()
        with contextlib.suppress(ConnectionClosed):
            await self._send(frame)

    def _pending_action(self, unique_id: str) -> str | None:
        entry = self._pending.get(unique_id)
        return entry[0] if entry else None

    def _resolve(self, unique_id: str, message, raw_msg) -> None:
        entry = self._pending.get(unique_id)
        if entry is None or entry[1].done():
            logger.warning(
                "%s: late or unknown answer dropped (id %s): %s",
                self.id,
                unique_id,
                _short(raw_msg),
            )
            return
        entry[1].set_result(message)

    # -- outgoing calls ----------------------------------------------------------------
    async def send_call(self, action: str, payload: dict, deadline: float) -> CallResult:
        """Send one call and wait for its answer, all before `deadline` (loop time)."""
        call = Call(str(uuid.uuid4()), action, payload)
        try:
            await validate_payload(call, self._ocpp_version)
        except ocpp_exc.OCPPError as error:
            cause = error.details.get("cause", error.description)
            return CallResult(
                channel.ERROR,
                detail=f"{action} not sent: invalid for OCPP {self._ocpp_version}: "
                + _short(cause),
            )

        sent_at = None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                async with self._out_lock:
                    if self.closed:
                        raise ConnectionGone
                    future = loop.create_future()
                    self._pending[call.unique_id] = (action, future)
                    try:
                        await self._send(call.to_json())
                        sent_at = time.time()
                        self.metrics.message("out", action, "call")
                        response = await future
                    finally:
                        self._pending.pop(call.unique_id, None)
        except TimeoutError:
            if sent_at is None:
                return CallResult(
                    channel.TIMEOUT, detail=f"{action} not sent: an earlier call was still waiting"
                )
            return CallResult(
                channel.TIMEOUT, detail=f"no answer to {action} in time", sent_at=sent_at
            )
        except (ConnectionGone, ConnectionClosed):
            if sent_at is None:
                return CallResult(channel.NOT_CONNECTED, detail="the socket closed before sending")
            return CallResult(
                channel.TIMEOUT,
                detail=f"the socket closed before {action} was answered",
                sent_at=sent_at,
            )
        answered_at = time.time()

        if isinstance(response, CallError):
            return CallResult(
                channel.CALL_ERROR,
                detail=f"{response.error_code}: {response.error_description}".strip(),
                sent_at=sent_at,
                answered_at=answered_at,
            )
        payload = response.payload if isinstance(response.payload, dict) else {}
        detail = ""
        response.action = action
        try:
            await validate_payload(response, self._ocpp_version)
        except ocpp_exc.OCPPError as error:
            # Field chargers differ from the textbook: keep the answer, say what was off.
            detail = "answer does not match the schema: " + _short(
                error.details.get("cause", error.description)
            )
            logger.warning("%s: %s %s", self.id, action, detail)
        status = payload.get("status")
        return CallResult(
            channel.ANSWERED,
            status=status if isinstance(status, str) else None,
            payload=payload,
            detail=detail,
            sent_at=sent_at,
            answered_at=answered_at,
        )

    def connection_lost(self) -> None:
        self.closed = True
        for _action, future in list(self._pending.values()):
            if not future.done():
                future.set_exception(ConnectionGone())

    async def close(self, code: int, reason: str) -> None:
        """Close the socket (the gateway retires a replaced or silent connection)."""
        await self._connection.close(code, reason)

    @property
    def ocpp_version(self) -> str:
        return self._ocpp_version

    # -- recording helpers -------------------------------------------------------------
    def _record_status(self, key, status: str, connector_id: int | None) -> None:
        if self._statuses.get(key) == status:
            return  # a duplicate of what this socket already reported
        was_faulted = FAULTED in self._statuses.values()
        self._statuses[key] = status
        now = timezone.now()
        self.recorder.status(self.charger_pk, now, status, connector_id)
        if was_faulted != (FAULTED in self._statuses.values()):
            self.recorder.fault(self.charger_pk, now, not was_faulted)

    def _record_session(self, op: str, key: str, transaction_id: str) -> None:
        self.recorder.session(self.charger_pk, timezone.now(), op, key, transaction_id)

    def _record_firmware(self, status: str) -> None:
        """A FirmwareStatusNotification: self-healing leaves a charger mid-update alone."""
        self.recorder.firmware(self.charger_pk, timezone.now(), str(status)[:32])

    def _record_boot(self, reason: str, **facts) -> None:
        self.boot_seen = True
        self.recorder.booted(self.charger_pk, timezone.now(), reason, facts, self.connected_at)
        logger.info("%s: BootNotification (%s) %s", self.id, reason, facts)

    @property
    def heartbeat_interval(self) -> int:
        return self.gateway.heartbeat_interval
