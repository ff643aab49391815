"""What `make test`, `make soak` and `make run` need, checked (and installed where we can)
before anything runs.

Standard library only and Python 3.8-compatible syntax: its first job is telling a user
whose `python3` is too old which Python to install. Every problem found is reported as one
line on stderr, all of them together, and the exit status is 2; nothing is printed on
success but one `ok:` line per thing it installed.

    python scripts/prereqs.py python                       # before the venv is made
    .venv/bin/python scripts/prereqs.py test --database URL --redis URL [--no-browser]
    .venv/bin/python scripts/prereqs.py run --redis URL
    .venv/bin/python scripts/prereqs.py browser [--check]  # prints the browser found

The browser is looked for in this order: $CHROMIUM_PATH; a system Chromium (Debian's
/usr/bin/chromium, or `chromium`/`chromium-browser` on PATH); Playwright's own download.
Missing, it is installed: as root on Debian with apt (Playwright's download site is often
unreachable where apt works), as root elsewhere with `playwright install --with-deps`, and
without root with `playwright install chromium`.

Environment hooks used only by tests/config/test_prereqs.py: PREREQS_FAKE_PYTHON (a
version string taken as this interpreter's), PREREQS_ROOT (1/0), PREREQS_OS_RELEASE (path
of an os-release file), PREREQS_SYSTEM_CHROMIUM (os.pathsep-separated well-known paths),
PREREQS_PLAYWRIGHT (the command that stands for `python -m playwright`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
MINIMUM = (3, 12)
SYSTEM_CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PLAYWRIGHT = "playwright"  # find_chromium()'s answer for "Playwright's managed browser"
BROWSER_LINE = (
    "make test needs a browser for tests/e2e: run as root on Debian (apt-get install "
    'chromium), or ".venv/bin/python -m playwright install chromium" with network access; '
    "or make test NO_BROWSER=1 to leave the browser tests out."
)
_PLAYWRIGHT_PATH = (
    "from playwright.sync_api import sync_playwright\n"
    "p = sync_playwright().start()\n"
    "print(p.chromium.executable_path)\n"
    "p.stop()\n"
)


class Problems:
    """One line per missing thing, printed together at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def finish(self) -> int:
        for line in self.lines:
            print(line, file=sys.stderr)
        return 2 if self.lines else 0


def _is_root() -> bool:
    hook = os.environ.get("PREREQS_ROOT")
    if hook is not None:
        return hook == "1"
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _os_release() -> dict:
    path = Path(os.environ.get("PREREQS_OS_RELEASE", "/etc/os-release"))
    values = {}
    try:
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
    except OSError:
        pass
    return values


def _is_debian() -> bool:
    return _os_release().get("ID") == "debian"


def _has_apt() -> bool:
    return shutil.which("apt-get") is not None


