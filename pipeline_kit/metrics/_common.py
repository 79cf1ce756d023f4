"""Shared pieces of the metric functions: grouping, periods, empty-safe aggregation."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

import dataframely as dy
import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.periods import Period, parse_date
from pipeline_kit.stats import kaplan_meier_median

By = str | Sequence[str] | None


def group_columns(by: By) -> list[str]:
    """Normalise ``by`` (None, a column, or several) to a list of column names."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def check_by(ds: Dataset, table: str, by: list[str], output: type[dy.Schema] | None = None) -> None:
    """A clear error when a grouping column is not in ``table``, or is one of ``output``'s.

    An export's own column named like a column of the figure's frame (``won`` for the win
    rate) cannot be a group: the two would collide.
    """
    columns = ds.schema(table).names()
    missing = [c for c in by if c not in columns]
    if missing:
        usable = [c for c in columns if c not in ("source_row",) and not c.endswith("_at")]
        raise DataError(
            problem=f"cannot group by {', '.join(missing)}: no such column in {table}",
            fix=f"use one of: {', '.join(usable)}",
            file=str(ds.path),
            column=missing[0],
        )
    taken = [c for c in by if output is not None and c in output.column_names()]
    if taken:
        raise DataError(
            problem=f"cannot group by {', '.join(taken)}: the figure's frame has a column of "
            "that name, so the groups would collide with it",
            fix=f"rename the export's column (e.g. {taken[0]}_flag, with a mapping or in the "
            "frame) and group by the new name",
            file=str(ds.path),
            column=taken[0],
        )


def pipelines(ds: Dataset) -> list[str]:
    """The pipelines the deals are in (``deals.pipeline``, sorted; empty without the column)."""
    if "pipeline" not in ds.schema("deals"):
        return []
    return ds.memoised(
        ("pipelines",),
        lambda: sorted(
            ds.lazy("deals")
            .select(pl.col("pipeline").drop_nulls().unique())
            .collect()["pipeline"]
            .to_list()
        ),
    )


def stage_groups(ds: Dataset, groups: list[str]) -> list[str]:
    """``groups`` for a figure per stage: ``pipeline`` first when the deals are in several.

    Stage order means something within one pipeline only (``Proposal`` of New business is not
    before or after ``Renewal due`` of Renewals, and a stage shared by two pipelines is two
    different steps), so with more than one pipeline the stage-ordered metrics group by the
    deal's pipeline even when ``by`` does not name it. Deals without a pipeline (ambiguous,
    see :func:`pipeline_kit.load`) form their own group.
    """
    if "pipeline" in groups or len(pipelines(ds)) < 2:
        return groups
    return ["pipeline", *groups]


def aggregate(lf: pl.LazyFrame, by: list[str], aggs: list[pl.Expr]) -> pl.LazyFrame:
    """Group by ``by`` (one row per group, sorted) or, without groups, one row overall.

    Without groups the result has exactly one row even when ``lf`` is empty, so "no deals"
    reads as n = 0 rather than as a missing row.
    """
    if by:
        return lf.group_by(by).agg(aggs).sort(by, nulls_last=True)
    return lf.select(aggs)


def closed_in(period: Period) -> pl.Expr:
    """Expression over deals: won or lost with ``closed_at`` inside the period."""
    return pl.col("status").is_in(["won", "lost"]) & period.contains("closed_at")


def as_period(period: str | Period, ds: Dataset | None = None) -> Period:
    """A period label or a :class:`Period`.

    ``"latest"`` (the last complete quarter of the data, as on the command line) needs the
    dataset ``ds``.
    """
    if isinstance(period, str) and period.strip().lower() == "latest":
        if ds is None:
            raise ValueError("'latest' needs the dataset to find the last complete quarter")
        from pipeline_kit.periods import resolve_period

        return resolve_period(period, ds.last_date, ds.first_date)
    return Period.parse(period)


def as_date(value: str | dt.date | None, ds: Dataset) -> dt.date | None:
    """An ``as_of`` given as a date, an ISO string or ``"latest"``.

    ``"latest"`` is the last date in the data (a :class:`DataError` when no valid deal has a
    date); ``None`` stays ``None``.
    """
    if isinstance(value, str) and value.strip().lower() == "latest":
        if ds.last_date is None:
            raise DataError(
                problem="as_of='latest' is the last date in the data, and no valid deal has one",
                fix="give as_of as a date (YYYY-MM-DD); ds.report() says why deals were "
                "quarantined or excluded",
                file=str(ds.path),
            )
        return ds.last_date
    return parse_date(value)


