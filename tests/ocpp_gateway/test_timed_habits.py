"""The simulator's timed habits are named as simulate_chargers takes them."""

from __future__ import annotations

import random

import pytest

from ocpp_gateway.behaviours import assign_behaviours, split_habits


def test_timed_habits_join_a_behaviour_with_a_plus():
    assert split_habits("reject+faulted_after=30") == ("reject", {"faulted_after": 30.0})
    assert split_habits("unresponsive_after=2.5") == ("accept", {"unresponsive_after": 2.5})
    assert split_habits("charging") == ("charging", {})


@pytest.mark.parametrize("spec", ["faulted_after", "faulted_after=soon", "dance", "reject=1"])
def test_an_unknown_or_malformed_habit_is_refused_with_its_name(spec):
    with pytest.raises(ValueError, match="faulted_after|unknown"):
        split_habits(spec)
    with pytest.raises(ValueError):
        assign_behaviours(["CP-1"], {"CP-1": spec}, {}, random.Random(1))
