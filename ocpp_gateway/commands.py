"""The command client: ask the gateway that holds a charger's socket to send it a call.

Synchronous, for Celery workers, views and tests. Nothing here touches a socket: the
request goes over Redis (``channel.py``: the message; ``registry.py``: the keys) to the
one gateway process that holds the charger, which sends the call and pushes the answer
back. Every call, one or a thousand, takes the same path: ``send_calls``.

Every call has a deadline. The gateway never sends a call whose deadline has passed
before it picked the request up, so a caller that gave up never causes a late Reset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from ocpp_gateway import batches, channel, registry
from ocpp_gateway.channel import (  # noqa: F401 (NOT_REGISTERED: for callers)
    ERROR,
    NOT_CONNECTED,
    NOT_REGISTERED,
    NOT_SENT,
    TIMEOUT,
    CallResult,
)

logger = logging.getLogger("ocpp_gateway")

# How much longer than the deadline the client waits for the gateway's own reply
# (the gateway answers "timeout" itself at the deadline; this covers the hop back).
REPLY_GRACE = 2.0

RESET_TYPES = {"1.6": ("Soft", "Hard"), "2.0.1": ("Immediate", "OnIdle")}

_client_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    """One connection pool per Redis URL and process (redis-py pools are thread-safe)."""
    url = settings.REDIS_URL
    with _client_lock:
        client = _clients.get(url)
        if client is None:
            # No automatic retries: a retried RPUSH whose first attempt reached Redis
            # would queue the same call twice (two Resets for one job).
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=5,
                health_check_interval=30,
                retry=Retry(NoBackoff(), 0),
            )
            _clients[url] = client
        return client


ALIVE, LATE, GONE = "alive", "late", "gone"


@dataclass(frozen=True)
class GatewayState:
    status: str  # ALIVE, LATE or GONE
    age: float | None = None  # seconds since its last refresh, on Redis's clock
    life: str = ""


def gateway_states(client: redis.Redis, gateway_ids) -> dict[str, GatewayState]:
    """How each gateway's liveness looks, in one round trip: alive (refreshed within
    OCPP_ALIVE_GRACE), late (older: busy, maybe starved, not known dead) or gone."""
    ids = sorted(set(gateway_ids))
    grace = settings.OCPP_ALIVE_GRACE
    with client.pipeline(transaction=True) as pipe:
        for gateway_id in ids:
            pipe.get(registry.alive_key(gateway_id))
            pipe.pttl(registry.alive_key(gateway_id))
        replies = pipe.execute()
    states = {}
    for n, gateway_id in enumerate(ids):
        value = registry.parse_liveness(replies[2 * n])
        pttl = replies[2 * n + 1]
        if value is None or pttl == -2:
            states[gateway_id] = GatewayState(GONE)
            continue
        age = 0.0 if pttl < 0 else max(0.0, value["ttl"] - pttl / 1000)
        status = ALIVE if age <= grace else LATE
        states[gateway_id] = GatewayState(status, age, str(value.get("life") or ""))
    return states


def _live_routes(
    client: redis.Redis, charge_point_ids: list[str]
) -> tuple[dict[str, registry.Route], dict[str, GatewayState]]:
    """The routes of those chargers whose gateway is not gone (alive or late), and the
    states of their gateways: two round trips for any number."""
    raw = client.hmget(registry.ROUTES, charge_point_ids)
    routes = dict(zip(charge_point_ids, map(registry.Route.decode, raw), strict=True))
    states = gateway_states(client, {r.gateway_id for r in routes.values() if r is not None})
    live = {
        cp: r for cp, r in routes.items() if r is not None and states[r.gateway_id].status != GONE
    }
    return live, states


def _live_route(charge_point_id: str) -> registry.Route | None:
    return _live_routes(_redis(), [charge_point_id])[0].get(charge_point_id)


def is_connected(charge_point_id: str) -> bool:
    """True when a running gateway (alive, or late but not gone) holds a socket for it."""
    try:
        return _live_route(charge_point_id) is not None
    except redis.RedisError:
        return False


def negotiated_version(charge_point_id: str) -> str | None:
    """The OCPP version of the charger's current socket, or None when it is not connected."""
    try:
        route = _live_route(charge_point_id)
    except redis.RedisError:
        return None
    return route.ocpp_version if route else None


