"""The entry point: every group's figures against each kind of benchmark (:func:`compare`).

Also the one organisation-wide comparison the reports share (:func:`compare_teams`).

The frames come from the metric layer's filters (:func:`~pipeline_kit.metrics._common.closed_in`
for the deals closed in a period, :func:`~pipeline_kit.metrics._common.cycle_cohort` for the
cohort with its censored open deals); the tests from :mod:`.significance`, the benchmarks from
:mod:`.benchmarks`, the mix check from :mod:`.mix` and the verdicts from :mod:`.verdicts`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path

import polars as pl

from pipeline_kit import stats
from pipeline_kit.comparisons.benchmarks import load_benchmarks, trailing_period
from pipeline_kit.comparisons.mix import MIX_WARNING, add_mix_warnings
from pipeline_kit.comparisons.significance import (
    FEW_CLOSED_WARNING,
    ComparisonRow,
    RowBuilder,
    cycle_rows,
    size_rows,
    win_rate_rows,
)
from pipeline_kit.comparisons.verdicts import verdict_table
from pipeline_kit.dataset import Dataset
from pipeline_kit.i18n import N_
from pipeline_kit.metrics._common import (
    as_period,
    check_by,
    closed_in,
    cycle_cohort,
    group_columns,
    resolve_cohort_as_of,
)
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N

__all__ = ["METRICS", "compare", "compare_teams", "localised_warning"]

METRICS = ("win_rate", "cycle_length_km_days", "median_won_deal_size")
_BUILDERS: dict[str, RowBuilder] = {
    "win_rate": win_rate_rows,
    "cycle_length_km_days": cycle_rows,
    "median_won_deal_size": size_rows,
}


def compare(
    ds: Dataset,
    period: str | Period,
    *,
    by: str = "team",
    benchmarks: str | Path | pl.DataFrame | None = None,
    metrics: tuple[str, ...] = METRICS,
    trailing_quarters: int = 4,
    as_of: str | dt.date | None = None,
    min_n: int = MIN_N,
    alpha: float = 0.05,
    mix: str | None = "lead_source",
) -> pl.DataFrame:
    """Every group's metrics against each benchmark: one row per metric, group and kind.

    The kinds of benchmark: the external benchmark, the rest of the organisation and the
    group's own trailing quarters.

    Columns: :data:`COMPARE_COLUMNS` (``group`` holds the value of the ``by`` column; the
    ``by`` column itself is added too). ``direction`` is above / below / no clear difference /
    not enough data; ``verdict`` says it in a sentence. ``warning`` flags a crude win-rate
    verdict against the rest of the organisation that the ``mix``-adjusted rate (see
    :func:`mix_adjusted_win_rate`) does not support.

    >>> compare(ds, "2025-Q4").select("metric", "team", "kind", "verdict")  # doctest: +SKIP
    """
    period = as_period(period, ds)
    groups = group_columns(by)
    if len(groups) != 1:
        raise ValueError("compare groups by exactly one column, e.g. by='team'")
    col = groups[0]
    check_by(ds, "deals", [col])
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise KeyError(f"cannot compare {', '.join(unknown)}; comparable: {', '.join(METRICS)}")
    bench = load_benchmarks(benchmarks, ds)
    day = resolve_cohort_as_of(ds, as_of, period)  # the trailing cohorts are read then too
    trailing = trailing_period(period, trailing_quarters) if trailing_quarters else None
    trailing_label = (
        f"its own previous {trailing_quarters} quarters ({trailing.label})" if trailing else ""
    )
    group = pl.col(col).cast(pl.String).alias("_group")

    def closed(p: Period, quarters: int = 0) -> pl.DataFrame:
        columns = [group, pl.col("status").eq("won").alias("won"), "amount"]
        # the accounts, for the win rate's design effect (win_rate_rows)
        columns += [pl.col("deal_id").alias("_deal_id"), pl.col("account_id").alias("_account_id")]
        if quarters:  # which of the trailing quarters (1 = the last one) a deal closed in
            quarter = pl.lit(None, pl.Int32)
            for back in range(quarters, 0, -1):
                within = period.shift(-back).contains("closed_at")
                quarter = pl.when(within).then(pl.lit(back, pl.Int32)).otherwise(quarter)
            columns.append(quarter.alias("_quarter"))
        return ds.lazy("deals").filter(closed_in(p)).select(columns).collect()

    def cohort(p: Period) -> pl.DataFrame:
        # (with the accounts, for the log-rank test's design effect: cycle_rows)
        ids = [c for c in ("deal_id", "account_id") if c != col]
        return cycle_cohort(ds, p, [col, *ids], day).select(
            group,
            "days",
            "event",
            pl.col("deal_id").alias("_deal_id"),
            pl.col("account_id").alias("_account_id"),
        )

    data: dict[str, tuple[pl.DataFrame, pl.DataFrame | None]] = {
        "win_rate": (
            closed(period),
            closed(trailing, trailing_quarters) if trailing else None,
        ),
        "cycle_length_km_days": (cohort(period), cohort(trailing) if trailing else None),
    }
    closed_now, closed_before = data["win_rate"]
    data["median_won_deal_size"] = (  # (the won deals with an amount)
        closed_now.filter("won", pl.col("amount").is_not_null()),
        closed_before.filter("won", pl.col("amount").is_not_null())
        if closed_before is not None
        else None,
    )

    names = sorted(
        set(data["win_rate"][0]["_group"].drop_nulls())
        | set(data["cycle_length_km_days"][0]["_group"].drop_nulls())
    )
    builders = dict(_BUILDERS)
    if closed_before is not None:
        # the between-quarter spread of win rates, from every group's trailing quarters
        counts = closed_before.group_by("_group", "_quarter").agg(
            pl.col("won").sum().alias("k"), pl.len().alias("n")
        )
        spread = stats.period_spread(
            counts["k"].to_numpy(), counts["n"].to_numpy(), counts["_group"].to_numpy()
        )
        builders["win_rate"] = functools.partial(win_rate_rows, spread=spread)
    rows: list[ComparisonRow] = []
    for metric in metrics:
        current, before = data[metric]
        for name in names:
            cur = current.filter(pl.col("_group") == name)
            rest = current.filter(pl.col("_group") != name)
            trail = before.filter(pl.col("_group") == name) if before is not None else None
            rows += builders[metric]((cur, rest, trail), name, bench, min_n, trailing_label)

    if "win_rate" in metrics and mix:
        add_mix_warnings(rows, ds, period, col, mix, min_n, alpha)
    first = ds.first_date
    if trailing is not None and first is not None and first > trailing.start:
        # the team's own past is cut short by the start of the export
        covered = max((trailing.end - first).days + 1, 0) / trailing.days
        for row in rows:
            if row.kind == "trailing":
                row.warning = YOUNG_HISTORY_WARNING.format(
                    first=first, start=trailing.start, end=trailing.end, covered=f"{covered:.0%}"
                )
                row.keep_warning = False  # the young history comes first where both apply
    return verdict_table(rows, col, alpha, min_n)


# the warning of a comparison with the team's own past that the export's start cuts short
YOUNG_HISTORY_WARNING = N_(
    "The data starts on {first}, inside the previous four quarters ({start} to {end}): the "
    "comparison with the team's own past covers {covered} of them, and a young history holds "
    "the quick deals more than the slow ones."
)


def localised_warning(text: str, _: Callable[[str], str]) -> str:
    """A comparison's ``warning`` in a report's language (``_``: its gettext).

    The warning is matched to the template it was made from and that template translated.
    """
    from pipeline_kit.charts._base import pattern_regex

    for template in (YOUNG_HISTORY_WARNING, MIX_WARNING, FEW_CLOSED_WARNING):
        if (hit := pattern_regex(template).match(text)) is not None:
            return _(template).format(**hit.groupdict())
    return text


def compare_teams(ds: Dataset, period: Period) -> pl.DataFrame:
    """``compare(ds, period, by="team")``, computed once per dataset and period.

    The team reports and the organisation summary all read this one table: one
    Benjamini-Hochberg family for the organisation, so no document calls a difference the
    others do not, and a kernel running many reports computes it once
    (:meth:`Dataset.memoised`); with the on-disk cache, once for all the kernels of a batch
    (``persist``).
    """
    return ds.memoised(
        ("compare", "team", period.label), lambda: compare(ds, period, by="team"), persist=True
    )
