"""Formatting numbers for people: percentages, money, days, with a dash for missing values."""

from __future__ import annotations

import math

__all__ = ["FORMAT", "fmt_days", "fmt_money", "fmt_pct", "missing"]


def missing(x: float | None) -> bool:
    """True for ``None`` and NaN: a value shown as a dash."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """0.3295 -> '33.0%'; missing -> '–'."""
    return "–" if missing(x) else f"{x:.{digits}%}"


def fmt_money(x: float | None, currency: str = "$") -> str:
    """1234567 -> '$1.23M', 21986 -> '$21,986'; missing -> '–'."""
    if x is None or missing(x):
        return "–"
    sign = "-" if x < 0 else ""
    if abs(x) >= 1e6:
        return f"{sign}{currency}{abs(x) / 1e6:,.2f}M"
    return f"{sign}{currency}{abs(x):,.0f}"


def fmt_days(x: float | None) -> str:
    """50.73 -> '50.7 days'; missing -> '–'."""
    return "–" if missing(x) else f"{x:,.1f} days"


FORMAT = {
    "share": fmt_pct,
    "currency": fmt_money,
    "days": fmt_days,
    "count": lambda x: "–" if missing(x) else f"{x:,.0f}",
    "hours": lambda x: "–" if missing(x) else f"{x:,.1f} h",
    "ratio": lambda x: "–" if missing(x) else f"{x:,.2f}x",
    "difference": lambda x: "–" if missing(x) else f"{x * 100:+.1f} pts",
}