def send_call(
    charge_point_id: str, action: str, payload: dict, *, timeout: float | None = None
) -> CallResult:
    """Send `action` with `payload` (the OCPP JSON payload) and wait for the charger's answer."""
    return send_calls([(charge_point_id, action, payload)], timeout=timeout)[0]


def trigger_boot_notification(charge_point_id: str, *, timeout: float | None = None) -> CallResult:
    """Ask the charger to send a BootNotification now (TriggerMessage, both versions)."""
    return send_call(
        charge_point_id,
        "TriggerMessage",
        {"requestedMessage": "BootNotification"},
        timeout=timeout,
    )


def send_reset(
    charge_point_id: str, reset_type: str, *, timeout: float | None = None
) -> CallResult:
    """Reset(type=Soft|Hard) for OCPP 1.6, Reset(type=Immediate|OnIdle) for 2.0.1.

    A type that does not fit the charger's negotiated version is an "error" and
    nothing is sent.
    """
    return send_resets([(charge_point_id, reset_type)], timeout=timeout)[0]


def send_resets(
    resets: Sequence[tuple[str, str]],
    *,
    timeout: float | None = None,
    on_result: Callable[[list[tuple[int, CallResult]]], None] | None = None,
    registered: bool = False,
    batch: str | None = None,
) -> list[CallResult]:
    """Reset many chargers at once: `resets` is (charge point id, reset type) pairs.

    `registered`: only to chargers registered on their current socket (the gateway
    answers the others "not_registered" and sends nothing).

    The same per-call rules and outcomes as `send_reset`, one CallResult per pair in
    the same order, but a handful of Redis round trips for the lot (see `send_calls`,
    also for `on_result`: each answer as it arrives, and `batch`).
    """
    return send_calls(
        [(cp_id, "Reset", {"type": reset_type}) for cp_id, reset_type in resets],
        timeout=timeout,
        check_route=lambda i, route: _reset_problem(resets[i][1], route),
        on_result=on_result,
        registered=registered,
        batch=batch,
    )


def _reset_problem(reset_type: str, route: registry.Route) -> str | None:
    allowed = RESET_TYPES.get(route.ocpp_version, ())
    if reset_type in allowed:
        return None
    return (
        f"reset type {reset_type!r} does not exist in OCPP {route.ocpp_version}; "
        f"use one of {', '.join(allowed)}"
    )


