"""The demo fleet is secure by default too: one charger shows the warning."""

from chargers.models import Charger
from config import demo
from tenancy.maintenance import maintenance_window
from tenancy.models import Group


def test_every_demo_charger_has_a_password_except_the_one_shown_without(db):
    demo.seed("pw")
    without = set(
        Charger.objects.filter(password_hash="").values_list("charge_point_id", flat=True)
    )
    assert without == set(demo.DEMO_WITHOUT_PASSWORD)
    protected = Charger.objects.exclude(password_hash="")
    assert protected.count() >= 40
    assert all(c.check_ocpp_password(demo.ocpp_password()) for c in protected[:3])


def test_the_demo_gives_koebenhavn_a_maintenance_window_its_car_parks_follow(db):
    demo.seed("pw")
    window = maintenance_window(Group.objects.get(name="P-hus Syd"))
    assert str(window) == "01:00–05:00" and window.owner.name == "København"
