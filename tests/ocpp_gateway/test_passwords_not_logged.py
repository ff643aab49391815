"""The gateway never logs a charger's password, even with every log switched to DEBUG."""

from __future__ import annotations

import base64
import signal

from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from ocpp.v16 import call as call16

from tests.factories import make_charger
from tests.helpers import stop
from tests.ocpp_gateway.conftest import basic_auth, open_client, ws_url
from tests.ocpp_gateway.test_connection_limits import try_open

RIGHT = "Right-Pw-7c41e9"
WRONG = "Wrong-Guess-0b52d8"


def secrets_of(cp_id: str) -> list[str]:
    forms = []
    for password in (RIGHT, WRONG):
        forms.append(password)
        for user in (cp_id, "SOMEONE-ELSE"):
            forms.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    return forms


def test_wrong_and_right_passwords_never_reach_the_log(gateway_process, runner):
    gw = gateway_process("gw-pw", LOG_LEVEL="DEBUG", OCPP_FRAME_LOG_LEVEL="DEBUG")
    # Hashed the way production hashes (the tests' own fast hasher is unknown to the
    # gateway process).
    charger = make_charger(is_connected=False)
    charger.password_hash = make_password(RIGHT, hasher=PBKDF2PasswordHasher())
    charger.save(update_fields=["password_hash"])
    cp_id = charger.charge_point_id
    url = ws_url(gw.port, cp_id)

    attempts = [
        basic_auth(cp_id, WRONG),
        basic_auth("SOMEONE-ELSE", RIGHT),
        {"Authorization": f"Basic {RIGHT}"},  # not even base64
        {"Authorization": f"Bearer {RIGHT}"},
    ]
    for headers in attempts:
        kind, response = try_open(runner, url, headers)
        assert kind == "refused" and response.status_code == 401

    cp, ws, _ = runner.run(open_client(ws_url(gw.port), cp_id, headers=basic_auth(cp_id, RIGHT)))
    boot = call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
    assert runner.run(cp.call(boot)).status == "Accepted"
    runner.run(ws.close())
    assert stop(gw.proc, signal.SIGTERM) == 0

    log = gw.output()
    # Logging was on: the refusals, the debug log of the handshake and the frames are there.
    assert log.count(f"{cp_id}: refused, ") == len(attempts)
    assert "< Authorization: [masked]" in log
    assert "BootNotification" in log
    for secret in secrets_of(cp_id):
        assert secret not in log, f"the gateway log contains {secret!r}"