def send_calls(
    calls: Sequence[tuple[str, str, dict]],
    *,
    timeout: float | None = None,
    check_route: Callable[[int, registry.Route], str | None] | None = None,
    on_result: Callable[[list[tuple[int, CallResult]]], None] | None = None,
    registered: bool = False,
    batch: str | None = None,
) -> list[CallResult]:
    """Send (charge point id, action, payload) calls together; one CallResult each, in order.

    The routes in one read, every request pushed to its gateway in one RPUSH, and the
    answers collected from one reply list as they arrive, until all are in or the
    deadline (plus the hop back) has passed. Each request carries the deadline, so no
    gateway sends a call after the caller stopped waiting for it. `check_route` may
    refuse a call for the charger's route (its OCPP version): an "error", not sent.

    `on_result`, when given, is handed (index, CallResult) pairs as they become known:
    the ones settled before anything was pushed, then each batch of replies as it
    arrives, then whatever the deadline settles. So a caller can record each charger's
    answer when it comes, not when the slowest charger of the lot has answered.

    `batch`, when given, names the lot (`open_batch()`, recorded by the caller
    beforehand): its mark is written with the requests, only if `fence_batches` has not
    taken the batch back first, so that it can tell later whether any of it was ever
    queued for a gateway. A batch taken back sends nothing: every call "not_sent".
    """
    timeout = settings.OCPP_CALL_TIMEOUT if timeout is None else float(timeout)
    if not calls:
        return []
    results = _Results(len(calls), on_result)
    try:
        client = _redis()
        routes, states = _live_routes(client, [cp_id for cp_id, _a, _p in calls])
    except redis.RedisError as exc:
        failed = CallResult(NOT_SENT, detail=f"command channel unavailable: {exc}")
        results.settle([(i, failed) for i in range(len(calls))])
        return results.final()

    lot = batch or uuid.uuid4().hex
    reply = registry.reply_key(lot)
    deadline = time.time() + timeout
    outstanding: dict[str, int] = {}
    per_gateway: dict[str, list[tuple[str, str]]] = {}
    pushed: dict[str, tuple[str, str]] = {}  # request id -> (gateway id, the request's JSON)
    early: list[tuple[int, CallResult]] = []
    for i, (cp_id, action, payload) in enumerate(calls):
        route = routes.get(cp_id)
        if route is None:
            early.append(
                (i, CallResult(NOT_CONNECTED, detail="the charger is not connected to any gateway"))
            )
            continue
        state = states[route.gateway_id]
        if state.status == LATE:
            # Busy, not dead: nothing pushed, and safe to try again (never a verdict).
            detail = (
                f"{channel.GATEWAY_LATE}: gateway {route.gateway_id} last refreshed "
                f"its liveness {state.age:.0f}s ago"
            )
            early.append((i, CallResult(NOT_SENT, detail=detail)))
            continue
        problem = check_route(i, route) if check_route else None
        if problem:
            early.append((i, CallResult(ERROR, detail=problem, written=False)))
            continue
        request_id = f"{lot}.{i}"
        request = channel.call_request(
            request_id, cp_id, action, payload, deadline, reply, registered=registered
        )
        per_gateway.setdefault(route.gateway_id, []).append((request_id, request.encode()))
        outstanding[request_id] = i
    # One RPUSH per gateway (a handful) and the batch's mark, in one MULTI: all or none.
    # A failed one queued nothing, so its calls are "not_sent" and may be tried again.
    if per_gateway:
        try:
            if batch and not batches.push_marked(client, batch, per_gateway):
                fenced = CallResult(NOT_SENT, detail=f"{batches.FENCED}: {batch} taken back")
                early += [(i, fenced) for i in outstanding.values()]
                outstanding.clear()
            elif not batch:
                with client.pipeline(transaction=True) as pipe:
                    for gateway_id, requests in per_gateway.items():
                        pipe.rpush(registry.requests_key(gateway_id), *(r for _i, r in requests))
                    pipe.execute()
        except redis.RedisError as exc:
            # Not sent, and safe to try again, only if the push never reached Redis;
            # an error after the write (the answer lost) may have queued it.
            outcome = NOT_SENT if _before_write(exc) else ERROR
            failed = CallResult(outcome, detail=f"command channel unavailable: {exc}")
            early += [(i, failed) for i in outstanding.values()]
            outstanding.clear()
        else:
            pushed.update(
                (request_id, (gateway_id, r))
                for gateway_id, requests in per_gateway.items()
                for request_id, r in requests
                if request_id in outstanding
            )
    results.settle(early)
    try:
        _collect(client, reply, outstanding, results, deadline + REPLY_GRACE)
        if outstanding:
            _withdraw(client, pushed, outstanding, results)
        if outstanding:
            _collect_while_alive(client, reply, pushed, outstanding, results)
    except redis.RedisError as exc:
        # The requests were queued: the gateway may have sent them. We cannot know.
        lost = CallResult(ERROR, detail=f"command channel lost while waiting: {exc}")
        results.settle([(i, lost) for i in outstanding.values()])
        outstanding.clear()
    finally:
        with contextlib.suppress(redis.RedisError):
            client.delete(reply)
    late = CallResult(TIMEOUT, detail=f"no reply from the gateway within {timeout:g}s")
    results.settle([(i, late) for i in outstanding.values()])
    return results.final()


class _Results:
    """The results of one `send_calls`, each handed to `on_result` once, when known."""

    def __init__(self, size: int, on_result=None):
        self.results: list[CallResult | None] = [None] * size
        self.on_result = on_result

    def settle(self, pairs: list[tuple[int, CallResult]]) -> None:
        pairs = [(i, result) for i, result in pairs if self.results[i] is None]
        for i, result in pairs:
            self.results[i] = result
        if pairs and self.on_result is not None:
            self.on_result(pairs)

    def final(self) -> list[CallResult]:
        missing = CallResult(ERROR, detail="no result")
        self.settle([(i, missing) for i, r in enumerate(self.results) if r is None])
        return [r or missing for r in self.results]


