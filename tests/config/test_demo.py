"""The demo fleet is secure by default too: one charger shows the warning."""

from chargers.models import Charger
from config import demo


def test_every_demo_charger_has_a_password_except_the_one_shown_without(db):
    demo.seed("pw")
    without = set(
        Charger.objects.filter(password_hash="").values_list("charge_point_id", flat=True)
    )
    assert without == set(demo.DEMO_WITHOUT_PASSWORD)
    protected = Charger.objects.exclude(password_hash="")
    assert protected.count() >= 40
    assert all(c.check_ocpp_password(demo.ocpp_password()) for c in protected[:3])
