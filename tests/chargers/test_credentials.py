"""Charger passwords are keyed hashes: microseconds to check, useless without the server key."""

import time

from django.contrib.auth.hashers import make_password
from django.test import override_settings

from chargers import credentials
from chargers.models import Charger

KEY = "k" * 48
OLD_KEY = "o" * 48


@override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[])
def test_a_new_password_is_a_keyed_hash_with_its_own_salt():
    first, second = credentials.make("same-password-20chr"), credentials.make("same-password-20chr")
    assert first.startswith("ocpp-hmac-sha256$" + credentials.key_id(KEY.encode()) + "$")
    assert first != second  # a salt of its own
    assert "same-password" not in first


@override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[])
def test_the_right_password_verifies_and_a_wrong_one_does_not():
    encoded = credentials.make("Abcdefghij0123456789")
    assert credentials.verify(encoded, "Abcdefghij0123456789") == credentials.Verdict(True)
    for wrong in ("abcdefghij0123456789", "", "Abcdefghij012345678", "Abcdefghij0123456789 "):
        assert not credentials.verify(encoded, wrong).ok
    charger = Charger(charge_point_id="CP-1")
    charger.set_ocpp_password("Abcdefghij0123456789")
    assert charger.check_ocpp_password("Abcdefghij0123456789")
    assert not charger.check_ocpp_password("nope")
    assert not charger.check_ocpp_password(None)


@override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[])
def test_ten_thousand_verifications_take_under_half_a_second():
    encoded = credentials.make("Abcdefghij0123456789")
    started = time.process_time()
    for _ in range(10_000):
        assert credentials.verify(encoded, "Abcdefghij0123456789").ok
    assert time.process_time() - started < 0.5


def test_a_string_made_with_a_fallback_key_verifies_and_asks_for_an_upgrade():
    with override_settings(OCPP_PASSWORD_KEY=OLD_KEY, OCPP_PASSWORD_KEY_FALLBACKS=[]):
        old = credentials.make("Abcdefghij0123456789")
    with override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[OLD_KEY]):
        assert credentials.verify(old, "Abcdefghij0123456789") == credentials.Verdict(
            True, upgrade=True
        )
        assert not credentials.verify(old, "wrong").ok
        new = credentials.make("Abcdefghij0123456789")
        assert credentials.verify(new, "Abcdefghij0123456789") == credentials.Verdict(True)


def test_a_string_under_an_unknown_key_never_verifies(caplog):
    with override_settings(OCPP_PASSWORD_KEY=OLD_KEY, OCPP_PASSWORD_KEY_FALLBACKS=[]):
        old = credentials.make("Abcdefghij0123456789")
    with override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[]):
        assert credentials.verify(old, "Abcdefghij0123456789") == credentials.Verdict(False)
        assert not credentials.check(old, "Abcdefghij0123456789")
    assert "unknown key" in caplog.text


@override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[])
def test_a_pbkdf2_string_is_left_to_the_slow_path():
    legacy = make_password("Abcdefghij0123456789")
    verdict = credentials.verify(legacy, "Abcdefghij0123456789")
    assert verdict == credentials.Verdict(False, slow=True)
    assert credentials.verify_slow(legacy, "Abcdefghij0123456789")
    assert not credentials.verify_slow(legacy, "wrong")
    # Synchronous callers (forms, tools) still get the right answer for old strings.
    assert Charger(password_hash=legacy).check_ocpp_password("Abcdefghij0123456789")
    # Garbage is neither fast nor slow: it never verifies.
    assert credentials.verify("garbage$string", "x") == credentials.Verdict(False)
    assert not credentials.verify_slow("garbage$string", "x")


@override_settings(OCPP_PASSWORD_KEY=KEY, OCPP_PASSWORD_KEY_FALLBACKS=[])
def test_an_unknown_id_costs_the_same_work_and_never_verifies():
    assert credentials.dummy_verify("Abcdefghij0123456789") is False
    assert credentials.dummy_verify("") is False
