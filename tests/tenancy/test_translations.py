"""The Danish catalogue is complete: a new string without a translation fails here."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DA_PO = ROOT / "locale" / "da" / "LC_MESSAGES" / "django.po"


def untranslated(po: Path) -> list[str]:
    """msgids with an empty msgstr or marked fuzzy (the header excepted)."""
    entries, current, fuzzy = [], {}, False
    key = None
    for line in po.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith(("msgid ", "msgstr ", "msgid_plural ", "msgstr[")):
            key, _, value = line.partition(" ")
            current[key] = value.strip('"')
        elif line.startswith('"') and key:
            current[key] += line.strip('"')
        elif not line.strip():
            if current.get("msgid"):
                strs = [v for k, v in current.items() if k.startswith("msgstr")]
                if fuzzy or not all(strs):
                    entries.append(current["msgid"])
            current, fuzzy, key = {}, False, None
    return entries


def test_every_string_in_the_code_has_a_danish_translation(tmp_path):
    # Re-extract the strings from the code into a copy of the catalogue, so a
    # string added to a template or module without updating the .po fails too.
    backup = tmp_path / "django.po"
    shutil.copy(DA_PO, backup)
    try:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "makemessages",
                "-l",
                "da",
                "--no-obsolete",
                "--ignore=.venv",
                "--ignore=tests",
                "-v0",
            ],
            cwd=ROOT,
            check=True,
            timeout=120,
        )
        missing = untranslated(DA_PO)
    finally:
        shutil.copy(backup, DA_PO)
    assert missing == [], f"Danish translation missing for: {missing}"


def test_the_seeds_own_danish_words_are_used():
    text = DA_PO.read_text(encoding="utf-8")
    for danish in ('msgstr "Opladere"', 'msgstr "Log ind"'):
        assert danish in text
