"""Charger (machine) credentials: a keyed hash that costs microseconds to check.

A charger's OCPP password is 20 random characters the portal made (about 119 bits):
nobody can guess it, so it needs no deliberately slow hash the way people's passwords
do. What protects a leaked table is the server-side key: without it, the stored
strings say nothing. The stored form (``Charger.password_hash``)::

    ocpp-hmac-sha256$<kid>$<salt>$<mac>

where ``mac = HMAC-SHA-256(key, b"ocpp-password\\0" + salt + password)``, ``salt`` is 16
random bytes per charger (two chargers with one password store different strings),
``kid`` names the key (the first 8 hex digits of its SHA-256), and salt and mac are
unpadded URL-safe base64. Keys come from ``OCPP_PASSWORD_KEY`` (current) and
``OCPP_PASSWORD_KEY_FALLBACKS`` (older keys: they still verify, and the gateway moves
a charger to the current key on its next successful connect).

Strings made by Django's password hashers (PBKDF2, before this module) are "slow":
`verify` leaves them to `verify_slow`, which only a small dedicated pool may run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher

logger = logging.getLogger("chargers")

PREFIX = "ocpp-hmac-sha256"
_CONTEXT = b"ocpp-password\x00"
SALT_BYTES = 16
# The salt and mac `dummy_verify` works against: an unknown charge point id costs the
# same as a wrong password.
_DUMMY_SALT = b"\x00" * SALT_BYTES
_DUMMY_MAC = b"\x00" * hashlib.sha256().digest_size


@dataclass(frozen=True)
class Verdict:
    ok: bool  # the password matches (only ever true when not slow)
    upgrade: bool = False  # matches, but under an older key: store `make(raw)` instead
    slow: bool = False  # a password-hasher string: ask `verify_slow` (a dedicated pool)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@functools.lru_cache(maxsize=8)
def _keyring(current: str, fallbacks: tuple[str, ...]) -> tuple[str, dict[str, bytes]]:
    keys = [k.encode() for k in (current, *fallbacks) if k]
    if not keys:
        raise ValueError("OCPP_PASSWORD_KEY is empty")
    ring: dict[str, bytes] = {}
    for key in keys:
        ring.setdefault(key_id(key), key)
    return key_id(keys[0]), ring


def keyring() -> tuple[str, dict[str, bytes]]:
    """(the current key's id, {key id: key}) from the settings."""
    return _keyring(
        settings.OCPP_PASSWORD_KEY, tuple(getattr(settings, "OCPP_PASSWORD_KEY_FALLBACKS", ()))
    )


def _mac(key: bytes, salt: bytes, raw: str) -> bytes:
    return hmac.new(key, _CONTEXT + salt + raw.encode("utf-8"), hashlib.sha256).digest()


def make(raw: str) -> str:
    """The stored string for password `raw`, under the current key and a fresh salt."""
    kid, ring = keyring()
    salt = secrets.token_bytes(SALT_BYTES)
    return f"{PREFIX}${kid}${_b64(salt)}${_b64(_mac(ring[kid], salt, raw))}"


def is_keyed(encoded: str) -> bool:
    return encoded.startswith(PREFIX + "$")


_unknown_kids_logged: set[str] = set()


def verify(encoded: str, raw: str) -> Verdict:
    """Check `raw` against a stored string, in constant time for keyed strings."""
    if not encoded or raw is None:
        return Verdict(False)
    if not is_keyed(encoded):
        return Verdict(False, slow=_is_password_hasher(encoded))
    parts = encoded.split("$")
    if len(parts) != 4:
        return Verdict(False)
    _prefix, kid, salt_text, mac_text = parts
    current, ring = keyring()
    key = ring.get(kid)
    if key is None:
        if kid not in _unknown_kids_logged:
            _unknown_kids_logged.add(kid)
            logger.error("charger credential under an unknown key (id %s)", kid)
        return Verdict(False)
    try:
        salt, mac = _unb64(salt_text), _unb64(mac_text)
    except (ValueError, TypeError):
        return Verdict(False)
    ok = hmac.compare_digest(_mac(key, salt, raw), mac)
    return Verdict(ok, upgrade=ok and kid != current)


def dummy_verify(raw: str) -> bool:
    """The work of one check, for a charge point id nobody knows; always False."""
    current, ring = keyring()
    hmac.compare_digest(_mac(ring[current], _DUMMY_SALT, raw or ""), _DUMMY_MAC)
    return False


def _is_password_hasher(encoded: str) -> bool:
    try:
        identify_hasher(encoded)
    except ValueError:
        return False
    return True


def verify_slow(encoded: str, raw: str) -> bool:
    """A string from Django's password hashers (legacy): deliberately slow, never on a loop."""
    return bool(raw) and _is_password_hasher(encoded) and check_password(raw, encoded)


def check(encoded: str, raw: str | None) -> bool:
    """Whether `raw` is the password (synchronous callers: forms, tools, tests)."""
    if raw is None:
        return False
    verdict = verify(encoded, raw)
    if verdict.slow:
        return verify_slow(encoded, raw)
    return verdict.ok
