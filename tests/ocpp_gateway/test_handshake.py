"""The handshake refuses, with a plain HTTP status, all but known chargers speaking OCPP."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from django.contrib.auth.hashers import make_password
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chargers import credentials
from chargers.models import Charger
from ocpp_gateway.simulator import Fleet, SimulatedCharger
from tests.factories import make_charger, make_group
from tests.helpers import wait_for
from tests.ocpp_gateway.conftest import basic_auth, ws_url


def refusal(runner, url, subprotocols=("ocpp1.6",), headers=None):
    async def attempt():
        try:
            ws = await connect(
                url, subprotocols=list(subprotocols), additional_headers=headers or {}
            )
        except InvalidStatus as exc:
            return exc.response
        await ws.close()
        return None

    return runner.run(attempt())


def opened_subprotocol(runner, url, subprotocols, headers=None):
    async def attempt():
        async with connect(url, subprotocols=subprotocols, additional_headers=headers or {}) as ws:
            return ws.subprotocol

    return runner.run(attempt())


def _answer(response):
    headers = sorted((k, v) for k, v in response.headers.raw_items() if k.lower() != "date")
    return response.status_code, headers, response.body


def test_unknown_id_and_wrong_password_get_the_same_401_with_www_authenticate(gateway, runner):
    make_charger(charge_point_id="CP-KNOWN", password="Abcdefghij0123456789", is_connected=False)
    answers = [
        refusal(runner, ws_url(gateway, "NOT-IN-DB"), headers=basic_auth("NOT-IN-DB", "guess")),
        refusal(runner, ws_url(gateway, "CP-KNOWN"), headers=basic_auth("CP-KNOWN", "guess")),
        refusal(runner, ws_url(gateway, "NOT-IN-DB")),
        refusal(runner, ws_url(gateway, "CP-KNOWN")),
    ]
    first = _answer(answers[0])
    assert first[0] == 401
    assert ("WWW-Authenticate", 'Basic realm="OCPP", charset="UTF-8"') in first[1]
    assert all(_answer(a) == first for a in answers[1:])


def test_unknown_id_and_wrong_password_do_the_same_work(gateway, runner, monkeypatch):
    """One lookup and one keyed hash on both paths, so the time does not tell them apart."""
    make_charger(charge_point_id="CP-SAME", password="Abcdefghij0123456789", is_connected=False)
    hashes = []
    mac = credentials._mac
    monkeypatch.setattr(credentials, "_mac", lambda *a: hashes.append(1) or mac(*a))
    work = {}
    for cp_id in ("NOT-IN-DB", "CP-SAME") * 3:
        hashes.clear()
        lookups = runner.call(lambda: gateway.handshake.lookup.asked)
        response = refusal(runner, ws_url(gateway, cp_id), headers=basic_auth(cp_id, "guess"))
        assert response.status_code == 401
        asked = runner.call(lambda: gateway.handshake.lookup.asked) - lookups
        work.setdefault(cp_id, set()).add((asked, len(hashes)))
    assert work["NOT-IN-DB"] == work["CP-SAME"] == {(1, 1)}


def test_path_outside_ocpp_is_404(gateway, runner):
    make_charger(charge_point_id="CP-PATH", is_connected=False)
    response = refusal(runner, f"ws://127.0.0.1:{gateway.port}/other/CP-PATH")
    assert response.status_code == 404


def test_missing_ocpp_subprotocol_is_refused_with_400(gateway, runner):
    make_charger(charge_point_id="CP-NOPROTO", is_connected=False)
    assert refusal(runner, ws_url(gateway, "CP-NOPROTO"), subprotocols=()).status_code == 400
    response = refusal(runner, ws_url(gateway, "CP-NOPROTO"), subprotocols=("ocpp1.5", "chat"))
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers", [None, basic_auth("CP-PW", "wrong"), basic_auth("CP-X", "s3cret")]
)
def test_missing_or_wrong_password_is_refused_with_401(gateway, runner, headers):
    make_charger(charge_point_id="CP-PW", password="s3cret", is_connected=False)
    response = refusal(runner, ws_url(gateway, "CP-PW"), headers=headers)
    assert response is not None and response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_right_password_opens_the_socket(gateway, runner):
    make_charger(charge_point_id="CP-PW-OK", password="s3cret", is_connected=False)
    url = ws_url(gateway, "CP-PW-OK")
    assert opened_subprotocol(runner, url, ["ocpp1.6"], basic_auth("CP-PW-OK", "s3cret")) == (
        "ocpp1.6"
    )
    # Again: nothing remembered between connects, the same check each time.
    assert opened_subprotocol(runner, url, ["ocpp1.6"], basic_auth("CP-PW-OK", "s3cret")) == (
        "ocpp1.6"
    )


def test_charger_without_password_needs_no_auth(gateway, runner):
    make_charger(charge_point_id="CP-OPEN", is_connected=False)
    assert opened_subprotocol(runner, ws_url(gateway, "CP-OPEN"), ["ocpp2.0.1"]) == "ocpp2.0.1"


def test_the_chargers_first_supported_subprotocol_is_chosen(gateway, runner):
    make_charger(charge_point_id="CP-NEG", is_connected=False)
    url = ws_url(gateway, "CP-NEG")
    assert opened_subprotocol(runner, url, ["ocpp2.1", "ocpp1.6", "ocpp2.0.1"]) == "ocpp1.6"
    assert opened_subprotocol(runner, url, ["ocpp2.0.1", "ocpp1.6"]) == "ocpp2.0.1"


def test_healthz_answers_while_serving(gateway):
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/healthz", timeout=5) as r:
        body = json.loads(r.read())
    assert r.status == 200
    assert body["status"] == "ok" and body["gateway"] == gateway.gateway_id


def test_plain_http_to_a_charger_url_is_not_upgraded(gateway):
    make_charger(charge_point_id="CP-HTTP", is_connected=False)
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/ocpp/CP-HTTP", timeout=5)
    assert excinfo.value.code == 400


def test_a_legacy_pbkdf2_password_connects_and_is_rewritten_as_hmac_on_that_connect(
    gateway, runner
):
    charger = make_charger(charge_point_id="CP-LEGACY", is_connected=False)
    legacy = make_password("Abcdefghij0123456789")
    Charger.objects.filter(pk=charger.pk).update(password_hash=legacy)
    url = ws_url(gateway, "CP-LEGACY")
    headers = basic_auth("CP-LEGACY", "Abcdefghij0123456789")
    assert opened_subprotocol(runner, url, ["ocpp1.6"], headers) == "ocpp1.6"

    def rewritten():
        charger.refresh_from_db()
        return credentials.is_keyed(charger.password_hash)

    wait_for(rewritten, 10, message="the legacy string replaced by a keyed hash")
    assert charger.check_ocpp_password("Abcdefghij0123456789")
    # The next connect checks the keyed hash; the old password still opens the socket.
    assert opened_subprotocol(runner, url, ["ocpp1.6"], headers) == "ocpp1.6"
    assert refusal(runner, url, headers=basic_auth("CP-LEGACY", "wrong")).status_code == 401


def test_a_wrong_password_never_rewrites_a_legacy_string(gateway, runner):
    charger = make_charger(charge_point_id="CP-LEGACY-W", is_connected=False)
    legacy = make_password("Abcdefghij0123456789")
    Charger.objects.filter(pk=charger.pk).update(password_hash=legacy)
    url = ws_url(gateway, "CP-LEGACY-W")
    for password in ("wrong", "Abcdefghij012345678"):
        response = refusal(runner, url, headers=basic_auth("CP-LEGACY-W", password))
        assert response.status_code == 401
    charger.refresh_from_db()
    assert charger.password_hash == legacy


def test_password_checks_run_on_the_loop_or_the_legacy_thread_never_the_default_pool(
    gateway, runner, monkeypatch
):
    """Keyed hashes are checked on the event loop, legacy ones on their own thread: the
    default pool the ocpp library validates frames in never waits for a password."""
    threads: list[tuple[str, str]] = []
    verify, verify_slow = credentials.verify, credentials.verify_slow

    def spy_verify(encoded, raw):
        threads.append(("keyed", threading.current_thread().name))
        return verify(encoded, raw)

    def spy_verify_slow(encoded, raw):
        threads.append(("legacy", threading.current_thread().name))
        return verify_slow(encoded, raw)

    monkeypatch.setattr(credentials, "verify", spy_verify)
    monkeypatch.setattr(credentials, "verify_slow", spy_verify_slow)
    make_charger(charge_point_id="CP-KEYED", password="Abcdefghij0123456789", is_connected=False)
    legacy = make_charger(charge_point_id="CP-OLD", is_connected=False)
    Charger.objects.filter(pk=legacy.pk).update(password_hash=make_password("Zyxwvutsrq9876543210"))
    for cp_id, password in (
        ("CP-KEYED", "Abcdefghij0123456789"),
        ("CP-OLD", "Zyxwvutsrq9876543210"),
    ):
        url = ws_url(gateway, cp_id)
        assert opened_subprotocol(runner, url, ["ocpp1.6"], basic_auth(cp_id, password))
    loop_thread = runner.thread.name
    assert ("keyed", loop_thread) in threads
    assert [name for kind, name in threads if kind == "legacy"] and all(
        name.startswith("ocpp-legacy-hash") for kind, name in threads if kind == "legacy"
    )


def test_a_storm_of_200_passworded_chargers_on_a_fresh_gateway_all_connect_within_the_open_timeout(
    make_gateway, runner
):
    group = make_group()
    chargers = [
        make_charger(group=group, password=f"Pw{i:018d}", is_connected=False) for i in range(200)
    ]
    gateway = make_gateway(open_timeout=10)
    fleet = Fleet(
        [
            SimulatedCharger(
                c.charge_point_id,
                ws_url(gateway),
                password=f"Pw{i:018d}",
                heartbeat_seconds=60,
                backoff_base=0.2,
            )
            for i, c in enumerate(chargers)
        ]
    )
    running = runner.submit(fleet.run())
    try:
        wait_for(
            lambda: Charger.objects.filter(group=group, is_connected=True).count() == 200,
            timeout=60,
            message="every passworded charger connected",
        )
        stats = runner.call(lambda: [c.stats.to_dict() for c in fleet.chargers.values()])
        assert [s["handshake_failures"] for s in stats] == [0] * 200
        assert [s["connects"] for s in stats] == [1] * 200
    finally:
        runner.call(fleet.stop)
        running.result(30)
