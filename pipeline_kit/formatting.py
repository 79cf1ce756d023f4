"""Formatting numbers for people: percentages, money, days, with a dash for missing values."""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["FORMAT", "fmt_days", "fmt_money", "fmt_pct", "missing"]


def missing(x: float | None) -> bool:
    """True for ``None`` and NaN: a value shown as a dash.

    >>> missing(None), missing(float("nan")), missing(0.0)
    (True, True, False)
    """
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage; missing -> '–'.

    >>> fmt_pct(0.3295), fmt_pct(0.3295, digits=0), fmt_pct(None)
    ('33.0%', '33%', '–')
    """
    return "–" if missing(x) else f"{x:.{digits}%}"


def fmt_money(x: float | None, currency: str = "$") -> str:
    """An amount: millions with two decimals, else whole units; missing -> '–'.

    >>> fmt_money(1234567), fmt_money(21986), fmt_money(-21986, "€"), fmt_money(float("nan"))
    ('$1.23M', '$21,986', '-€21,986', '–')
    """
    if x is None or missing(x):
        return "–"
    sign = "-" if x < 0 else ""
    if abs(x) >= 1e6:
        return f"{sign}{currency}{abs(x) / 1e6:,.2f}M"
    return f"{sign}{currency}{abs(x):,.0f}"


def fmt_days(x: float | None) -> str:
    """A duration in days, one decimal; missing -> '–'.

    >>> fmt_days(50.73), fmt_days(None)
    ('50.7 days', '–')
    """
    return "–" if missing(x) else f"{x:,.1f} days"


FORMAT: dict[str, Callable[[float | None], str]] = {
    "share": fmt_pct,
    "currency": fmt_money,
    "days": fmt_days,
    "count": lambda x: "–" if missing(x) else f"{x:,.0f}",
    "hours": lambda x: "–" if missing(x) else f"{x:,.1f} h",
    "ratio": lambda x: "–" if missing(x) else f"{x:,.2f}x",
    "difference": lambda x: "–" if x is None or missing(x) else f"{x * 100:+.1f} pts",
}
