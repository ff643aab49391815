"""A fresh machine: `make test` gets what it needs or stops first with one line per thing.

The real scripts/prereqs.py runs as a subprocess in a controlled environment; its
PREREQS_* hooks stand in for "not root" and for a Playwright without network.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.prereqs import _PLAYWRIGHT_PATH, BROWSER_LINE
from tests.helpers import ROOT, free_port

SCRIPT = ROOT / "scripts" / "prereqs.py"


def fake_executable(path: Path, body: str = "exit 0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def clean_env(tmp_path: Path, **extra) -> dict:
    """No browser anywhere, not root, Playwright's download dir empty."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CHROMIUM_PATH", "DATABASE_URL", "REDIS_URL", "MAKEFLAGS", "MAKELEVEL")
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    env.update(
        PATH=str(bin_dir),
        PREREQS_ROOT="0",
        PREREQS_SYSTEM_CHROMIUM="",
        PLAYWRIGHT_BROWSERS_PATH=str(tmp_path / "ms-playwright"),
    )
    env.update(extra)
    return env


def prereqs(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prereqs_python_refuses_an_old_interpreter_with_one_line(tmp_path):
    done = prereqs("python", env=clean_env(tmp_path, PREREQS_FAKE_PYTHON="3.11.7"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Python 3.12 or newer" in lines[0] and "found 3.11.7" in lines[0]
    assert "pyenv install 3.13" in lines[0]

    ok = prereqs("python", env=clean_env(tmp_path, PREREQS_FAKE_PYTHON="3.13.0"))
    assert (ok.returncode, ok.stderr) == (0, "")


def test_browser_ladder_prefers_chromium_path_then_debian_then_playwright(tmp_path):
    explicit = fake_executable(tmp_path / "explicit" / "chrome")
    system = fake_executable(tmp_path / "usr-bin" / "chromium")
    on_path = fake_executable(tmp_path / "bin" / "chromium-browser")

    def found(**extra):
        done = prereqs("browser", env=clean_env(tmp_path, **extra))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert found(CHROMIUM_PATH=str(explicit), PREREQS_SYSTEM_CHROMIUM=str(system)) == str(explicit)
    assert found(PREREQS_SYSTEM_CHROMIUM=str(system)) == str(system)
    assert found() == str(on_path)

    # Nothing of the system's: Playwright's own download, where Playwright looks for it.
    on_path.unlink()
    env = clean_env(tmp_path)
    where = subprocess.run(
        [sys.executable, "-c", _PLAYWRIGHT_PATH], env=env, capture_output=True, text=True
    )
    fake_executable(Path(where.stdout.strip()))
    assert found() == "playwright"


def test_browser_missing_without_root_and_without_network_stops_with_one_line(tmp_path):
    calls = tmp_path / "calls.txt"
    playwright = fake_executable(tmp_path / "fake-playwright", f'echo "$@" >> {calls}\nexit 1')
    done = prereqs("browser", env=clean_env(tmp_path, PREREQS_PLAYWRIGHT=str(playwright)))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [BROWSER_LINE]
    assert (
        "apt-get install chromium" in BROWSER_LINE and "playwright install chromium" in BROWSER_LINE
    )
    # It did try Playwright's own download (no --with-deps: that needs root).
    assert calls.read_text().split() == ["install", "chromium"]


def test_unreachable_postgres_and_redis_are_reported_together_before_anything_runs(tmp_path):
    make = shutil.which("make")
    assert make, "make is a prerequisite of the README's commands"
    env = clean_env(tmp_path)
    env["PATH"] = os.environ["PATH"]  # make, msgfmt and the venv as a user has them
    done = subprocess.run(
        [
            make,
            "test",
            "NO_BROWSER=1",
            f"TEST_DATABASE_URL=postgres://postgres@127.0.0.1:{free_port()}/portal_nowhere",
            f"TEST_REDIS_URL=redis://127.0.0.1:{free_port()}/0",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith(("make:", "make["))]
    assert len(ours) == 2, done.stderr
    assert "needs PostgreSQL at 127.0.0.1:" in ours[0] and "TEST_DATABASE_URL" in ours[0]
    assert "needs Redis at 127.0.0.1:" in ours[1] and "TEST_REDIS_URL" in ours[1]
    assert "pytest" not in done.stdout and "passed" not in done.stdout
    assert "compilemessages" not in done.stdout


def test_ci_run_installs_no_browser_of_its_own():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    code = "\n".join(line for line in ci.splitlines() if not line.lstrip().startswith("#"))
    assert "chromium" not in code and "gettext" not in code and "playwright" not in code
    commands = [line.strip() for line in ci.splitlines() if line.strip().startswith("make ")]
    assert [c.split()[1] for c in commands] == ["lint", "test", "soak"]


@pytest.mark.e2e  # it launches the browser: left out with the other browser tests
def test_e2e_conftest_uses_the_prereqs_finder(tmp_path):
    """The browser fixture launches what the finder gives, and fails (never skips) without."""
    test_file = tmp_path / "test_browser_fixture.py"
    test_file.write_text("def test_launches(browser):\n    assert browser.version\n")

    def run_pytest(env):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "tests.e2e.conftest",
                "--rootdir",
                str(ROOT),
                "-c",
                str(ROOT / "pyproject.toml"),
                str(test_file),
            ],
            env=dict(env, COLUMNS="1000"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )

    missing = run_pytest(clean_env(tmp_path))
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert BROWSER_LINE in missing.stdout and "1 error" in missing.stdout

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    launched = run_pytest(clean_env(tmp_path, CHROMIUM_PATH=chromium))
    assert "1 passed" in launched.stdout, launched.stdout + launched.stderr
