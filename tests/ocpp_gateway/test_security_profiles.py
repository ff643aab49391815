"""Security profiles at the handshake: the floor per charger and the certificate binding.

Real certificates (devpki), real TLS sockets, `ocpp`'s ChargePoint and raw websockets.
Every refusal here is what a charger sees: 401 with the same body whatever the reason.
"""

from __future__ import annotations

import base64
import datetime
import logging
import urllib.parse

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chargers.models import Charger
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import basic_auth, open_client, ws_url
from tests.ocpp_gateway.pki import wss_url

PASSWORD = "a-long-ocpp-password-1"


def try_open(runner, url, ctx=None, headers=None):
    """("open", websocket) or ("refused", HTTP response) for one handshake."""

    async def attempt():
        try:
            ws = await connect(
                url, ssl=ctx, subprotocols=["ocpp1.6"], additional_headers=headers or {}
            )
        except InvalidStatus as exc:
            return "refused", exc.response
        return "open", ws

    return runner.run(attempt())


def charger(cp_id, profile, password=PASSWORD):
    return make_charger(
        charge_point_id=cp_id, security_profile=profile, password=password, is_connected=False
    )


def refused_401(result) -> bool:
    kind, response = result
    return kind == "refused" and response.status_code == 401


@pytest.fixture
def tls_gateway(make_gateway, pki):
    return make_gateway(tls=pki.config(), plain_port=0)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_profile_3_charger_with_its_own_certificate_connects_and_boots(
    tls_gateway, runner, pki, caplog, version
):
    caplog.set_level(logging.INFO, logger="ocpp_gateway")
    row = charger("CP-P3", 3, password=None)
    ctx = pki.client_context(pki.charger("CP-P3"))
    cp, ws, _ = runner.run(open_client(wss_url(tls_gateway), "CP-P3", version, ssl=ctx))
    if version == "1.6":
        boot = call16.BootNotification(charge_point_model="Pulsar", charge_point_vendor="Wallbox")
    else:
        boot = call201.BootNotification(
            charging_station={"model": "Pulsar", "vendor_name": "Wallbox"}, reason="PowerUp"
        )
    assert runner.run(cp.call(boot)).status == "Accepted"
    wait_for(lambda: Charger.objects.get(pk=row.pk).is_connected, message="connected")
    assert f"CP-P3: connected (OCPP {version}, profile 3, certificate 0x" in caplog.text
    runner.run(ws.close())


def test_a_certificate_for_another_charge_point_id_is_refused_with_401_and_logged(
    tls_gateway, runner, pki, caplog
):
    charger("CP-VICTIM", 1)
    charger("CP-THIEF", 3, password=None)
    thief = pki.client_context(pki.charger("CP-THIEF"))  # a good certificate, for itself
    # With the victim's right password too: a certificate naming another id is the attack.
    assert refused_401(
        try_open(
            runner, wss_url(tls_gateway, "CP-VICTIM"), thief, basic_auth("CP-VICTIM", PASSWORD)
        )
    )
    assert "CP-VICTIM: refused, certificate for another id ('CP-THIEF')" in caplog.text
    assert not Charger.objects.get(charge_point_id="CP-VICTIM").is_connected


def test_profile_3_charger_without_a_certificate_is_refused_with_401(tls_gateway, runner, pki):
    charger("CP-P3", 3)
    result = try_open(
        runner, wss_url(tls_gateway, "CP-P3"), pki.client_context(), basic_auth("CP-P3", PASSWORD)
    )
    assert refused_401(result)


def test_profile_2_charger_over_plain_ws_is_refused_with_401(tls_gateway, runner, caplog):
    charger("CP-P2", 2)
    url = ws_url(tls_gateway.plain_port, "CP-P2")
    assert refused_401(try_open(runner, url, headers=basic_auth("CP-P2", PASSWORD)))
    assert "CP-P2: refused, downgrade: profile 2 needs TLS" in caplog.text


def test_profile_3_charger_over_tls_with_only_its_password_is_refused(tls_gateway, runner, pki):
    charger("CP-P3", 3)
    url = wss_url(tls_gateway, "CP-P3")
    assert refused_401(try_open(runner, url, pki.client_context(), basic_auth("CP-P3", PASSWORD)))


