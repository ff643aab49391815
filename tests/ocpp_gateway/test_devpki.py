"""The development PKI makes certificates that real TLS (OpenSSL, strict mode) accepts."""

from __future__ import annotations

import asyncio
import datetime
import ssl

from cryptography import x509
from cryptography.x509.oid import NameOID
from django.core.management import call_command

from ocpp_gateway.devpki import DevCA, server_leaf

REFUSED = "refused during TLS"


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext):
    """One real TLS handshake on loopback: the client certificate the server's app saw
    (None: none sent), or REFUSED when the app never got the connection."""

    async def run():
        seen = {}

        async def serve(reader, writer):
            seen["peer"] = writer.get_extra_info("ssl_object").getpeercert()
            writer.write(b"ok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
            )
            # TLS 1.3: the server judges the client's certificate after the client is done.
            await reader.read()
            writer.close()
        except (ssl.SSLError, ConnectionError):
            pass
        finally:
            server.close()
        return seen.get("peer", REFUSED)

    return asyncio.run(asyncio.wait_for(run(), 20))


def contexts(folder, cp_id=None, *, crl=False):
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "server.crt", folder / "server.key")
    server.verify_mode = ssl.CERT_OPTIONAL
    server.load_verify_locations(folder / "ca.pem")
    if crl:
        server.load_verify_locations(folder / "crl.pem")
        server.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    client = ssl.create_default_context(cafile=folder / "ca.pem")
    if cp_id:
        client.load_cert_chain(folder / f"{cp_id}.crt", folder / f"{cp_id}.key")
    return server, client


def test_make_dev_certs_writes_a_ca_a_server_chain_and_one_client_certificate_per_id(tmp_path):
    call_command("make_dev_certs", out=str(tmp_path), ids="CP-1,CP-2", org="Nordlys CPO")
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "ca.pem", "crl.pem", "server.crt", "server.key", "CP-1.crt", "CP-1.key", "CP-2.crt",
        "CP-2.key",
    }  # fmt: skip
    assert oct((tmp_path / "CP-1.key").stat().st_mode & 0o777) == "0o600"
    # Strict-mode OpenSSL accepts them, an empty CRL included.
    server, client = contexts(tmp_path, "CP-2", crl=True)
    peer = handshake(server, client)
    assert dict(x[0] for x in peer["subject"]) == {
        "commonName": "CP-2",
        "organizationName": "Nordlys CPO",
    }
    # Without a client certificate TLS still completes (the gateway decides later).
    server, client = contexts(tmp_path)
    assert handshake(server, client) is None


def test_an_expired_or_revoked_or_foreign_certificate_fails_the_tls_handshake(tmp_path):
    ca, other = DevCA(), DevCA("Someone else")
    ca.write(tmp_path)
    server_leaf(ca, ["localhost"]).write(tmp_path, "server")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    ca.issue("OLD", not_before=past, not_after=past + datetime.timedelta(hours=1)).write(
        tmp_path, "OLD"
    )
    revoked = ca.issue("GONE")
    revoked.write(tmp_path, "GONE")
    other.issue("FOREIGN").write(tmp_path, "FOREIGN")
    (tmp_path / "crl.pem").write_bytes(ca.crl([revoked]))
    for cp_id in ("OLD", "GONE", "FOREIGN"):
        server, client = contexts(tmp_path, cp_id, crl=True)
        assert handshake(server, client) == REFUSED, cp_id
    # The same CA's good certificate passes the same server.
    ca.issue("GOOD").write(tmp_path, "GOOD")
    server, client = contexts(tmp_path, "GOOD", crl=True)
    assert handshake(server, client) != REFUSED


def test_leaves_carry_what_the_gateway_checks():
    ca = DevCA()
    leaf = ca.issue(("CP-A", "CP-B"), org="CPO", dns=["cp-a.example"])
    cns = [a.value for a in leaf.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    assert cns == ["CP-A", "CP-B"]
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["cp-a.example"]
    shared = ca.issue("S1").key
    assert ca.issue("S2", key=shared).key is shared  # many certificates, one key (bench)
