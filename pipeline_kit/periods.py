"""Explicit reporting periods.

Nothing in pipeline_kit is relative to "today": a period is always named
(``"2025-Q4"``, ``"2025-11"``, ``"2025-H2"``, ``"2025"`` or ``"2025-10-01..2025-12-31"``)
and a snapshot always has an explicit ``as_of`` date, by default the period's last day.
Re-running an analysis on the same data therefore gives the same numbers.

>>> p = Period.parse("2025-Q4")
>>> p.start, p.end
(datetime.date(2025, 10, 1), datetime.date(2025, 12, 31))
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

__all__ = ["Period", "parse_date"]

_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_HALF = re.compile(r"^(\d{4})-?H([12])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")


def parse_date(value: str | dt.date | None) -> dt.date | None:
    """Parse an ISO date (``YYYY-MM-DD``); ``None`` stays ``None``.

    >>> parse_date(" 2025-12-31"), parse_date(None)
    (datetime.date(2025, 12, 31), None)
    >>> parse_date("31/12/2025")
    Traceback (most recent call last):
    ...
    ValueError: not an ISO date (YYYY-MM-DD): '31/12/2025'
    """
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


ALL = "all"


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class Period:
    """A closed calendar interval ``[start, end]`` (both days included) with a label."""

    start: dt.date
    end: dt.date
    label: str

    @classmethod
    def parse(cls, value: str | Period) -> Period:
        """Parse a period: a quarter, half, month, year, date range, or ``all``.

        ``2025-Q4``, ``2025-H2``, ``2025-11``, ``2025``, ``2025-10-01..2025-12-31`` or ``all``
        (every deal in the export, dated or not: the whole-export figures of a win/loss
        analysis, and the only period of an export without dates).

        Parameters
        ----------
        value
            The period's name (case and surrounding spaces do not matter), or a
            :class:`Period`, returned as it is.

        Returns
        -------
        Period
            The closed interval ``[start, end]``, labelled with the canonical spelling.

        Raises
        ------
        ValueError
            For text that is none of these (or a month 13, or a range that ends before it
            starts), saying which spellings are understood.

        Examples
        --------
        >>> Period.parse("2025-h2")
        Period(start=datetime.date(2025, 7, 1), end=datetime.date(2025, 12, 31), label='2025-H2')
        >>> Period.parse("2024-02").days  # a leap year
        29
        >>> str(Period.parse("2025-10-01..2025-10-14"))
        '2025-10-01..2025-10-14'
        """
        if isinstance(value, Period):
            return value
        text = str(value).strip()
        if text.lower() == ALL:
            return cls.all()
        if m := _QUARTER.match(text):
            year, q = int(m[1]), int(m[2])
            return cls(dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q), f"{year}-Q{q}")
        if m := _HALF.match(text):
            year, h = int(m[1]), int(m[2])
            return cls(dt.date(year, 6 * h - 5, 1), _month_end(year, 6 * h), f"{year}-H{h}")
        if m := _MONTH.match(text):
            year, month = int(m[1]), int(m[2])
            if not 1 <= month <= 12:
                raise ValueError(f"invalid month in period {text!r}")
            return cls(dt.date(year, month, 1), _month_end(year, month), text)
        if m := _YEAR.match(text):
            year = int(m[1])
            return cls(dt.date(year, 1, 1), dt.date(year, 12, 31), text)
        if m := _RANGE.match(text):
            start, end = parse_date(m[1]), parse_date(m[2])
            assert start is not None and end is not None
            if end < start:
                raise ValueError(f"period {text!r} ends before it starts")
            return cls(start, end, f"{start}..{end}")
        raise ValueError(
            f"cannot read period {text!r}: use 2025-Q4, 2025-H2, 2025-11, 2025 "
            "or 2025-10-01..2025-12-31"
        )

    def following(self) -> Period:
        """The period right after this one, of the same kind.

        The next quarter, month, half or year (a month after 2025-11 is 2025-12, all 31 days);
        for a date range, as many days.

        >>> str(Period.parse("2025-Q4").following()), str(Period.parse("2025-12").following())
        ('2026-Q1', '2026-01')
        >>> str(Period.parse("2025-10-01..2025-10-14").following())
        '2025-10-15..2025-10-28'
        """
        label = self.label
        if _QUARTER.match(label):
            return self.shift(1)
        if m := _MONTH.match(label):
            year, month = int(m[1]), int(m[2])
            return Period.parse(f"{year + month // 12}-{month % 12 + 1:02d}")
        if m := _HALF.match(label):
            year, half = int(m[1]), int(m[2])
            return Period.parse(f"{year + half // 2}-H{half % 2 + 1}")
        if m := _YEAR.match(label):
            return Period.parse(str(int(m[1]) + 1))
        start = self.end + dt.timedelta(days=1)
        return Period.parse(f"{start}..{start + dt.timedelta(days=self.days - 1)}")

    @classmethod
    def all(cls) -> Period:
        """The whole export: contains every row, also rows without a date.

        >>> Period.all().is_all, Period.parse("all") == Period.all()
        (True, True)
        """
        return cls(dt.date.min, dt.date.max, ALL)

    @property
    def is_all(self) -> bool:
        """Whether this is :meth:`all`, the whole export."""
        return self.label == ALL

    @classmethod
    def quarter_of(cls, day: dt.date) -> Period:
        """The calendar quarter containing ``day``.

        >>> str(Period.quarter_of(dt.date(2025, 11, 15)))
        '2025-Q4'
        """
        return cls.parse(f"{day.year}-Q{(day.month - 1) // 3 + 1}")

    @property
    def days(self) -> int:
        """Number of days in the period, both ends included."""
        return (self.end - self.start).days + 1

    def contains(self, column: str | pl.Expr) -> pl.Expr:
        """Polars expression: is the date in ``column`` inside the period.

        Always true for :meth:`all`, also for a missing date.

        >>> days = pl.DataFrame({"d": [dt.date(2025, 9, 30), dt.date(2025, 10, 1), None]})
        >>> days.select(Period.parse("2025-Q4").contains("d"))["d"].to_list()
        [False, True, None]
        >>> days.select(Period.all().contains("d"))["d"].to_list()
        [True, True, True]
        """
        col = pl.col(column) if isinstance(column, str) else column
        if self.is_all:
            return col.is_null() | col.is_not_null()  # true on every row, also when summed
        return col.is_between(pl.lit(self.start), pl.lit(self.end), closed="both")

    def shift(self, quarters: int) -> Period:
        """The quarter ``quarters`` quarters away (only for quarter periods).

        >>> str(Period.parse("2025-Q1").shift(-1)), str(Period.parse("2025-Q1").shift(5))
        ('2024-Q4', '2026-Q2')
        """
        m = _QUARTER.match(self.label)
        if not m:
            raise ValueError(f"shift() needs a quarter period, got {self.label!r}")
        index = int(m[1]) * 4 + int(m[2]) - 1 + quarters
        return Period.parse(f"{index // 4}-Q{index % 4 + 1}")

    def __str__(self) -> str:
        return self.label


def latest_complete_quarter(last_day: dt.date) -> Period:
    """The last calendar quarter that ends on or before ``last_day``.

    >>> str(latest_complete_quarter(dt.date(2025, 11, 15)))
    '2025-Q3'
    >>> str(latest_complete_quarter(dt.date(2025, 12, 31)))
    '2025-Q4'
    """
    q = Period.quarter_of(last_day)
    return q if q.end == last_day else q.shift(-1)


def resolve_period(
    period: str | Period, last_day: dt.date | None, first_day: dt.date | None = None
) -> Period:
    """Like :meth:`Period.parse`, plus ``"latest"``: the last complete quarter of the data.

    When the data holds no complete quarter (an export of a few weeks), ``latest`` is the
    quarter of its last day, incomplete; the whole export, ``all``, when the data has no dates.

    >>> str(resolve_period("latest", dt.date(2025, 11, 15), dt.date(2024, 1, 1)))
    '2025-Q3'
    >>> str(resolve_period("latest", dt.date(2025, 11, 15), dt.date(2025, 10, 20)))
    '2025-Q4'
    >>> str(resolve_period("latest", None))
    'all'
    """
    if isinstance(period, str) and period.strip().lower() == "latest":
        if last_day is None:
            return Period.all()
        quarter = latest_complete_quarter(last_day)
        if first_day is not None and quarter.end < first_day:
            return Period.quarter_of(last_day)
        return quarter
    return Period.parse(period)


def check_covered(
    period: Period,
    as_of: dt.date | None,
    first_day: dt.date | None,
    last_day: dt.date | None,
    *,
    undated: bool = False,
) -> None:
    """Raise a ``ValueError`` in plain words when ``period`` does not fit the data.

    That is, when it has no overlap with the data (first_day to last_day), or when ``as_of``
    lies after the data's last day, where a snapshot would show deals as open that may have
    closed since the export.
    """
    if undated and not period.is_all:
        raise ValueError(
            f"this export has no dates, so the period {period.label} cannot be picked out of "
            "it: use --period all (or latest) for the whole export"
        )
    if first_day is None or last_day is None or period.is_all:
        return
    if period.start > last_day or period.end < first_day:
        raise ValueError(
            f"the period {period.label} ({period.start} to {period.end}) is outside the data, "
            f"which runs from {first_day} to {last_day}: pick a period inside it, or "
            "--period latest (the last complete quarter in the data)"
        )
    if as_of is not None and as_of > last_day:
        raise ValueError(
            f"--as-of {as_of} is after the last date in the data ({last_day}): a snapshot "
            "then would show deals as open that may have closed since the export; use a "
            f"date up to {last_day}"
        )