def _run(argv: list, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def _apt_install(*packages: str) -> bool:
    """apt-get install as root on Debian; True when it worked."""
    if not (_is_root() and _is_debian() and _has_apt()):
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if done.returncode != 0:
            return False
    print("ok: installed " + " ".join(packages) + " with apt-get")
    return True


# Python ------------------------------------------------------------------------------


def check_python(problems: Problems) -> None:
    fake = os.environ.get("PREREQS_FAKE_PYTHON")
    version = tuple(int(p) for p in fake.split(".")[:3]) if fake else sys.version_info[:3]
    shown = ".".join(str(p) for p in version)
    pinned = ROOT / ".python-version"
    wanted = pinned.read_text().strip() if pinned.exists() else "3.13"
    if version[:2] < MINIMUM:
        problems.add(
            f"make needs Python {MINIMUM[0]}.{MINIMUM[1]} or newer (.python-version asks for "
            f"{wanted}), found {shown} at {sys.executable}: pyenv install {wanted}, or "
            f"apt-get install python{wanted}-venv."
        )
        return
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError:
        problems.add(
            f"Python {shown} at {sys.executable} cannot make a virtualenv: apt-get install "
            f"python{version[0]}.{version[1]}-venv."
        )


# Services ----------------------------------------------------------------------------


def check_msgfmt(problems: Problems) -> None:
    if shutil.which("msgfmt") or _apt_install("gettext"):
        return
    problems.add("make needs msgfmt to build the Danish catalogues: apt-get install gettext.")


def _reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_postgres(problems: Problems, url: str) -> None:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return  # SQLite (make run): nothing to reach
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    shown = f"{host}:{port}"
    try:
        import psycopg
    except ImportError:
        if not _reachable(host, port):
            problems.add(_postgres_line(shown, "nothing answers there"))
        return
    try:
        # The server's own database: the test database itself is created by the tests.
        psycopg.connect(
            host=host,
            port=port,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or "") or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg.Error as exc:
        # psycopg says "connection failed: connection to server at …: Connection refused".
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = first.rsplit(": ", 1)[-1].strip() or first
        problems.add(_postgres_line(shown, reason))


def _postgres_line(shown: str, reason: str) -> str:
    return (
        f"make test needs PostgreSQL at {shown} ({reason}): install and start it "
        "(apt-get install postgresql), or set TEST_DATABASE_URL."
    )


def check_redis(problems: Problems, url: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.settimeout(3)
            if parts.password:
                user = unquote(parts.username or "default")
                sock.sendall(_resp("AUTH", user, unquote(parts.password)))
                sock.recv(256)
            sock.sendall(_resp("PING"))
            answer = sock.recv(256)
    except OSError as exc:
        answer = str(exc).encode()
    if not answer.startswith(b"+PONG"):
        reason = answer.decode(errors="replace").strip().lstrip("-+") or "no answer"
        problems.add(
            f"make needs Redis at {host}:{port} ({reason}): redis-server --daemonize yes, "
            "or set TEST_REDIS_URL (REDIS_URL for make run)."
        )


def _resp(*words: str) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


# Browser -----------------------------------------------------------------------------


def _executable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _system_chromiums() -> list:
    hook = os.environ.get("PREREQS_SYSTEM_CHROMIUM")
    if hook is not None:
        return [p for p in hook.split(os.pathsep) if p]
    return list(SYSTEM_CHROMIUM)


def _playwright_command() -> list:
    hook = os.environ.get("PREREQS_PLAYWRIGHT")
    return shlex.split(hook) if hook else [sys.executable, "-m", "playwright"]


def _playwright_browser() -> bool:
    """Playwright's own Chromium is downloaded already."""
    try:
        done = _run([sys.executable, "-c", _PLAYWRIGHT_PATH], timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    path = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return done.returncode == 0 and _executable(path)


def find_chromium() -> str | None:
    """A Chromium to launch: its path, PLAYWRIGHT for Playwright's own, or None."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if _executable(explicit):
        return explicit
    for path in _system_chromiums():
        if _executable(path):
            return path
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if _playwright_browser():
        return PLAYWRIGHT
    return None


def ensure_browser(problems: Problems, check: bool = False) -> str | None:
    found = find_chromium()
    if found is None and _apt_install("chromium"):  # root on Debian only
        found = find_chromium()
    if found is None:
        argv = [*_playwright_command(), "install"]
        if _is_root():
            argv.append("--with-deps")  # Ubuntu's chromium package is a snap shim
        try:
            done = _run([*argv, "chromium"])
            if done.returncode == 0:
                print("ok: installed Playwright's Chromium")
                found = find_chromium()
        except (OSError, subprocess.TimeoutExpired):
            pass
    if found is None:
        problems.add(BROWSER_LINE)
        return None
    if check and not _launches(found):
        problems.add(
            f"the browser at {found} does not start (missing shared libraries?): "
            "sudo .venv/bin/python -m playwright install-deps chromium."
        )
        return None
    return found


def _launches(found: str) -> bool:
    """Start the browser headless once (Playwright's own: its path resolves and runs)."""
    if found == PLAYWRIGHT:
        return _playwright_browser()
    argv = [found, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "about:blank"]
    try:
        return _run(argv, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Command line ------------------------------------------------------------------------


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("python")
    test = sub.add_parser("test")
    test.add_argument("--database", required=True)
    test.add_argument("--redis", required=True)
    test.add_argument("--no-browser", action="store_true")
    run = sub.add_parser("run")
    run.add_argument("--redis", required=True)
    browser = sub.add_parser("browser")
    browser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)

    problems = Problems()
    if args.what == "python":
        check_python(problems)
    elif args.what == "test":
        check_msgfmt(problems)
        check_postgres(problems, args.database)
        check_redis(problems, args.redis)
        if not args.no_browser:
            ensure_browser(problems)
    elif args.what == "run":
        check_msgfmt(problems)
        check_redis(problems, args.redis)
    else:
        found = ensure_browser(problems, check=args.check)
        if found:
            print(found)
    return problems.finish()


if __name__ == "__main__":
    sys.exit(main())