def test_profile_2_charger_over_tls_with_its_password_connects(tls_gateway, runner, pki):
    charger("CP-P2", 2)
    url = wss_url(tls_gateway, "CP-P2")
    kind, ws = try_open(runner, url, pki.client_context(), basic_auth("CP-P2", PASSWORD))
    assert kind == "open"
    runner.run(ws.close())
    assert refused_401(try_open(runner, url, pki.client_context(), basic_auth("CP-P2", "wrong")))


def test_profile_1_charger_may_use_tls_too(tls_gateway, runner, pki):
    charger("CP-P1", 1)
    url = wss_url(tls_gateway, "CP-P1")
    kind, ws = try_open(runner, url, pki.client_context(), basic_auth("CP-P1", PASSWORD))
    assert kind == "open"
    runner.run(ws.close())
    kind, ws = try_open(
        runner, ws_url(tls_gateway.plain_port, "CP-P1"), None, basic_auth("CP-P1", PASSWORD)
    )
    assert kind == "open"
    runner.run(ws.close())


def test_profile_3_ignores_a_basic_auth_header(tls_gateway, runner, pki):
    charger("CP-P3", 3)
    ctx = pki.client_context(pki.charger("CP-P3"))
    kind, ws = try_open(runner, wss_url(tls_gateway, "CP-P3"), ctx, basic_auth("CP-P3", "wrong"))
    assert kind == "open"
    runner.run(ws.close())


def test_a_certificate_with_two_common_names_is_refused(tls_gateway, runner, pki, caplog):
    charger("CP-P3", 3)
    ctx = pki.client_context(pki.write(pki.ca.issue(("CP-P3", "CP-OTHER")), "two-cns"))
    assert refused_401(try_open(runner, wss_url(tls_gateway, "CP-P3"), ctx))
    assert "certificate with 2 common names" in caplog.text


def test_a_san_equal_to_the_id_does_not_replace_the_common_name(tls_gateway, runner, pki):
    charger("CP-P3", 3)
    leaf = pki.ca.issue("SOMETHING-ELSE", dns=["CP-P3"])
    ctx = pki.client_context(pki.write(leaf, "san"))
    assert refused_401(try_open(runner, wss_url(tls_gateway, "CP-P3"), ctx))
    # No CN at all, only the SAN: an empty subject wants a critical SAN, so strict X.509
    # refuses it during TLS already; either way nobody connects as CP-P3.
    nameless = pki.client_context(pki.write(pki.ca.issue(None, dns=["CP-P3"]), "nameless"))
    with pytest.raises(Exception):  # noqa: B017 - a TLS refusal, whichever form it takes
        runner.run(connect(wss_url(tls_gateway, "CP-P3"), ssl=nameless, subprotocols=["ocpp1.6"]))
    assert not Charger.objects.get(charge_point_id="CP-P3").is_connected


def test_the_certificates_organisation_must_match_when_configured(make_gateway, runner, pki):
    gateway = make_gateway(tls=pki.config(), client_organisation="Nordlys CPO")
    charger("CP-P3", 3)
    theirs = pki.client_context(pki.charger("CP-P3", org="Another CPO"))
    assert refused_401(try_open(runner, wss_url(gateway, "CP-P3"), theirs))
    ours = pki.client_context(pki.charger("CP-P3", org="Nordlys CPO"))
    kind, ws = try_open(runner, wss_url(gateway, "CP-P3"), ours)
    assert kind == "open"
    runner.run(ws.close())


def test_refusals_look_the_same_whatever_the_reason(tls_gateway, runner, pki):
    charger("CP-P1", 1)
    charger("CP-P2", 2)
    answers = {
        "wrong password": try_open(
            runner, wss_url(tls_gateway, "CP-P1"), pki.client_context(), basic_auth("CP-P1", "x")
        ),
        "another id's certificate": try_open(
            runner, wss_url(tls_gateway, "CP-P1"), pki.client_context(pki.charger("CP-P2"))
        ),
        "downgrade": try_open(
            runner, ws_url(tls_gateway.plain_port, "CP-P2"), None, basic_auth("CP-P2", PASSWORD)
        ),
    }

    def seen(result):
        kind, response = result
        headers = {k: v for k, v in response.headers.raw_items() if k.lower() != "date"}
        return kind, response.status_code, sorted(headers.items()), response.body

    first, *rest = map(seen, answers.values())
    assert first[1] == 401
    assert all(other == first for other in rest), answers.keys()