def resolve_as_of(ds: Dataset, as_of: str | dt.date | None, period: Period | None) -> dt.date:
    """``as_of`` if given, else the last day of ``period``; one of them is required.

    ``as_of="latest"``: the last date in the data.
    """
    day = as_date(as_of, ds)
    if day is not None:
        return day
    if period is None:
        raise ValueError("give as_of (a date) or a period whose last day is used as as_of")
    return period.end


def resolve_cohort_as_of(ds: Dataset, as_of: str | dt.date | None, period: Period) -> dt.date:
    """When a cohort's outcomes are read.

    ``as_of`` if given, else the last date in the data (the most mature reading), else (no
    deals at all) the period's last day.
    """
    return as_date(as_of, ds) or ds.last_date or period.end


def flow_period(ds: Dataset, period: str | Period, as_of: str | dt.date | None) -> Period:
    """The period of a flow metric, cut at ``as_of``.

    A flow read on ``as_of`` counts the events of the period up to that day (``"2025-Q4"``
    read on 2025-11-15 is 2025-10-01 to 2025-11-15). Without ``as_of``, or with one on or
    after the period's end, the whole period.
    """
    period = as_period(period, ds)
    day = as_date(as_of, ds)
    if day is None or day >= period.end:
        return period
    if day < period.start:
        raise ValueError(
            f"as_of {day} is before the period {period.label} starts ({period.start}): "
            "nothing of the period is known on that day"
        )
    return Period(period.start, day, f"{period.start}..{day}")


