"""Benchmarks: the table of reference values and which value applies to a group.

Also the trailing quarters a group is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.periods import Period

__all__ = [
    "Reference",
    "external_benchmark",
    "external_reference",
    "load_benchmarks",
    "trailing_period",
]


def load_benchmarks(source: str | Path | pl.DataFrame | None, ds: Dataset) -> pl.DataFrame:
    """The benchmarks to use: a frame, a CSV path, or the dataset's own benchmarks table."""
    if source is None:
        return ds.tables.get(
            "benchmarks",
            pl.DataFrame(
                schema={
                    "metric": pl.String,
                    "value": pl.Float64,
                    "scope": pl.String,
                    "source": pl.String,
                }
            ),
        )
    if isinstance(source, pl.DataFrame):
        return source
    from pipeline_kit.adapters.base import RawTable, read_table_file
    from pipeline_kit.loading import validate_table
    from pipeline_kit.schema import describe_rule

    path = Path(source)
    if not path.exists():
        raise DataError(
            problem="benchmarks file not found", fix="pass an existing CSV file", file=str(path)
        )
    good, bad = validate_table(RawTable("benchmarks", read_table_file(path), str(path)))
    if bad.height:
        row = bad.row(0, named=True)
        problem, fix = describe_rule(row["rules"][0], "benchmarks")
        raise DataError(
            problem=f"{bad.height} row(s) unusable: {problem}",
            fix=fix,
            file=str(path),
            examples=[f"line {row['source_row']}: {row['record']}"],
        )
    return good


@dataclass(frozen=True)
class Reference:
    """One benchmark row: its value, where it comes from, and how well it is known.

    ``low``/``high``: the benchmark's 95% interval (the uncertainty of the figure); ``n``: the
    deals (or other units) it was measured on. Either lets a test treat the benchmark as the
    estimate it is; without them it is treated as exact.
    """

    value: float
    source: str
    low: float | None = None
    high: float | None = None
    n: int | None = None

    @property
    def exact(self) -> bool:
        """True when the row states neither ``n`` nor a ``low``-``high`` interval."""
        return self.n is None and (self.low is None or self.high is None)


def external_reference(bench: pl.DataFrame, metric: str, scope: str) -> Reference | None:
    """The benchmark row of ``metric`` for the group ``scope``; None when no row applies.

    The first row for the metric whose scope is the group itself, else ``all``, else empty;
    its source, or "benchmarks table" when the row names none; ``low``, ``high`` and ``n``
    where the table has them (a low-high pair that does not hold the value, or a non-positive
    n, is ignored rather than trusted).
    """
    rows = bench.filter(pl.col("metric") == metric)
    for hit in (
        rows.filter(pl.col("scope") == scope),
        rows.filter(pl.col("scope") == "all"),
        rows.filter(pl.col("scope").is_null()),
    ):
        if hit.height:
            row = hit.row(0, named=True)
            value = float(row["value"])
            low, high, n = row.get("low"), row.get("high"), row.get("n")
            if low is None or high is None or not float(low) <= value <= float(high):
                low = high = None
            return Reference(
                value,
                str(row.get("source") or "benchmarks table"),
                None if low is None else float(low),
                None if high is None else float(high),
                int(n) if n is not None and n > 0 else None,
            )
    return None


def external_benchmark(bench: pl.DataFrame, metric: str, scope: str) -> tuple[float | None, str]:
    """The reference value of ``metric`` for the group ``scope`` and where it comes from.

    The value and source of :func:`external_reference`; ``(None, "")`` when no row applies.
    """
    ref = external_reference(bench, metric, scope)
    return (None, "") if ref is None else (ref.value, ref.source)


def trailing_period(period: Period, quarters: int) -> Period | None:
    """The ``quarters`` quarters before ``period`` as one period (labelled ``first..last``).

    None when ``period`` is not a quarter (no trailing comparison then).
    """
    try:
        first = period.shift(-quarters)
    except ValueError:
        return None
    return Period(first.start, period.shift(-1).end, f"{first.label}..{period.shift(-1).label}")