def test_x_forwarded_proto_from_an_untrusted_peer_does_not_make_plain_ws_tls(make_gateway, runner):
    gateway = make_gateway(trusted_proxies=("10.9.9.9",), proxy_terminates_tls=True)
    charger("CP-P2", 2)
    headers = {"X-Forwarded-Proto": "https", **basic_auth("CP-P2", PASSWORD)}
    assert refused_401(try_open(runner, ws_url(gateway, "CP-P2"), headers=headers))


def _nginx(leaf) -> str:
    return urllib.parse.quote(leaf.cert_pem.decode(), safe="")


def _haproxy(leaf) -> str:
    return base64.b64encode(leaf.der).decode()


@pytest.mark.parametrize("encode", [_nginx, _haproxy], ids=["nginx", "haproxy"])
def test_behind_a_tls_terminating_proxy_the_forwarded_certificate_binds_the_identity(
    make_gateway, runner, pki, encode
):
    # The proxy (on loopback, trusted by default) verified chain and CRL, and says so.
    gateway = make_gateway(proxy_terminates_tls=True)
    charger("CP-P3", 3)
    own = {"X-Forwarded-Proto": "https", "X-Client-Cert": encode(pki.ca.issue("CP-P3"))}
    kind, ws = try_open(runner, ws_url(gateway, "CP-P3"), headers=own)
    assert kind == "open"
    runner.run(ws.close())
    other = {**own, "X-Client-Cert": encode(pki.ca.issue("CP-OTHER"))}
    assert refused_401(try_open(runner, ws_url(gateway, "CP-P3"), headers=other))
    garbage = {**own, "X-Client-Cert": "not%20a%20certificate"}
    assert refused_401(try_open(runner, ws_url(gateway, "CP-P3"), headers=garbage))


def test_a_forwarded_certificate_counts_only_from_a_trusted_peer_with_the_switch_on(
    make_gateway, runner, pki
):
    charger("CP-P3", 3)
    own = {"X-Forwarded-Proto": "https", "X-Client-Cert": _haproxy(pki.ca.issue("CP-P3"))}
    switch_off = make_gateway()
    assert refused_401(try_open(runner, ws_url(switch_off, "CP-P3"), headers=own))
    untrusted = make_gateway(trusted_proxies=("10.9.9.9",), proxy_terminates_tls=True)
    assert refused_401(try_open(runner, ws_url(untrusted, "CP-P3"), headers=own))


def test_the_connection_records_its_profile_and_certificate_expiry(
    tls_gateway, runner, pki, client
):
    from tenancy.models import Membership
    from tests.factories import make_member

    row = charger("CP-P3", 3, password=None)
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=10)
    leaf = pki.ca.issue("CP-P3", not_after=soon)
    kind, ws = try_open(
        runner, wss_url(tls_gateway, "CP-P3"), pki.client_context(pki.write(leaf, "p3"))
    )
    assert kind == "open"
    wait_for(lambda: Charger.objects.get(pk=row.pk).is_connected, message="connected")
    row.refresh_from_db()
    assert row.connection_security_profile == 3
    assert abs((row.certificate_expires_at - soon).total_seconds()) < 1
    # The charger page says what it connected with, and that the certificate ends soon.
    client.force_login(make_member(row.group, Membership.Role.USER))
    page = client.get(f"/chargers/{row.pk}/").content.decode()
    assert "profil 3, certifikat udløber" in page
    assert "forny certifikatet" in page
    runner.run(ws.close())

    # A profile 2 connection afterwards: TLS, no certificate; the record follows it.
    Charger.objects.filter(pk=row.pk).update(security_profile=2)
    row.set_ocpp_password(PASSWORD)
    row.save(update_fields=["password_hash"])
    kind, ws = try_open(
        runner, wss_url(tls_gateway, "CP-P3"), pki.client_context(), basic_auth("CP-P3", PASSWORD)
    )
    assert kind == "open"
    wait_for(
        lambda: Charger.objects.get(pk=row.pk).connection_security_profile == 2,
        message="the new connection recorded",
    )
    assert Charger.objects.get(pk=row.pk).certificate_expires_at is None
    runner.run(ws.close())


