"""The gateway's end of the command channel: pop requests, send the calls, push the replies.

Each gateway pops its own Redis list (``registry.requests_key``), takes a batch that
is already waiting in one round trip, never sends a call whose deadline already passed,
and pushes one reply per call (``channel.py``: the messages). A request that cannot be
read is logged and dropped; whatever is wrong with one, the loop goes on. When the
gateway stops, what is left in the queue is answered "not_connected".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Protocol

import redis.asyncio as aioredis

from ocpp_gateway import channel, registry
from ocpp_gateway.channel import CallRequest, CallResult, CloseWeaker, Evict
from ocpp_gateway.charge_point import GatewayChargePointMixin
from ocpp_gateway.metrics import GatewayMetrics

logger = logging.getLogger("ocpp_gateway")

# Commands taken from the queue in one round trip when a batch of them is waiting.
COMMAND_BATCH = 200


class Sockets(Protocol):
    """What the command loop uses of the gateway: its sockets, and a place to run calls."""

    @property
    def stopping(self) -> bool: ...

    def socket(self, charge_point_id) -> GatewayChargePointMixin | None: ...

    async def evict(self, conn: GatewayChargePointMixin, reason: str, code: int = 1000) -> None: ...

    def spawn(self, coro: Coroutine) -> None: ...

    @property
    def metrics(self) -> GatewayMetrics: ...

    def expect_boot(self, charge_point_id: str, expected: bool = True) -> None: ...


def _asks_for_a_boot(request: CallRequest) -> bool:
    """A Reset, or a TriggerMessage for a BootNotification: the charger boots after it."""
    payload = request.payload if isinstance(request.payload, dict) else {}
    return request.action == "Reset" or (
        request.action == "TriggerMessage" and payload.get("requestedMessage") == "BootNotification"
    )


def _reboots(request: CallRequest, result: CallResult) -> bool:
    """Such a call written to the charger, and not refused (Rejected, a CallError)."""
    if not _asks_for_a_boot(request) or result.sent_at is None or result.written is False:
        return False
    if result.outcome == channel.CALL_ERROR:
        return False
    return result.outcome != channel.ANSWERED or result.status in ("Accepted", "Scheduled")


class CommandLoop:
    def __init__(self, client: aioredis.Redis, gateway_id: str, sockets: Sockets):
        self.redis = client
        self.key = registry.requests_key(gateway_id)
        self.sockets = sockets
        # Replies waiting to be pushed: a bulk restart's thousand answers go to Redis in
        # a few round trips, not one each (deliver_replies).
        self._replies: list[tuple[str, bytes]] = []
        self._replies_waiting = asyncio.Event()

    async def run(self) -> None:
        """Serve the queue until cancelled (and deliver the replies meanwhile)."""
        deliverer = asyncio.create_task(self._deliver_replies())
        try:
            await self._serve()
        finally:
            deliverer.cancel()
            await asyncio.gather(deliverer, return_exceptions=True)

    async def _serve(self) -> None:
        while True:
            try:
                item = await self.redis.blpop([self.key], timeout=1)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the command queue failed")
                await asyncio.sleep(1)
                continue
            if item is None:
                continue
            await self._take(item[1])
            # A batch of requests arrives at once: take what is already queued in one go.
            try:
                more = await self.redis.lpop(self.key, COMMAND_BATCH) or []
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the command queue failed")
                continue
            pending = list(more)
            try:
                while pending:
                    await self._take(pending.pop(0))
            except asyncio.CancelledError:
                if pending:  # back to the head of the queue, for answer_leftovers
                    await self.redis.lpush(self.key, *reversed(pending))
                raise

    async def answer_leftovers(self) -> None:
        """After the loop stopped: answer what is still queued (not connected, we stop)."""
        try:
            while raw := await self.redis.lpop(self.key):
                await self._take(raw)
        except Exception:
            logger.exception("could not answer the commands left in the queue")
        await self._push_replies()

    async def _take(self, raw) -> None:
        """Handle one command; whatever is wrong with it, the command loop goes on."""
        try:
            await self._handle(raw)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("command dropped: %r", raw[:200])

    async def _close_weaker(self, request: CloseWeaker) -> None:
        conn = self.sockets.socket(request.cp)
        try:
            required = int(request.profile)
        except (TypeError, ValueError):
            logger.error("close_weaker without a profile dropped: %r", request)
            return
        if conn is not None and getattr(conn, "security_profile", 1) < required:
            logger.info(
                "%s: security profile raised to %d; closing its profile %d socket",
                conn.id,
                required,
                conn.security_profile,
            )
            # 1008 policy violation: it reconnects and meets the new floor at the handshake.
            await self.sockets.evict(conn, "security profile raised", code=1008)

    async def _handle(self, raw) -> None:
        try:
            request = channel.decode_request(raw)
        except channel.UnreadableRequest:
            logger.error("unreadable command dropped: %r", raw[:200])
            return
        except channel.UnknownRequest:
            logger.error("unknown command dropped: %r", raw[:200])
            return
        if isinstance(request, Evict):
            conn = self.sockets.socket(request.cp)
            if conn is not None and conn.token != request.token:
                logger.info("%s: connected through another gateway now; closing here", conn.id)
                await self.sockets.evict(conn, "replaced by a newer connection")
            return
        if isinstance(request, CloseWeaker):
            await self._close_weaker(request)
            return
        try:
            remaining = float(request.deadline) - time.time()
        except (TypeError, ValueError):
            await self._reply(
                request,
                CallResult(channel.ERROR, detail="command without a deadline", written=False),
            )
            return
        if remaining <= 0:
            logger.warning(
                "%s: %s not sent: its deadline passed %.1fs before we picked it up",
                request.cp,
                request.action,
                -remaining,
            )
            detail = "not sent: the deadline passed before the gateway picked it up"
            await self._reply(request, CallResult(channel.TIMEOUT, detail=detail, written=False))
            return
        if not isinstance(request.action, str) or not isinstance(request.payload, dict):
            await self._reply(
                request,
                CallResult(channel.ERROR, detail="action and payload required", written=False),
            )
            return
        conn = self.sockets.socket(request.cp)
        if conn is None or conn.closed or self.sockets.stopping:
            detail = "not connected to this gateway"
            await self._reply(
                request, CallResult(channel.NOT_CONNECTED, detail=detail, written=False)
            )
            return
        if request.registered and not conn.boot_seen:
            # Field chargers refuse calls before their registration; a Reset then is
            # wasted at best. The caller waits for the boot and asks again.
            detail = "not registered: no accepted BootNotification on its current socket"
            await self._reply(
                request, CallResult(channel.NOT_REGISTERED, detail=detail, written=False)
            )
            return
        deadline = asyncio.get_running_loop().time() + remaining
        self.sockets.spawn(self._call(conn, request, deadline))

    async def _call(self, conn: GatewayChargePointMixin, request: CallRequest, deadline) -> None:
        action = request.action
        if _asks_for_a_boot(request):
            # Expected from before the frame leaves: a hard reset may boot again before
            # its answer (or instead of one). Refused or never written: not expected.
            self.sockets.expect_boot(conn.id)
        try:
            result = await conn.send_call(action, request.payload, deadline)
        except Exception as exc:
            logger.exception("%s: %s failed", conn.id, action)
            result = CallResult(channel.ERROR, detail=f"gateway error: {exc.__class__.__name__}")
        self.sockets.metrics.call_done(action, result)
        if _asks_for_a_boot(request) and not _reboots(request, result):
            self.sockets.expect_boot(conn.id, expected=False)
        logger.info(
            "%s: %s -> %s %s %s",
            conn.id,
            action,
            result.outcome,
            result.status or "",
            result.detail,
        )
        await self._reply(request, result)

    async def _reply(self, request: CallRequest, result: CallResult) -> None:
        """Queue the answer, naming its request (several requests share a reply list)."""
        try:
            self._replies.append((str(request.reply), channel.encode_reply(request.id, result)))
        except Exception:
            logger.exception("could not encode a command reply: %r", request)
            return
        self._replies_waiting.set()

    async def _deliver_replies(self) -> None:
        """Push the replies as they come: whatever piled up during one push goes in the
        next, so a burst of answers costs a few round trips."""
        while True:
            await self._replies_waiting.wait()
            self._replies_waiting.clear()
            await self._push_replies()

    async def _push_replies(self) -> None:
        replies, self._replies = self._replies, []
        if not replies:
            return
        lists: dict[str, list[bytes]] = {}
        for key, encoded in replies:
            lists.setdefault(key, []).append(encoded)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key, encoded in lists.items():
                    pipe.rpush(key, *encoded)
                    pipe.expire(key, registry.REPLY_TTL)
                await pipe.execute()
        except asyncio.CancelledError:
            # Stopping mid-push: back in front, for answer_leftovers (a reply pushed twice
            # is harmless: its worker takes only the requests it still waits for).
            self._replies[:0] = replies
            raise
        except Exception:
            # The workers wait out their deadline: an answer lost, never a verdict.
            logger.exception("could not deliver %d command replies", len(replies))
