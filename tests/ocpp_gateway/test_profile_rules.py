"""The admission table (ocpp_gateway/admission.py), as a pure function."""

from __future__ import annotations

import datetime

import pytest

from ocpp_gateway.admission import ClientCertificate, Refusal, Transport, admission

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def cert(*cns, org="", expired=False):
    not_after = NOW - datetime.timedelta(days=1) if expired else NOW + datetime.timedelta(days=9)
    return ClientCertificate(tuple(cns), org, "5f3a", "ab" * 32, not_after, "CN=CA")


WS = Transport(None, tls=False, certificate=None)
WSS = Transport(None, tls=True, certificate=None)
WSS_OWN = Transport(None, tls=True, certificate=cert("CP-1"))
WSS_OTHER = Transport(None, tls=True, certificate=cert("CP-2"))
WSS_TWO = Transport(None, tls=True, certificate=cert("CP-1", "CP-2"))
PROXY_OWN = Transport(None, tls=True, certificate=cert("CP-1"), forwarded=True)
PROXY_EXPIRED = Transport(None, tls=True, certificate=cert("CP-1", expired=True), forwarded=True)
OK, WRONG = True, False

# (required profile, transport, password right?, has a password) -> effective profile or None
TABLE = [
    (1, WS, OK, True, 1),
    (1, WS, WRONG, True, None),
    (1, WS, OK, False, 1),  # no password stored: the charger connects without one
    (1, WSS, OK, True, 2),
    (1, WSS_OWN, WRONG, True, 3),  # a bound certificate proves the identity by itself
    (1, WSS_OTHER, OK, True, None),  # another id's certificate: refused whatever the rest
    (2, WS, OK, True, None),  # downgrade to plain ws
    (2, WSS, OK, True, 2),
    (2, WSS, WRONG, True, None),
    (2, WSS, OK, False, None),  # profile 2 without a password cannot prove anything
    (2, WSS_OWN, WRONG, True, 3),
    (3, WS, OK, True, None),
    (3, WSS, OK, True, None),  # only a password: downgrade
    (3, WSS_OWN, WRONG, True, 3),  # the Basic header does not matter
    (3, WSS_OTHER, OK, True, None),
    (3, WSS_TWO, OK, True, None),
    (3, PROXY_OWN, OK, True, 3),
    (3, PROXY_EXPIRED, OK, True, None),
    (3, Transport(None, tls=False, certificate=cert("CP-1"), forwarded=True), OK, True, None),
]


@pytest.mark.parametrize(
    ("required", "transport", "password_ok", "has_password", "expected"), TABLE
)
def test_admission_table(required, transport, password_ok, has_password, expected):
    decided = admission(
        required=required,
        transport=transport,
        charge_point_id="CP-1",
        password_ok=password_ok,
        has_password=has_password,
        now=NOW,
    )
    if expected is None:
        assert isinstance(decided, Refusal)
    else:
        assert decided == expected


def test_the_organisation_must_match_when_configured():
    own = Transport(None, tls=True, certificate=cert("CP-1", org="Nordlys CPO"))
    kwargs = {"required": 3, "transport": own, "charge_point_id": "CP-1", "password_ok": False}
    assert admission(**kwargs, has_password=False, organisation="Nordlys CPO") == 3
    refused = admission(**kwargs, has_password=False, organisation="Another CPO")
    assert isinstance(refused, Refusal) and "organisation" in refused.reason


def test_refusal_reasons_name_the_attack_and_cut_what_the_attacker_wrote():
    long_name = "X" * 500
    forged = Transport(None, tls=True, certificate=cert(long_name))
    refused = admission(
        required=1, transport=forged, charge_point_id="CP-1", password_ok=True, has_password=True
    )
    assert refused.reason.startswith("certificate for another id")
    assert len(refused.reason) < 120
    downgrade = admission(
        required=2, transport=WS, charge_point_id="CP-1", password_ok=True, has_password=True
    )
    assert downgrade.reason == "downgrade: profile 2 needs TLS"