def cycle_cohort(
    ds: Dataset, period: str | Period, groups: list[str], as_of: str | dt.date | None
) -> pl.DataFrame:
    """The cohort of deals created in the period, with censoring, for Kaplan-Meier.

    One row per deal with ``created_at`` in the period and on or before ``day`` (``as_of``,
    default: the last date in the data, see :func:`resolve_cohort_as_of`): the ``groups``
    columns, ``days`` = ``closed_at - created_at`` for a deal closed by ``day`` (``event`` true)
    or ``day - created_at`` for a deal still open then (``event`` false: censored).
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    check_by(ds, "deals", groups)
    closed = pl.col("closed_at").is_not_null() & (pl.col("closed_at") <= day)
    end = pl.when(closed).then(pl.col("closed_at")).otherwise(pl.lit(day))
    return (
        ds.lazy("deals")
        .filter(period.contains("created_at") & (pl.col("created_at") <= day))
        .select(
            *groups,
            (end - pl.col("created_at")).dt.total_days().cast(pl.Float64).alias("days"),
            closed.alias("event"),
        )
        .collect()
    )


def time_basis(basis: str) -> Callable[[Callable[..., pl.DataFrame]], Callable[..., pl.DataFrame]]:
    """Decorator: the metric's tidy frame gains a ``time_basis`` column.

    The column (period, cohort or snapshot) makes a frame read on its own say how it was
    computed.
    """

    def wrap(fn: Callable[..., pl.DataFrame]) -> Callable[..., pl.DataFrame]:
        @functools.wraps(fn)
        def metric(*args: Any, **kwargs: Any) -> pl.DataFrame:
            frame = fn(*args, **kwargs)
            if "time_basis" in frame.columns:  # set per row by the metric (mixed bases)
                return frame
            return frame.with_columns(pl.lit(basis).alias("time_basis"))

        return metric

    return wrap


def by_group(frame: pl.DataFrame, groups: list[str]) -> list[tuple[tuple[Any, ...], pl.DataFrame]]:
    """``frame`` split by ``groups`` (a single part without groups), in a stable order.

    For estimators that run once per group (Kaplan-Meier).
    """
    parts = frame.partition_by(groups, as_dict=True) if groups else {(): frame}
    return sorted(parts.items(), key=lambda kv: tuple(str(k) for k in kv[0]))


def km_by_group(
    frame: pl.DataFrame, keys: list[str], value: str, confidence: float = 0.95
) -> pl.DataFrame:
    """Kaplan-Meier summary per group of a frame of durations ``value`` and ``event`` flags.

    One row per group (sorted by ``keys``): ``n``, ``events``, ``censored``, ``median`` with
    ``ci_low``/``ci_high`` (see :func:`pipeline_kit.stats.kaplan_meier_median`), and the naive
    ``naive_mean``/``naive_median`` over the events only, for comparison. Callers rename the
    columns to their own vocabulary (closed/open, ended/ongoing, ...).
    """
    rows = []
    for key, part in by_group(frame, keys):
        durations, event = part[value].to_numpy(), part["event"].to_numpy().astype(bool)
        median, low, high = kaplan_meier_median(durations, event, confidence)
        done = durations[event]
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n": part.height,
                "events": int(event.sum()),
                "censored": int((~event).sum()),
                "median": median,
                "ci_low": low,
                "ci_high": high,
                "naive_mean": float(done.mean()) if done.size else None,
                "naive_median": float(np.median(done)) if done.size else None,
            }
        )
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        **{k: frame.schema[k] for k in keys},
        "n": pl.Int64,
        "events": pl.Int64,
        "censored": pl.Int64,
        "median": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "naive_mean": pl.Float64,
        "naive_median": pl.Float64,
    }
    out = pl.DataFrame(rows, schema=schema)
    return out.sort(keys) if keys else out


# ----------------------------------------------------------------------------- output schemas
# Column factories for the metrics' output schemas (a dataframely column object belongs to
# one schema, so each schema gets new ones).


def count_column(*, nullable: bool = False) -> dy.Int64:
    """A count of deals, leads, customers or activities: an integer, never negative."""
    return dy.Int64(nullable=nullable, min=0)


def without_amount_column() -> dy.Int64:
    """``without_amount``: the deals an amount figure left out because their amount is blank.

    A deal with no amount (see ``schema.required_columns``) counts in rates and cycles but
    cannot enter a sum or a mean of amounts; every amount figure states how many of the deals
    it covers it had to leave out, so that a sum with deals missing never reads as complete.
    """
    return dy.Int64(nullable=False, min=0)


def without_amount(condition: pl.Expr | None = None, name: str = "without_amount") -> pl.Expr:
    """Aggregation: how many deals (meeting ``condition``) have no amount.

    polars' ``sum`` and ``mean`` skip nulls silently: each amount aggregation is paired with
    this count of what it skipped.
    """
    blank = pl.col("amount").is_null()
    if condition is not None:
        blank = blank & condition
    return blank.sum().cast(pl.Int64).alias(name)


def amount_sum(condition: pl.Expr | None = None, amount: pl.Expr | None = None) -> pl.Expr:
    """Aggregation: the sum of the amounts of the deals (meeting ``condition``).

    polars' ``sum`` skips nulls and gives 0 for nulls alone: a quarter whose three won deals
    all lack an amount would book 0. Here such a sum is unknown (null); over no deal at all
    it is 0. Paired with :func:`without_amount`, which counts the deals the sum left out.

    >>> frame = pl.DataFrame({"amount": [None, None, 5.0], "won": [True, True, False]})
    >>> frame.select(
    ...     amount_sum(pl.col("won")).alias("won"),
    ...     amount_sum().alias("all"),
    ...     amount_sum(pl.lit(False)).alias("none"),
    ... ).row(0)
    (None, 5.0, 0.0)
    """
    value = pl.col("amount") if amount is None else amount
    if condition is not None:
        value = value.filter(condition)
    known = value.is_not_null().any() | (value.len() == 0)
    return pl.when(known).then(value.sum().cast(pl.Float64))


def amount_total(amounts: pl.Series) -> float | None:
    """The sum of some deals' amounts, as :func:`amount_sum`: unknown when none has one.

    >>> amount_total(pl.Series([None, None])), amount_total(pl.Series([2.0, None]))
    (None, 2.0)
    >>> amount_total(pl.Series([], dtype=pl.Float64))
    0.0
    """
    if amounts.len() and amounts.null_count() == amounts.len():
        return None
    return float(amounts.sum())


def share_column(*, nullable: bool = True) -> dy.Float64:
    """A share or a rate, or a bound of its interval: in [0, 1]; null when its base is 0."""
    return dy.Float64(nullable=nullable, min=0, max=1)


def amount_column(*, nullable: bool = False, signed: bool = False) -> dy.Float64:
    """Money (currency units) or days: finite, never negative unless ``signed``."""
    return dy.Float64(nullable=nullable, min=None if signed else 0)


def flag_column() -> dy.Bool:
    """A true/false flag (enough_data, incomplete, approximate, ...), never null."""
    return dy.Bool(nullable=False)


def basis_column(*bases: str) -> dy.String:
    """The ``time_basis`` column (:func:`time_basis`): one of ``bases``."""
    return dy.String(nullable=False, regex=f"^({'|'.join(bases)})$")


def empty_output(
    output: type[dy.Schema], ds: Dataset, table: str, groups: list[str]
) -> pl.DataFrame:
    """The empty frame of a metric.

    The ``groups`` columns (with their dtypes in ``table``) followed by the columns of its
    ``output`` schema.
    """
    return pl.DataFrame(
        schema={
            **{g: ds.schema(table)[g] for g in groups},
            **output.create_empty().schema,
        }
    )
