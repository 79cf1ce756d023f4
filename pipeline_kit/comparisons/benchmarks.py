"""Benchmarks: the table of reference values and which value applies to a group.

Also the trailing quarters a group is compared with.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.periods import Period

__all__ = ["external_benchmark", "load_benchmarks", "trailing_period"]


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


def external_benchmark(bench: pl.DataFrame, metric: str, scope: str) -> tuple[float | None, str]:
    """The reference value of ``metric`` for the group ``scope`` and where it comes from.

    The first row of ``bench`` for the metric whose scope is the group itself, else ``all``,
    else empty; its source, or "benchmarks table" when the row names none. ``(None, "")``
    when no row applies.
    """
    rows = bench.filter(pl.col("metric") == metric)
    for scope_value in (scope, "all"):
        hit = rows.filter(pl.col("scope") == scope_value)
        if hit.height:
            return float(hit["value"][0]), str(hit["source"][0] or "benchmarks table")
    hit = rows.filter(pl.col("scope").is_null())
    if hit.height:
        return float(hit["value"][0]), str(hit["source"][0] or "benchmarks table")
    return None, ""


def trailing_period(period: Period, quarters: int) -> Period | None:
    """The ``quarters`` quarters before ``period`` as one period (labelled ``first..last``).

    None when ``period`` is not a quarter (no trailing comparison then).
    """
    try:
        first = period.shift(-quarters)
    except ValueError:
        return None
    return Period(first.start, period.shift(-1).end, f"{first.label}..{period.shift(-1).label}")
