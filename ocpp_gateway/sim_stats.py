"""What a simulated charger counts (``simulator.py``): the tests and benchmarks read it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ChargerStats:
    connects: int = 0
    handshake_failures: int = 0
    boots: int = 0
    heartbeats: int = 0
    resets: int = 0
    resets_while_charging: int = 0  # a Reset arrived while a session ran on any connector
    reset_types: list[str] = field(default_factory=list)
    # Unix time each Reset frame reached the charger (the tests compare the job's stamps).
    reset_times: list[float] = field(default_factory=list)
    trigger_messages: int = 0
    received: Counter = field(default_factory=Counter)
    sessions_started: int = 0
    sessions_ended: int = 0
    # Calls left unanswered on purpose (the unresponsive_after habit).
    unanswered: int = 0

    def to_dict(self) -> dict:
        return {
            "connects": self.connects,
            "handshake_failures": self.handshake_failures,
            "boots": self.boots,
            "heartbeats": self.heartbeats,
            "resets": self.resets,
            "resets_while_charging": self.resets_while_charging,
            "reset_types": list(self.reset_types),
            "reset_times": list(self.reset_times),
            "trigger_messages": self.trigger_messages,
            "received": dict(self.received),
            "sessions_started": self.sessions_started,
            "sessions_ended": self.sessions_ended,
            "unanswered": self.unanswered,
        }
