"""Settings come from the environment and refuse to run insecurely."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_settings(env_overrides, code="from django.conf import settings; settings.SECRET_KEY"):
    env = {
        k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "OCPP_PASSWORD_KEY")
    }
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    result = run_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_starts_with_secret_key_when_debug_is_off():
    result = run_settings(
        {"DEBUG": "0", "SECRET_KEY": "x" * 50, "OCPP_PASSWORD_KEY": "k" * 48},
        "from django.conf import settings; print(settings.SESSION_COOKIE_SECURE, settings.DEBUG)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_production_refuses_to_start_without_an_ocpp_password_key():
    result = run_settings({"DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert result.returncode != 0
    assert "OCPP_PASSWORD_KEY must be set" in result.stderr


def test_development_derives_an_ocpp_password_key_of_its_own():
    code = (
        "from django.conf import settings; "
        "print(len(settings.OCPP_PASSWORD_KEY), settings.OCPP_PASSWORD_KEY == settings.SECRET_KEY)"
    )
    result = run_settings({"DEBUG": "1"}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["64", "False"]


def test_defaults_are_danish_copenhagen_and_sqlite_in_wal_mode(tmp_path):
    code = (
        "from django.conf import settings; from django.db import connection; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(settings.LANGUAGE_CODE, settings.TIME_ZONE, connection.vendor, c.fetchone()[0])"
    )
    result = run_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["da", "Europe/Copenhagen", "sqlite", "wal"]
