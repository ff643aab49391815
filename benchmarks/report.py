"""Figures of a benchmark run: the JSON rows and the table printed at the end."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Figure:
    name: str
    unit: str
    value: float | None
    bare: float | None
    ratio: float | None
    target: str
    met: bool
    scenario: str
    scale: float
    detail: dict = field(default_factory=dict)


def ratio(ours, bare) -> float | None:
    if ours is None or not bare:
        return None
    return ours / bare


def rounded(value, digits: int = 3):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    return str(value)


def print_table(rows: list[dict]) -> None:
    header = ("figure", "value", "bare", "ratio", "target", "met")
    table = [header]
    for row in rows:
        table.append(
            (
                row["name"],
                f"{_fmt(row['value'])} {row['unit']}".strip(),
                _fmt(row["bare"]),
                _fmt(row["ratio"]) + ("×" if row["ratio"] is not None else ""),
                row["target"],
                "yes" if row["met"] else "NO",
            )
        )
        cpu = row["detail"].get("cpu_seconds")
        if cpu:
            table.append(
                (
                    "  CPU s: " + ", ".join(f"{k} {_fmt(v)}" for k, v in cpu.items()),
                    "",
                    "",
                    "",
                    "",
                    "",
                )
            )
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    print()
    for index, line in enumerate(table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