def test_raising_a_connected_chargers_profile_closes_its_weaker_socket(tls_gateway, runner, pki):
    from chargers import manage_services
    from tenancy.models import Membership
    from tests.factories import make_member

    row = charger("CP-UP", 1)
    admin = make_member(row.group, Membership.Role.ADMIN)
    plain = ws_url(tls_gateway.plain_port, "CP-UP")
    kind, weak = try_open(runner, plain, headers=basic_auth("CP-UP", PASSWORD))
    assert kind == "open"
    kind, other = try_open(
        runner, wss_url(tls_gateway, "CP-UP"), pki.client_context(), basic_auth("CP-UP", PASSWORD)
    )
    assert kind == "open"  # over TLS now (this socket replaced the first)
    runner.run(weak.wait_closed())
    kind, weak = try_open(runner, plain, headers=basic_auth("CP-UP", PASSWORD))
    assert kind == "open"  # and back to plain ws: profile 1 allows both
    wait_for(
        lambda: Charger.objects.get(pk=row.pk).connection_security_profile == 1,
        message="profile 1 socket",
    )

    # An admin raises it to profile 2 in the portal: web service → channel → gateway.
    manage_services.charger_update(actor=admin, charger=row, security_profile=2)
    runner.run(weak.wait_closed(), timeout=20)
    assert weak.close_code == 1008 and weak.close_reason == "security profile raised"
    # It comes back over TLS with its password and is accepted; plain ws is refused now.
    assert refused_401(try_open(runner, plain, headers=basic_auth("CP-UP", PASSWORD)))
    kind, strong = try_open(
        runner, wss_url(tls_gateway, "CP-UP"), pki.client_context(), basic_auth("CP-UP", PASSWORD)
    )
    assert kind == "open"
    wait_for(
        lambda: Charger.objects.get(pk=row.pk).connection_security_profile == 2,
        message="profile 2 socket",
    )
    # Raised again to 3: the profile 2 socket closes too; lowering never closes anything.
    manage_services.charger_update(actor=admin, charger=row, security_profile=3)
    runner.run(strong.wait_closed(), timeout=20)
    assert strong.close_code == 1008
    ctx = pki.client_context(pki.charger("CP-UP"))
    kind, best = try_open(runner, wss_url(tls_gateway, "CP-UP"), ctx)
    assert kind == "open"
    manage_services.charger_update(actor=admin, charger=row, security_profile=1)
    assert heartbeat_ok(runner, best)
    runner.run(best.close())


def heartbeat_ok(runner, ws) -> bool:
    import json

    async def beat():
        await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
        return json.loads(await ws.recv())[:2] == [3, "hb"]

    return runner.run(beat())


@pytest.mark.parametrize("profile", [1, 2, 3])
def test_the_simulator_connects_with_each_profile(tls_gateway, sims, pki, profile):
    from ocpp_gateway.simulator import client_ssl_context

    row = charger(f"CP-SIM-{profile}", profile)
    cert = pki.charger(row.charge_point_id) if profile == 3 else (None, None)
    sim = sims.start(
        row.charge_point_id,
        wss_url(tls_gateway),
        password=PASSWORD,
        security_profile=profile,
        ssl_context=client_ssl_context(pki.ca_file, *cert),
    )
    proved = max(profile, 2)  # over wss:// a profile 1 charger proves TLS and its password
    # The connection and the boot are recorded by separate writes: wait for both.
    wait_for(
        lambda: (
            (c := Charger.objects.get(pk=row.pk)).connection_security_profile == proved
            and c.last_boot_at is not None
        ),
        message=f"the simulator connected with profile {profile} and booted",
    )
    assert sim.stats.handshake_failures == 0


def test_the_simulator_refuses_a_profile_its_url_cannot_carry(pki):
    from ocpp_gateway.simulator import SimulatedCharger, client_ssl_context

    with pytest.raises(ValueError, match="needs a wss:// URL"):
        SimulatedCharger("CP-1", "ws://127.0.0.1:9000/ocpp", security_profile=2)
    with pytest.raises(ValueError, match="needs an SSL context"):
        SimulatedCharger("CP-1", "wss://localhost:9443/ocpp", security_profile=3)
    ctx = client_ssl_context(pki.ca_file)
    with pytest.raises(ValueError, match="needs a wss:// URL"):
        SimulatedCharger("CP-1", "ws://127.0.0.1:9000/ocpp", ssl_context=ctx)
