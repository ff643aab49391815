"""The handshake refuses, with a plain HTTP status, all but known chargers speaking OCPP."""

import json
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.factories import make_charger
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


def test_unknown_charge_point_id_is_refused_with_404(gateway, runner):
    response = refusal(runner, ws_url(gateway, "NOT-IN-DB"))
    assert response is not None and response.status_code == 404


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
    # Again: the second check of the same credentials is answered from the cache.
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