def _before_write(exc: Exception) -> bool:
    """True when redis-py failed before the command's bytes left (no connection, or
    the write itself failed), so Redis cannot have queued it."""
    text = str(exc)
    return isinstance(exc, redis.ConnectionError) and (
        "connecting to" in text or "writing to socket" in text
    )


def _withdraw(client, pushed, outstanding: dict[str, int], results: _Results) -> None:
    """Take back the requests no gateway has taken off its list by now (LREM of their
    exact JSON): certain never to reach a charger, so "not_sent", safe to try again."""
    waiting = list(outstanding)
    with client.pipeline(transaction=False) as pipe:
        for request_id in waiting:
            gateway_id, encoded = pushed[request_id]
            pipe.lrem(registry.requests_key(gateway_id), 1, encoded)
        removed = pipe.execute()
    withdrawn = []
    for request_id, count in zip(waiting, removed, strict=True):
        if count:
            detail = f"withdrawn: gateway {pushed[request_id][0]} never took it off its queue"
            withdrawn.append((outstanding.pop(request_id), CallResult(NOT_SENT, detail=detail)))
    results.settle(withdrawn)


def _collect_while_alive(client, reply, pushed, outstanding: dict[str, int], results) -> None:
    """A gateway took these requests: it will reply (an answer, or its own timeout). Wait
    up to OCPP_REPLY_WAIT_MAX more for that while their gateways are alive (a busy one
    is; a frozen or dead one soon is not, and what it took stays uncertain)."""
    until = time.time() + settings.OCPP_REPLY_WAIT_MAX
    while outstanding and time.time() < until:
        _collect(client, reply, outstanding, results, min(until, time.time() + 1.0))
        gateways = {pushed[request_id][0] for request_id in outstanding}
        if gateways and all(
            state.status != ALIVE for state in gateway_states(client, gateways).values()
        ):
            return


# How long a reply waits for the ones close behind it before they are handed on together.
REPLY_GATHER = 0.05


def _collect(
    client, reply: str, outstanding: dict[str, int], results: _Results, until: float
) -> None:
    """Take the replies of `outstanding` requests from the one `reply` list as they come."""
    while outstanding:
        left = until - time.time()
        if left <= 0:
            return
        first = client.blpop([reply], timeout=max(min(left, 5.0), 0.01))
        if first is None:
            continue
        items = [first[1]] + (client.lpop(reply, len(outstanding)) or [])
        if len(items) < len(outstanding) and REPLY_GATHER:
            # More are on their way: take them with these (one write for the lot).
            time.sleep(min(REPLY_GATHER, max(until - time.time(), 0)))
            items += client.lpop(reply, len(outstanding)) or []
        arrived = []
        for raw in items:
            try:
                request_id, result = channel.decode_reply(raw)
                arrived.append((outstanding.pop(request_id), result))
            except (ValueError, KeyError):
                continue  # unreadable, or an answer nobody here waits for
        results.settle(arrived)


def open_batch() -> str:
    """A new batch name for `send_calls` (batches.open_batch). Raises redis.RedisError
    when Redis is away."""
    return batches.open_batch(_redis())


def fence_batches(names: Iterable[str]) -> dict[str, bool]:
    """batches.fence: for each batch whose sender is surely gone, True when it was never
    pushed and now never can be. Raises redis.RedisError when Redis cannot say."""
    return batches.fence(_redis(), names)


def close_weaker(charge_point_id: str, profile: int) -> bool:
    """Ask the gateway holding this charger to close its socket if it connected below
    `profile` (the portal raised its security profile). False when no gateway holds it."""
    try:
        route = _live_route(charge_point_id)
        if route is None:
            return False
        message = channel.CloseWeaker(charge_point_id, int(profile)).encode()
        _redis().rpush(registry.requests_key(route.gateway_id), message)
    except redis.RedisError as exc:
        logger.warning(
            "%s: could not ask its gateway to close a weaker socket: %s", charge_point_id, exc
        )
        return False
    return True
