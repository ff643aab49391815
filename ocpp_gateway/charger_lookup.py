"""The chargers the handshakes ask for, read from the database in batches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chargers.models import Charger
from ocpp_gateway.recorder import Recorder

# Charge point ids looked up in one query at most.
LOOKUP_BATCH = 500


@dataclass(frozen=True)
class ChargerRecord:
    """What the handshake needs to know of a charger."""

    pk: int
    charge_point_id: str
    password_hash: str
    security_profile: int  # the floor the charger must meet (admission.py)


def _lookup_chargers(charge_point_ids: list[str]) -> dict[str, ChargerRecord]:
    rows = Charger.objects.filter(charge_point_id__in=charge_point_ids).values_list(
        "pk", "charge_point_id", "password_hash", "security_profile"
    )
    return {row[1]: ChargerRecord(*row) for row in rows}


class ChargerLookup:
    """Charger lookups for many handshakes at once, one query per batch.

    A handshake parks a future; one drain task takes every id waiting (up to
    ``LOOKUP_BATCH``), runs one query on the recorder's reader thread and resolves
    them; ids asked for meanwhile form the next batch. No timer: a lone handshake
    costs one round trip, a storm of a thousand costs a few.
    """

    def __init__(self, recorder: Recorder, batch: int = LOOKUP_BATCH):
        self.recorder = recorder
        self.batch = batch
        self._waiting: dict[str, list[asyncio.Future]] = {}
        self._drain: asyncio.Task | None = None
        self.asked = 0  # lookups asked for
        self.queries = 0  # queries run for them

    async def get(self, charge_point_id: str) -> ChargerRecord | None:
        self.asked += 1
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(charge_point_id, []).append(future)
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._waiting:
            ids = list(self._waiting)[: self.batch]
            futures = {cp_id: self._waiting.pop(cp_id) for cp_id in ids}
            try:
                self.queries += 1
                found = await self.recorder.in_reader(_lookup_chargers, ids)
            except Exception as exc:
                for waiting in futures.values():
                    for future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for cp_id, waiting in futures.items():
                for future in waiting:
                    if not future.done():  # its handshake may have timed out meanwhile
                        future.set_result(found.get(cp_id))
