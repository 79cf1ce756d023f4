"""The Simpson guard: win rates standardised to the organisation's mix (e.g. of lead sources).

Also the warning on a crude verdict the standardised rate does not support.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline_kit.comparisons.significance import ComparisonRow
from pipeline_kit.dataset import Dataset
from pipeline_kit.formatting import fmt_pct
from pipeline_kit.i18n import N_
from pipeline_kit.metrics._common import as_period, check_by, closed_in
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, wilson_interval

__all__ = ["add_mix_warnings", "mix_adjusted_win_rate"]


def mix_adjusted_win_rate(
    ds: Dataset,
    period: str | Period,
    *,
    by: str = "team",
    mix: str = "lead_source",
    min_n: int = MIN_N,
    min_cell: int = 5,
) -> pl.DataFrame:
    """Win rate per group, crude and standardised to the organisation's ``mix``.

    Direct standardisation: ``adjusted = sum_s w_s x rate(group, s)``, where ``w_s`` is the
    organisation's share of closed deals in stratum ``s`` (e.g. lead source). When a group's
    crude rate differs from the organisation's mostly because it sells through a different mix,
    the adjusted rate says so (Simpson's paradox). Strata in which the group closed fewer than
    ``min_cell`` deals are too sparse to stand for the group (a 3-deal stratum with no win
    would carry its whole weight at 0%): they borrow the organisation's rate for that
    stratum, with that rate's own uncertainty, and are counted in ``strata_filled``.

    The 95% interval is the modified Wilson interval (:func:`~pipeline_kit.stats.wilson_interval`)
    of ``adjusted`` on the standardised rate's effective number of deals, ``n_eff = 1 / Σ_s
    w_s² / n_s`` (``n_s`` the group's deals in the stratum, the organisation's where it
    borrows): with every stratum at one rate ``p`` the adjusted rate's variance is ``p (1 - p)
    / n_eff``, so ``n_eff`` independent deals carry the same information (Kish's effective
    sample size of the weights). Until the ninth session it was the normal interval
    ``adjusted ± 1.96 √(Σ w_s² p̃_s (1 - p̃_s) / (n_s + 4))`` with Agresti-Coull rates
    ``p̃_s``: it covered 90-93% with 10-50 deals a group, and 98-100% at rates of 1-5%; the
    Wilson interval 93-97% (``bench/coverage.py --audit9-only``). A borrowed stratum stands
    for the group at the organisation's rate: where the group's own rate there differs, the
    adjusted rate is off by the difference times the stratum's weight, which no interval of
    the counts allows for (a group of 10 deals borrowing 2 of 3 strata whose own rates
    differ covered 78%, 63% before; from 20 deals 93-96%). Columns: by, n, crude, adjusted,
    ci_low, ci_high (of adjusted), org_rate, strata_filled, enough_data.
    """
    period = as_period(period, ds)
    check_by(ds, "deals", [by, mix])
    closed = (
        ds.lazy("deals")
        .filter(closed_in(period))
        .with_columns(pl.col(mix).fill_null("(unknown)"), pl.col("status").eq("won").alias("won"))
    )
    org = closed.group_by(mix).agg(
        pl.len().alias("org_n"),
        pl.col("won").mean().alias("org_s"),
    )
    total = closed.select(pl.len().alias("total"), pl.col("won").mean().alias("org_rate"))
    weights = org.join(total, how="cross").with_columns(
        (pl.col("org_n") / pl.col("total")).alias("w")
    )
    cell = closed.group_by(by, mix).agg(
        pl.len().alias("n_s"),
        pl.col("won").mean().alias("r_s"),
    )
    groups = closed.select(by).unique()
    grid = groups.join(weights, how="cross").join(cell, on=[by, mix], how="left")
    filled = pl.col("n_s").fill_null(0) < min_cell  # empty or too sparse: borrow
    rate = pl.when(filled).then(pl.col("org_s")).otherwise(pl.col("r_s"))
    deals = pl.when(filled).then(pl.col("org_n")).otherwise(pl.col("n_s"))  # behind the rate
    out = grid.group_by(by).agg(
        pl.col("n_s").sum().cast(pl.Int64).alias("n"),
        (
            (pl.col("r_s").fill_null(0) * pl.col("n_s").fill_null(0)).sum() / pl.col("n_s").sum()
        ).alias("crude"),
        (pl.col("w") * rate).sum().alias("adjusted"),
        (1 / (pl.col("w") ** 2 / deals).sum()).alias("_n_eff"),
        pl.col("org_rate").first(),
        filled.sum().cast(pl.Int64).alias("strata_filled"),
    )
    low, high = wilson_interval(pl.col("adjusted") * pl.col("_n_eff"), "_n_eff")
    return (
        out.with_columns(
            low.alias("ci_low"),
            high.alias("ci_high"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .drop("_n_eff")
        .sort(by)
        .select(
            by,
            "n",
            "crude",
            "adjusted",
            "ci_low",
            "ci_high",
            "org_rate",
            "strata_filled",
            "enough_data",
        )
        .collect()
    )


# the warning on a win-rate difference the mix-adjusted rate does not support
MIX_WARNING = N_(
    "Mix check: standardised to the organisation's {group} mix the win rate is {rate} (95% CI "
    "{low} to {high}) against {org} overall: the crude difference may come from the {group} "
    "mix, not from selling better or worse."
)


def add_mix_warnings(
    rows: list[ComparisonRow],
    ds: Dataset,
    period: Period,
    col: str,
    mix: str,
    min_n: int,
    alpha: float,
) -> None:
    """Set the ``warning`` of the win-rate rows the ``mix``-adjusted rate does not support.

    Those are the rows against the rest of the organisation whose crude difference
    (``p < alpha``) the ``mix``-adjusted rate does not support: its interval does not exclude
    the organisation's rate on the same side. Nothing when the deals have no ``mix`` values.
    """
    deals = ds.tables["deals"]
    if mix not in deals.columns or deals[mix].null_count() == deals.height:
        return
    frame = mix_adjusted_win_rate(ds, period, by=col, mix=mix, min_n=min_n)
    adjusted = {r[col]: r for r in frame.iter_rows(named=True)}
    for row in rows:
        if row.metric != "win_rate" or row.kind != "rest_of_org" or row.p_value is None:
            continue
        adj = adjusted.get(row.group)
        if adj is None or row.benchmark is None:
            continue
        crude_side = np.sign((row.estimate or 0) - row.benchmark)
        excludes = adj["ci_low"] > adj["org_rate"] or adj["ci_high"] < adj["org_rate"]
        adj_side = np.sign(adj["adjusted"] - adj["org_rate"]) if excludes else 0
        if row.p_value < alpha and adj_side != crude_side:
            row.warning = MIX_WARNING.format(
                group=mix,
                rate=fmt_pct(adj["adjusted"]),
                low=fmt_pct(adj["ci_low"]),
                high=fmt_pct(adj["ci_high"]),
                org=fmt_pct(adj["org_rate"]),
            )
