"""Whose address a request comes from: one resolver for the web and the gateway."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from tenancy.proxies import ClientAddress, TrustedProxies, limit_key, trusted_proxies
from tests.config.test_settings import run_settings

PROXIES = TrustedProxies.parse(["127.0.0.1", "::1", "172.30.0.10"])


def test_an_untrusted_peer_is_its_own_address_whatever_it_forwards():
    client = PROXIES.resolve("198.51.100.7", ["203.0.113.1", "10.0.0.1, 172.30.0.10"])
    assert client == ClientAddress("198.51.100.7", via_proxy=False, forwarded=False)


def test_behind_a_trusted_proxy_the_rightmost_untrusted_forwarded_address_is_the_client():
    # The client put a lie in front; our proxy appended the address it really saw.
    client = PROXIES.resolve("172.30.0.10", ["203.0.113.66, 198.51.100.7"])
    assert client == ClientAddress("198.51.100.7", via_proxy=True, forwarded=True)
    # Several header lines count as one list, in order.
    assert PROXIES.resolve("172.30.0.10", ["203.0.113.66", "198.51.100.8"]).address == (
        "198.51.100.8"
    )


def test_a_chain_of_trusted_proxies_is_walked_from_the_right():
    # client -> 172.30.0.10 (edge) -> 127.0.0.1 (local) -> us
    client = PROXIES.resolve("127.0.0.1", ["6.6.6.6, 198.51.100.7, 172.30.0.10"])
    assert client.address == "198.51.100.7"
    # Only trusted entries: the left-most one we can vouch for.
    assert PROXIES.resolve("127.0.0.1", ["172.30.0.10"]).address == "172.30.0.10"


@pytest.mark.parametrize(
    "header",
    ["unknown", "not-an-address", "1.2.3.4.5", "<script>", "999.1.1.1", "_hidden"],
)
def test_garbage_in_x_forwarded_for_never_becomes_the_client_address(header):
    client = PROXIES.resolve("172.30.0.10", [header])
    assert client.address == "172.30.0.10"  # the last address we could vouch for
    assert client.forwarded  # a header was there: the proxy is not speaking for itself
    # Garbage further left is never reached; garbage between stops the walk.
    assert PROXIES.resolve("127.0.0.1", [f"{header}, 198.51.100.7"]).address == "198.51.100.7"
    assert PROXIES.resolve("127.0.0.1", [f"198.51.100.7, {header}"]).address == "127.0.0.1"


def test_ports_and_brackets_are_stripped_from_forwarded_entries():
    assert PROXIES.resolve("127.0.0.1", ["198.51.100.7:5678"]).address == "198.51.100.7"
    assert PROXIES.resolve("127.0.0.1", ["[2001:db8::5]:443"]).address == "2001:db8::5"


def test_a_trusted_proxy_without_a_header_speaks_for_itself():
    assert PROXIES.resolve("127.0.0.1", []) == ClientAddress(
        "127.0.0.1", via_proxy=True, forwarded=False
    )


def test_ipv4_mapped_ipv6_peers_match_ipv4_proxy_entries():
    client = PROXIES.resolve("::ffff:172.30.0.10", ["::ffff:198.51.100.7"])
    assert client == ClientAddress("198.51.100.7", via_proxy=True, forwarded=True)
    assert "::ffff:127.0.0.1" in PROXIES
    assert PROXIES.resolve("::ffff:198.51.100.9", []).address == "198.51.100.9"


def test_trusted_proxies_accept_cidr_networks():
    proxies = TrustedProxies.parse(["10.0.0.0/8", "2001:db8:1::/48"])
    assert "10.200.3.4" in proxies and "2001:db8:1:ff::1" in proxies
    assert "11.0.0.1" not in proxies and "2001:db8:2::1" not in proxies
    assert proxies.resolve("10.9.9.9", ["198.51.100.7, 10.1.1.1"]).address == "198.51.100.7"
    with pytest.raises(ImproperlyConfigured, match="proxy.example"):
        TrustedProxies.parse(["proxy.example"])


def test_ipv6_clients_share_a_limit_key_per_64():
    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("198.51.100.7") == "198.51.100.7"
    assert limit_key("::ffff:198.51.100.7") == "198.51.100.7"


def test_the_setting_is_read_afresh_when_it_changes(settings):
    settings.TRUSTED_PROXIES = ["10.1.2.3"]
    assert "10.1.2.3" in trusted_proxies() and "127.0.0.1" not in trusted_proxies()
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert "127.0.0.1" in trusted_proxies()


def test_the_old_ocpp_trusted_proxies_variable_still_works():
    code = "from django.conf import settings; print(settings.TRUSTED_PROXIES)"
    old = run_settings({"OCPP_TRUSTED_PROXIES": "10.0.0.5,10.0.0.6"}, code)
    assert old.returncode == 0, old.stderr
    assert old.stdout.strip() == "['10.0.0.5', '10.0.0.6']"
    both = run_settings(
        {"OCPP_TRUSTED_PROXIES": "10.0.0.5", "TRUSTED_PROXIES": "10.9.0.0/16"}, code
    )
    assert both.stdout.strip() == "['10.9.0.0/16']"
    default = run_settings({}, code.replace("print(", "print(settings.OCPP_TRUSTED_PROXIES, "))
    assert default.stdout.strip() == "['127.0.0.1', '::1'] ['127.0.0.1', '::1']"
