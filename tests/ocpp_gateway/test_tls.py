"""wss:// in the gateway itself: real certificates (devpki), real TLS sockets, real clients.

What TLS decides (the certificate's chain, validity, purpose, revocation, the protocol
version and suites) is tried here; whose certificate it is against the charger's id
and profile is test_security_profiles.py.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import urllib.request

import pytest
from django.core.exceptions import ImproperlyConfigured
from websockets.asyncio.client import connect

from chargers.models import Charger
from ocpp_gateway.devpki import server_leaf
from ocpp_gateway.tls import TlsConfig
from tests.factories import make_charger
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import ws_url
from tests.ocpp_gateway.pki import HOSTS, wss_url


def try_open(runner, url, ctx=None, subprotocol="ocpp1.6"):
    """("open", websocket) or ("refused", the exception) for one connection attempt."""

    async def attempt():
        try:
            ws = await connect(url, ssl=ctx, subprotocols=[subprotocol], open_timeout=10)
        except Exception as exc:  # TLS alert, reset, or an HTTP refusal: all a refusal here
            return "refused", exc
        return "open", ws

    return runner.run(attempt())


def heartbeat(runner, ws) -> bool:
    async def beat():
        await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
        return json.loads(await ws.recv())[:2] == [3, "hb"]

    return runner.run(beat())


def peer_certificate_serial(ws) -> int:
    from cryptography import x509

    der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def charger(db):
    return make_charger(charge_point_id="CP-TLS", is_connected=False)


def test_gateway_serves_wss_and_healthz_over_tls(make_gateway, runner, pki, charger):
    gateway = make_gateway(tls=pki.config(client_ca=False))
    ctx = pki.client_context()
    with urllib.request.urlopen(f"https://localhost:{gateway.port}/healthz", context=ctx) as r:
        assert json.loads(r.read())["status"] == "ok"
    kind, ws = try_open(runner, wss_url(gateway, "CP-TLS"), ctx)
    assert kind == "open" and heartbeat(runner, ws)
    wait_for(lambda: Charger.objects.get(pk=charger.pk).is_connected, message="connected")
    runner.run(ws.close())
    # Plain ws:// to the TLS port is no websocket.
    assert try_open(runner, ws_url(gateway, "CP-TLS"))[0] == "refused"


def test_the_plain_port_serves_ws_beside_wss(make_gateway, runner, pki, charger):
    gateway = make_gateway(tls=pki.config(client_ca=False), plain_port=0)
    assert gateway.plain_port and gateway.plain_port != gateway.port
    kind, plain = try_open(runner, ws_url(gateway.plain_port, "CP-TLS"))
    assert kind == "open" and heartbeat(runner, plain)
    kind, secure = try_open(runner, wss_url(gateway, "CP-TLS"), pki.client_context())
    assert kind == "open" and heartbeat(runner, secure)  # the newer socket wins, as ever
    runner.run(secure.close())


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_tls_below_1_2_is_refused(make_gateway, runner, pki, charger):
    gateway = make_gateway(tls=pki.config(client_ca=False))
    old = pki.client_context()
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    kind, error = try_open(runner, wss_url(gateway, "CP-TLS"), old)
    assert kind == "refused" and isinstance(error, ssl.SSLError | ConnectionError)
    wait_for(lambda: "unsupported protocol" in gateway.tls.refusals.total, message="counted")
    assert not Charger.objects.get(pk=charger.pk).is_connected


@pytest.mark.parametrize(
    "suite",
    [
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ],
)
def test_a_tls_1_2_charger_limited_to_an_ocpp_suite_connects(
    make_gateway, runner, pki, charger, suite
):
    # One RSA and one ECDSA chain in one context serve every suite the OCPP tests ask for.
    gateway = make_gateway(tls=pki.config(client_ca=False, rsa=True))
    ctx = pki.client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(suite)
    kind, ws = try_open(runner, wss_url(gateway, "CP-TLS"), ctx)
    assert kind == "open", ws
    assert ws.transport.get_extra_info("ssl_object").cipher()[0] == suite
    runner.run(ws.close())


def test_tls_refusals_are_logged_as_one_summary_line_per_interval(
    make_gateway, runner, pki, charger, caplog
):
    caplog.set_level(logging.WARNING, logger="ocpp_gateway")
    gateway = make_gateway(tls=pki.config())
    foreign = pki.client_context(pki.charger("CP-TLS", ca=pki.other_ca))
    expired = pki.client_context(pki.charger("CP-TLS", expired=True))
    for ctx in (foreign, foreign, expired):
        assert try_open(runner, wss_url(gateway, "CP-TLS"), ctx)[0] == "refused"
    line = wait_for(
        lambda: next(
            (r.getMessage() for r in caplog.records if "TLS handshakes refused" in r.getMessage()),
            None,
        ),
        message="the summary line",
    )
    assert "unable to get local issuer certificate ×2" in line
    assert "certificate has expired ×1" in line
    assert sum("TLS handshakes refused" in r.getMessage() for r in caplog.records) == 1
    assert gateway.tls.refusals.total["unable to get local issuer certificate"] == 2
    assert not Charger.objects.get(pk=charger.pk).is_connected
    # The right certificate from the right CA still gets through, after all that.
    kind, ws = try_open(
        runner, wss_url(gateway, "CP-TLS"), pki.client_context(pki.charger("CP-TLS"))
    )
    assert kind == "open"
    runner.run(ws.close())


def test_a_revoked_certificate_is_refused_once_the_crl_lists_it_without_a_restart(
    make_gateway, runner, pki, charger, caplog
):
    caplog.set_level(logging.INFO, logger="ocpp_gateway")
    gateway = make_gateway(tls=pki.config(crl=True))
    leaf = pki.ca.issue("CP-TLS")
    ctx = pki.client_context(pki.write(leaf, "soon-revoked"))
    kind, ws = try_open(runner, wss_url(gateway, "CP-TLS"), ctx)
    assert kind == "open"
    runner.run(ws.close())

    new_crl = pki.crl_file.with_suffix(".new")
    new_crl.write_bytes(pki.ca.crl([leaf]))
    os.replace(new_crl, pki.crl_file)
    wait_for(lambda: "reloaded certificates and CRL" in caplog.text, message="the reload")
    assert try_open(runner, wss_url(gateway, "CP-TLS"), ctx)[0] == "refused"
    wait_for(lambda: "certificate revoked ×1" in caplog.text, message="the refusal summary")
    # Another certificate of the same CA is not affected.
    other = pki.client_context(pki.charger("CP-TLS"))
    assert try_open(runner, wss_url(gateway, "CP-TLS"), other)[0] == "open"


def test_a_rotated_server_certificate_is_served_without_a_restart(
    make_gateway, runner, pki, charger, caplog
):
    caplog.set_level(logging.INFO, logger="ocpp_gateway")
    gateway = make_gateway(tls=pki.config(client_ca=False))
    kind, ws = try_open(runner, wss_url(gateway, "CP-TLS"), pki.client_context())
    first = peer_certificate_serial(ws)
    runner.run(ws.close())

    renewed = server_leaf(pki.ca, HOSTS)
    cert, key = pki.server_ec
    staging = renewed.write(pki.folder / "staging", "server-ec")
    os.replace(staging[1], key)
    os.replace(staging[0], cert)
    wait_for(lambda: "reloaded certificates" in caplog.text, message="the reload")
    kind, ws = try_open(runner, wss_url(gateway, "CP-TLS"), pki.client_context())
    assert kind == "open"
    assert peer_certificate_serial(ws) == renewed.cert.serial_number != first
    runner.run(ws.close())


def test_an_unreadable_new_crl_keeps_the_old_context_and_logs_an_error(
    make_gateway, runner, pki, charger, caplog
):
    caplog.set_level(logging.INFO, logger="ocpp_gateway")
    gateway = make_gateway(tls=pki.config(crl=True))
    ctx = pki.client_context(pki.charger("CP-TLS"))
    pki.crl_file.write_bytes(b"-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
    wait_for(
        lambda: any(
            r.levelno == logging.ERROR and "do not load" in r.getMessage() for r in caplog.records
        ),
        message="the error",
    )
    kind, ws = try_open(runner, wss_url(gateway, "CP-TLS"), ctx)
    assert kind == "open"  # still served with the CRL that loaded
    runner.run(ws.close())


def test_a_server_only_certificate_cannot_authenticate_a_charger(
    make_gateway, runner, pki, charger
):
    gateway = make_gateway(tls=pki.config())
    server_only = pki.write(pki.ca.issue("CP-TLS", client=False, server=True), "server-only")
    kind, _ = try_open(runner, wss_url(gateway, "CP-TLS"), pki.client_context(server_only))
    assert kind == "refused"
    wait_for(
        lambda: gateway.tls.refusals.total == {"unsuitable certificate purpose": 1},
        message="the refusal counted by its reason",
    )


def test_the_gateway_will_not_start_with_a_client_ca_but_no_certificate(pki, settings):
    settings.OCPP_TLS_CLIENT_CA = str(pki.ca_file)
    with pytest.raises(ImproperlyConfigured, match="no TLS certificate"):
        TlsConfig.from_settings()
    with pytest.raises(ImproperlyConfigured, match="pair in order"):
        TlsConfig.from_settings(certs=[str(pki.server_ec[0])], keys=[])
    with pytest.raises(ImproperlyConfigured, match="CRL needs"):
        pki.config(client_ca=False, crl=True).validate()
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        TlsConfig(chains=((pki.folder / "missing.crt", pki.server_ec[1]),)).validate()
