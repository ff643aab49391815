"""Reading settings from the environment (config/settings.py uses these)."""

from __future__ import annotations

import os


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    return int(os.getenv(name, str(default)))


def envfloat(name: str, default: float) -> float:
    return float(os.getenv(name, str(default)))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]
