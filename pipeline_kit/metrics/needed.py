"""What a target takes: won deals, closed deals, leads and activities needed to reach it.

``needed_for_target(ds, period, *, by=None, as_of=None)`` reads the period's target and the
team's own rates over the quarters before the period (average won deal, win rate, lead
conversion, activities per won deal) and chains them; the intervals come from simulating
each rate's uncertainty (seeded, so a re-run gives the same numbers).
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    as_period,
    basis_column,
    by_group,
    closed_in,
    count_column,
    flow_period,
    group_columns,
    share_column,
    time_basis,
    without_amount,
    without_amount_column,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import skewed_mean_draws

__all__ = ["needed_for_target"]

DRAWS = 4000
SEED = 19
NEEDS = ("won_deals", "deals", "leads", "activities")


class NeededForTargetOutput(dy.Schema):
    """:func:`needed_for_target`: the ``by`` columns (none or team), then these."""

    target = amount_column(nullable=True)
    rates_from = dy.String(nullable=False)
    won = count_column()
    lost = count_column()
    avg_won_deal = amount_column(nullable=True)
    without_amount = without_amount_column()
    win_rate = share_column()
    leads_created = count_column()
    leads_converted = count_column()
    lead_conversion = share_column()
    activities = count_column()
    activities_per_won_deal = amount_column(nullable=True)
    won_deals_needed = amount_column(nullable=True)
    won_deals_needed_ci_low = amount_column(nullable=True)
    won_deals_needed_ci_high = amount_column(nullable=True)
    deals_needed = amount_column(nullable=True)
    deals_needed_ci_low = amount_column(nullable=True)
    deals_needed_ci_high = amount_column(nullable=True)
    leads_needed = amount_column(nullable=True)
    leads_needed_ci_low = amount_column(nullable=True)
    leads_needed_ci_high = amount_column(nullable=True)
    activities_needed = amount_column(nullable=True)
    activities_needed_ci_low = amount_column(nullable=True)
    activities_needed_ci_high = amount_column(nullable=True)
    won_deals_actual = count_column()
    deals_closed_actual = count_column()
    time_basis = basis_column("period")


def _window(period: Period, quarters: int) -> Period:
    """The ``quarters`` whole quarters before ``period`` starts."""
    first = Period.quarter_of(period.start).shift(-quarters)
    end = period.start - dt.timedelta(days=1)
    return Period(first.start, end, f"{first.label}..{Period.quarter_of(end).label}")


def _interval(draws: np.ndarray) -> tuple[float | None, float | None]:
    finite = draws[np.isfinite(draws)]
    if finite.size < draws.size * 0.99:  # a rate of 0 in too many draws: no finite need
        return None, None
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


# a draw of a rate near 0 or of a huge mean gives an infinite or zero need: no warning
@np.errstate(over="ignore", divide="ignore", invalid="ignore")
def _simulate(row: dict, amounts: np.ndarray, rng: np.random.Generator) -> dict:
    """Plug-in needs and their 95% simulation intervals for one group."""
    out: dict[str, float | None] = {}
    for need in NEEDS:
        out[f"{need}_needed"] = out[f"{need}_needed_ci_low"] = None
        out[f"{need}_needed_ci_high"] = None
    target = row["target"]
    if not target or amounts.size == 0:
        return out
    mean = skewed_mean_draws(amounts, DRAWS, rng)
    if mean is None:  # one won deal, or all amounts equal: no spread to read
        mean = np.full(DRAWS, amounts.mean())
    mean = np.where(mean > 0, mean, np.nan)  # no plausible positive mean: no finite need
    won_draws = np.where(np.isfinite(mean), target / mean, np.inf)
    # Jeffreys Beta(k + 1/2, n - k + 1/2) draws of the win rate and the lead conversion
    win = rng.beta(row["won"] + 0.5, row["lost"] + 0.5, DRAWS)
    chains = {"won_deals": won_draws, "deals": won_draws / win}
    point = {"won_deals": target / amounts.mean()}
    if row["won"] + row["lost"]:
        point["deals"] = point["won_deals"] / (row["won"] / (row["won"] + row["lost"]))
    if row["leads_created"]:
        conversion = rng.beta(
            row["leads_converted"] + 0.5, row["leads_created"] - row["leads_converted"] + 0.5, DRAWS
        )
        chains["leads"] = chains["deals"] / conversion
        if row["leads_converted"] and "deals" in point:
            point["leads"] = point["deals"] / (row["leads_converted"] / row["leads_created"])
    if row["won"] and row["activities"]:
        # activities per won deal = (activities per closed deal) / win rate: the count read as
        # Poisson (Jeffreys Gamma draws) over the closed deals, with the same win-rate draws
        per_closed = rng.gamma(row["activities"] + 0.5, 1.0, DRAWS) / (row["won"] + row["lost"])
        chains["activities"] = chains["deals"] * per_closed
        point["activities"] = point["won_deals"] * row["activities"] / row["won"]
    with np.errstate(divide="ignore", invalid="ignore"):
        for need, draws in chains.items():
            if need not in point:
                continue
            low, high = _interval(np.asarray(draws, dtype=float))
            out[f"{need}_needed"] = float(point[need])
            out[f"{need}_needed_ci_low"] = low
            out[f"{need}_needed_ci_high"] = high
    return out


@time_basis("period")
def needed_for_target(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    quarters: int = 4,
) -> pl.DataFrame:
    """Won deals, closed deals, leads and activities needed to reach the period's target.

    With the rates of the ``quarters`` whole quarters before the period (``rates_from``):
    ``won_deals_needed = target / avg_won_deal``, ``deals_needed = won_deals_needed /
    win_rate`` (deals that must be won or lost), ``leads_needed = deals_needed /
    lead_conversion`` (leads becoming opportunities; leads created in the window, converted
    by its end) and ``activities_needed = won_deals_needed x activities_per_won_deal``
    (activities logged on the window's closed deals, won and lost, per won deal). ``target``
    sums the team targets (owner empty) overlapping the period.

    Intervals (95%) by simulation, 4,000 seeded draws: the mean won amount from
    :func:`pipeline_kit.stats.skewed_mean_draws` (the bootstrap-t widened to the log-normal
    generalized interval, as for the average won deal), win rate and lead conversion from their
    Jeffreys Beta distributions, activities per closed deal as a Poisson count (Jeffreys
    Gamma) divided by the drawn win rate; each draw goes through the same chain and the 2.5%
    and 97.5% quantiles are the interval (simulated coverage in ``bench/coverage.py``).
    The average won deal is over the window's won deals with an amount; ``without_amount``
    counts the won deals it left out (blank amount), which still count in ``won`` and the win
    rate. ``won_deals_actual`` and ``deals_closed_actual`` are what the period did (up to
    ``as_of``). Targets are per team, so ``by`` is ``None`` or ``"team"``. Columns:
    :class:`NeededForTargetOutput`.
    """
    period = as_period(period, ds)
    if period.is_all:
        raise ValueError("what a target needs is read for a dated period, such as 2025-Q4")
    groups = group_columns(by)
    if groups not in ([], ["team"]):
        raise ValueError("targets are per team: use by=None or by='team'")
    window = _window(period, quarters)
    actual_period = flow_period(ds, period, as_of)
    deals = ds.lazy("deals")
    closed = deals.filter(closed_in(window))
    agg = [
        pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
        pl.col("status").eq("lost").sum().cast(pl.Int64).alias("lost"),
        without_amount(pl.col("status").eq("won")),
    ]
    frames = [
        (closed.group_by(groups).agg(agg) if groups else closed.select(agg)).collect(),
    ]
    actual = deals.filter(closed_in(actual_period))
    act_agg = [
        pl.col("status").eq("won").sum().cast(pl.Int64).alias("won_deals_actual"),
        pl.len().cast(pl.Int64).alias("deals_closed_actual"),
    ]
    frames.append(
        (actual.group_by(groups).agg(act_agg) if groups else actual.select(act_agg)).collect()
    )
    if ds.has("targets"):
        targets = ds.lazy("targets").filter(
            pl.col("owner").is_null()
            & (pl.col("period_start") <= period.end)
            & (pl.col("period_end") >= period.start)
        )
        t_agg = [pl.when(pl.len() > 0).then(pl.col("target").sum()).cast(pl.Float64)]
        frames.append(
            (targets.group_by(groups).agg(t_agg) if groups else targets.select(t_agg)).collect()
        )
    lead_agg = [
        pl.len().cast(pl.Int64).alias("leads_created"),
        (pl.col("converted_at").is_not_null() & (pl.col("converted_at").dt.date() <= window.end))
        .sum()
        .cast(pl.Int64)
        .alias("leads_converted"),
    ]
    if ds.has("leads") and set(groups) <= set(ds.schema("leads").names()):
        leads = ds.lazy("leads").filter(window.contains(pl.col("created_at").dt.date()))
        frames.append(
            (leads.group_by(groups).agg(lead_agg) if groups else leads.select(lead_agg)).collect()
        )
    if ds.has("activities"):
        on_closed = (
            ds.lazy("activities")
            .filter(pl.col("deal_id").is_not_null())
            .join(closed.select("deal_id", *groups), on="deal_id", how="inner")
        )
        a_agg = [pl.len().cast(pl.Int64).alias("activities")]
        frames.append(
            (on_closed.group_by(groups).agg(a_agg) if groups else on_closed.select(a_agg)).collect()
        )
    joined = frames[0]
    for f in frames[1:]:
        joined = (
            joined.join(f, on=groups, how="full", coalesce=True, nulls_equal=True)
            if groups
            else joined.join(f, how="cross")
        )
    for column in ("won", "lost", "leads_created", "leads_converted", "activities"):
        if column not in joined.columns:
            joined = joined.with_columns(pl.lit(0, pl.Int64).alias(column))
    if "target" not in joined.columns:
        joined = joined.with_columns(pl.lit(None, pl.Float64).alias("target"))
    joined = joined.with_columns(
        pl.col(
            "won", "lost", "without_amount", "leads_created", "leads_converted", "activities"
        ).fill_null(0),
        pl.col("won_deals_actual", "deals_closed_actual").fill_null(0),
    )
    # the average won deal rests on the won deals with an amount (the others: without_amount)
    won_amounts = (
        closed.filter(pl.col("status").eq("won") & pl.col("amount").is_not_null())
        .select(*groups, "amount")
        .collect()
    )
    amounts = dict(by_group(won_amounts, groups))
    rng = np.random.default_rng(SEED)
    rows = []
    for row in (
        joined.sort(groups).iter_rows(named=True) if groups else joined.iter_rows(named=True)
    ):
        key = tuple(row[g] for g in groups)
        part = amounts.get(key)
        values = part["amount"].to_numpy() if part is not None else np.array([])
        rows.append({**{g: row[g] for g in groups}, **_simulate(row, values, rng)})
    needs = pl.DataFrame(
        rows,
        schema={
            **{g: joined.schema[g] for g in groups},
            **{
                f"{need}_needed{suffix}": pl.Float64
                for need in NEEDS
                for suffix in ("", "_ci_low", "_ci_high")
            },
        },
    )
    out = (
        joined.join(needs, on=groups, how="left", nulls_equal=True)
        if groups
        else joined.join(needs, how="cross")
    )
    means = (
        won_amounts.group_by(groups).agg(pl.col("amount").mean().alias("avg_won_deal"))
        if groups
        else won_amounts.select(pl.col("amount").mean().alias("avg_won_deal"))
    )
    out = (
        out.join(means, on=groups, how="left", nulls_equal=True)
        if groups
        else out.join(means, how="cross")
    )
    return (
        out.with_columns(
            pl.lit(window.label).alias("rates_from"),
            pl.when(pl.col("won") + pl.col("lost") > 0)
            .then(pl.col("won") / (pl.col("won") + pl.col("lost")))
            .alias("win_rate"),
            pl.when(pl.col("leads_created") > 0)
            .then(pl.col("leads_converted") / pl.col("leads_created"))
            .alias("lead_conversion"),
            pl.when(pl.col("won") > 0)
            .then(pl.col("activities") / pl.col("won"))
            .alias("activities_per_won_deal"),
        )
        .sort(groups)
        .select(*groups, *[c for c in NeededForTargetOutput.column_names() if c != "time_basis"])
    )


# ----------------------------------------------------------------------------- catalogue


def _needed(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if period.is_all or groups not in ([], ["team"]) or not ds.has("targets"):
        return []
    f = needed_for_target(ds, period, by=groups, as_of=as_of)
    return [
        _long(
            f.with_columns(
                pl.col(f"{need}_needed_ci_low").alias("ci_low"),
                pl.col(f"{need}_needed_ci_high").alias("ci_high"),
                _BASE[need].alias("_n"),
            ),
            groups,
            f"{need}_needed_for_target",
            f"{need}_needed",
            "_n",
            True,
            without_amount=True,  # every need starts from the average won deal
        )
        for need in NEEDS
    ]


_BASE = {  # what each need rests on (the long format's n)
    "won_deals": pl.col("won"),
    "deals": pl.col("won") + pl.col("lost"),
    "leads": pl.col("leads_created"),
    "activities": pl.col("activities"),
}


_CHAIN = {
    "won_deals": ("Won deals", "target / average won deal", "the average won deal"),
    "deals": (
        "Closed deals",
        "target / average won deal / win rate",
        "the average won deal and the win rate",
    ),
    "leads": (
        "Leads",
        "target / average won deal / win rate / lead conversion",
        "the average won deal, the win rate and the lead-to-opportunity conversion",
    ),
    "activities": (
        "Activities",
        "target / average won deal x activities per won deal",
        "the average won deal and the activities logged per won deal (on won and lost deals)",
    ),
}

for _need, (_title, _formula, _rests) in _CHAIN.items():
    declare(
        MetricCard(
            f"{_need}_needed_for_target",
            f"{_title} needed to reach the target",
            _formula,
            "period: the period's target; the rates come from the 4 whole quarters before it",
            f"rates over the quarters before the period: {_rests}; target = team targets "
            "(owner empty) overlapping the period",
            "simulation 95% (4,000 seeded draws: skew-aware mean won amount (bootstrap-t and "
            "log-normal generalized interval), Jeffreys Beta rates, Poisson activity count), "
            "each draw through the same chain",
            "count",
            (
                "The chain assumes the coming period converts like the past four quarters; a new "
                "product, price or market breaks it.",
                "Deals needed are deals that must close (won or lost) in the period, not deals "
                "to create: long cycles mean they had to be created quarters earlier.",
            ),
            "pipeline_kit.needed_for_target",
            reading=f"How many {_title.lower()} the target takes at the team's own recent "
            "rates. Compare with what the period did (won_deals_actual, deals_closed_actual): "
            "a gap far outside the interval says the plan and the rates disagree.",
        ),
        function=needed_for_target,
        output=NeededForTargetOutput,
        long=_needed,
    )
