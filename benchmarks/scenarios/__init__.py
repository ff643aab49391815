"""The scenarios of `make bench`, by name; each takes the Bench and returns its figures.

These modules import the project's models, so they are loaded only after
`Bench.setup_django()` (benchmarks.run does that, then imports this package).
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import fleet
from benchmarks.harness import Bench
from benchmarks.report import Figure
from benchmarks.scenarios import bulk_restart, connections, matching, pages, scale_out, tls
from benchmarks.scenarios.common import reset_state

__all__ = ["BY_NAME", "reset_state", "seed"]

# In the order they run; the names are the ones `--only` takes (benchmarks.run.SCENARIOS).
BY_NAME: dict[str, Callable[[Bench], list[Figure]]] = {
    "fleet": connections.fleet,
    "storm": connections.storm,
    "tls_storm": tls.tls_storm,
    "restart": bulk_restart.restart,
    "pages": pages.pages,
    "matching": matching.matching,
    "two_gateways": scale_out.two_gateways,
    "overload": scale_out.overload,
}


def seed(bench: Bench) -> None:
    """One fleet in PostgreSQL, big enough for every scenario at this scale."""
    fleet.seed(
        total=max(bench.n(10_000), bench.n(5000), bench.n(1000)),
        page_fleet=bench.n(5000),
        small_fleet=bench.n(50),
    )
