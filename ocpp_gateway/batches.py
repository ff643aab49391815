"""Named command batches: proof, in Redis, of whether a batch of calls was ever pushed.

A restart's send task names its batch before it claims its jobs (`open_batch`); the
name carries the Redis incarnation (its run_id). `push_marked` writes the batch's mark
with its requests in one MULTI, only while the batch has no mark (WATCH). For a batch
whose sender died, the deadline sweep calls `fence`: a mark it could write proves the
batch never was pushed, and the sender's late push then finds it and sends nothing.
The layout of the mark is in registry.py (``ocpp:pushed:<batch>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import redis

from ocpp_gateway import registry

# A batch's mark: pushed with its requests, or taken back by the deadline sweep.
PUSHED, FENCED = "pushed", "fenced"


def open_batch(client: redis.Redis) -> str:
    """A new batch name naming this Redis's incarnation (its run_id): marks live in
    Redis, so only the Redis that was up when the batch was named can tell that it was
    never pushed. Raises redis.RedisError when Redis is away."""
    return f"{client.info('server')['run_id']}:{uuid.uuid4().hex}"


def push_marked(client: redis.Redis, batch: str, per_gateway: dict[str, list]) -> bool:
    """Push the batch's requests ({gateway id: [(request id, JSON)]}) with its mark,
    unless the batch was taken back (its mark exists): WATCH, then one MULTI. False when
    taken back; nothing was pushed then."""
    mark = registry.pushed_key(batch)
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(mark)
            if pipe.exists(mark):
                return False
            pipe.multi()
            pipe.set(mark, PUSHED, ex=registry.PUSHED_TTL)
            for gateway_id, requests in per_gateway.items():
                pipe.rpush(registry.requests_key(gateway_id), *(r for _id, r in requests))
            pipe.execute()
        except redis.WatchError:
            return False  # taken back between the look and the push
    return True


def fence(client: redis.Redis, batches: Iterable[str]) -> dict[str, bool]:
    """For batches whose sender is surely gone: True when the batch was never pushed and
    now never can be (this call takes it back: the sender's push would find the mark),
    False when it was pushed or nobody can tell (named under another Redis incarnation:
    a restarted Redis may have lost the mark of a push a gateway already took). Raises
    redis.RedisError when Redis cannot say."""
    batches = list(dict.fromkeys(batches))
    if not batches:
        return {}
    run_id = client.info("server")["run_id"]
    never: dict[str, bool] = {}
    for batch in batches:
        if batch.split(":", 1)[0] != run_id:
            never[batch] = False
            continue
        mark = registry.pushed_key(batch)
        taken = client.set(mark, FENCED, nx=True, ex=registry.PUSHED_TTL)
        never[batch] = bool(taken) or client.get(mark) == FENCED.encode()
    return never
