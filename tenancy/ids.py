"""Primary keys as they arrive from forms, query strings and JSON."""

from __future__ import annotations

# The largest value a BigAutoField can hold.
MAX_ID = 2**63 - 1


def parse_id(raw) -> int | None:
    """`raw` as a primary key, or None when it cannot be one.

    Only ASCII digits count: `str.isdigit()` also passes "²", which the ORM then
    refuses with a ValueError, and an id past MAX_ID overflows SQLite.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    else:
        text = raw.strip() if isinstance(raw, str) else ""
        if not (text.isascii() and text.isdigit()):
            return None
        value = int(text)
    return value if 0 < value <= MAX_ID else None
