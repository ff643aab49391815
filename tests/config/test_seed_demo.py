"""seed_demo marks the demo fleet as simulated, and only the demo fleet."""

from chargers.models import Charger
from config import demo
from tests.factories import make_charger, make_group, make_org


def demo_ids() -> set[str]:
    return {f"{prefix}-{i:03d}" for _path, count, prefix in demo.FLEET for i in range(1, count + 1)}


def test_seed_demo_marks_its_chargers_simulated_and_leaves_others_alone(db):
    # A user's own charger that happens to carry a demo id, in their own organisation.
    theirs = make_charger(make_group(make_org("Egen Ladning")), charge_point_id="NE-AAR-001")
    mine = make_charger(make_group(make_org("Andet")), charge_point_id="MY-OWN-1")

    demo.seed("pw")
    simulated = set(
        Charger.objects.filter(simulated=True).values_list("charge_point_id", flat=True)
    )
    assert simulated == demo_ids() - {"NE-AAR-001"}
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert not theirs.simulated and theirs.group.organisation.name == "Egen Ladning"
    assert not mine.simulated

    # A dev database from before the mark: the seed's own chargers get it on the next seed.
    Charger.objects.filter(charge_point_id__in=["NE-KBH-S-001", "BL-ODE-002"]).update(
        simulated=False
    )
    demo.seed("pw")
    assert set(
        Charger.objects.filter(simulated=True).values_list("charge_point_id", flat=True)
    ) == demo_ids() - {"NE-AAR-001"}
    assert not Charger.objects.get(charge_point_id="MY-OWN-1").simulated
