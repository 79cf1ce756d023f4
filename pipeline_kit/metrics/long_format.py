"""The long format of ``pipeline-kit metrics``: every metric in one tidy frame.

Each catalogue metric maps to a small adapter that runs its function and reshapes the result
to ``metric, <by columns>, value, n, ci_low, ci_high, detail, unit, time_basis, period,
as_of``. Metrics that do not apply to the data (no leads table, team-level targets grouped by
owner) are left out rather than computed on the wrong basis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import By, group_columns, resolve_cohort_as_of
from pipeline_kit.metrics.activity import activities_per_rep
from pipeline_kit.metrics.cards import CATALOGUE, metric_names
from pipeline_kit.metrics.collateral import collateral_win_rates
from pipeline_kit.metrics.conversion import stage_conversion
from pipeline_kit.metrics.deals import (
    close_rate,
    cycle_length,
    deal_flow,
    velocity,
    win_rate,
    win_rate_alternatives,
    won_deal_size,
)
from pipeline_kit.metrics.durations import cycle_length_km, time_in_stage_km
from pipeline_kit.metrics.leads import lead_funnel, lead_response_time, lead_time_to_win
from pipeline_kit.metrics.pipeline import (
    open_pipeline,
    pipeline_coverage,
    pipeline_waterfall,
    slipped_deals,
    stalled_deals,
)
from pipeline_kit.metrics.revenue import bookings_vs_target, cac, churn, clv, customer_retention
from pipeline_kit.metrics.winloss import competitor_win_rates, lost_reasons
from pipeline_kit.periods import Period, parse_date

__all__ = ["LONG_COLUMNS", "metrics_long"]


# ----------------------------------------------------------------------------- long format

LONG_COLUMNS = [
    "value",
    "n",
    "ci_low",
    "ci_high",
    "detail",
    "unit",
    "time_basis",
    "period",
    "as_of",
]


def _long(
    frame: pl.DataFrame,
    groups: list[str],
    metric: str,
    value: str,
    n: str | None,
    ci: bool,
    detail: str | None = None,
    as_of: dt.date | None = None,
) -> pl.DataFrame:
    """One metric's tidy frame in the long format. ``detail`` names the column that
    sub-divides a group (a stage, a lost reason, a definition); ``as_of`` is the day a
    snapshot or cohort is read (empty for flow metrics)."""
    card = CATALOGUE[metric]
    return frame.select(
        pl.lit(metric).alias("metric"),
        *groups,
        pl.col(value).cast(pl.Float64).alias("value"),
        (pl.col(n) if n else pl.col(value)).cast(pl.Int64).alias("n"),
        (pl.col("ci_low") if ci else pl.lit(None, pl.Float64)).alias("ci_low"),
        (pl.col("ci_high") if ci else pl.lit(None, pl.Float64)).alias("ci_high"),
        (pl.col(detail).cast(pl.String) if detail else pl.lit(None, pl.String)).alias("detail"),
        pl.lit(card.unit).alias("unit"),
        pl.lit(card.basis).alias("time_basis"),
        pl.lit(str(as_of) if as_of else None, pl.String).alias("as_of"),
    )


def _flow(ds, period, as_of, groups):
    f = deal_flow(ds, period, groups)
    return [
        _long(f, groups, m, c, None, False)
        for m, c in (("deals_created", "created"), ("deals_won", "won"), ("deals_lost", "lost"))
    ]


def _win_rate(ds, period, as_of, groups):
    return [_long(win_rate(ds, period, groups), groups, "win_rate", "win_rate", "n", True)]


def _deal_size(ds, period, as_of, groups):
    f = won_deal_size(ds, period, groups)
    return [
        _long(f, groups, "avg_won_deal_size", "mean", "n", True),
        _long(
            f.with_columns(
                pl.col("median_low").alias("ci_low"), pl.col("median_high").alias("ci_high")
            ),
            groups,
            "median_won_deal_size",
            "median",
            "n",
            True,
        ),
        _long(f, groups, "bookings", "total", "n", False),
    ]


def _cycle(ds, period, as_of, groups):
    return [_long(cycle_length(ds, period, groups), groups, "cycle_length_days", "mean", "n", True)]


def _pipeline(ds, period, as_of, groups):
    as_of = parse_date(as_of) or period.end
    f = open_pipeline(ds, as_of, groups, period=period)
    sums = [
        pl.col("open_deals", "open_value").sum(),
        # unknown (not 0) when the stages carry no probabilities
        pl.when(pl.col("weighted_value").is_not_null().any())
        .then(pl.col("weighted_value").sum())
        .alias("weighted_value"),
    ]
    totals = f.group_by(groups).agg(sums).sort(groups) if groups else f.select(sums)
    out = []
    for metric, col in (
        ("open_deals", "open_deals"),
        ("open_value", "open_value"),
        ("weighted_pipeline", "weighted_value"),
    ):
        out.append(_long(totals, groups, metric, col, "open_deals", False, as_of=as_of))
        out.append(
            _long(
                f,
                groups,
                f"{metric}_by_stage",
                col,
                "open_deals",
                False,
                detail="stage",
                as_of=as_of,
            )
        )
    return out


def _conversion(ds, period, as_of, groups):
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = stage_conversion(ds, period, groups, as_of=as_of)
    mirrored = f.with_columns(
        (1 - pl.col("ci_high")).alias("ci_low"), (1 - pl.col("ci_low")).alias("ci_high")
    )
    return [
        _long(f, groups, "stage_conversion", "conversion", "n", True, detail="stage", as_of=as_of),
        _long(
            mirrored, groups, "stage_drop_off", "drop_off", "n", True, detail="stage", as_of=as_of
        ),
    ]


def _stage_km(ds, period, as_of, groups):
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = time_in_stage_km(ds, period, groups, as_of=as_of)
    return [
        _long(
            f,
            groups,
            "time_in_stage_km_days",
            "median_days",
            "n",
            True,
            detail="stage",
            as_of=as_of,
        )
    ]


def _cycle_km(ds, period, as_of, groups):
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = cycle_length_km(ds, period, groups, as_of=as_of)
    return [_long(f, groups, "cycle_length_km_days", "median_days", "n", True, as_of=as_of)]


def _close_rate(ds, period, as_of, groups):
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = close_rate(ds, period, groups, as_of=as_of)
    return [_long(f, groups, "close_rate", "close_rate", "n", True, as_of=as_of)]


_ALTERNATIVES = {
    "amount_closed": "win_rate_by_amount",
    "created_cohort": "win_rate_created_cohort",
    "stale_as_lost": "win_rate_stale_as_lost",
}


def _alternatives(ds, period, as_of, groups):
    f = win_rate_alternatives(ds, period, groups, as_of=as_of)
    out = []
    for definition, metric in _ALTERNATIVES.items():
        part = f.filter(pl.col("definition") == definition)
        cohort = resolve_cohort_as_of(ds, as_of, period) if definition == "created_cohort" else None
        out.append(_long(part, groups, metric, "value", "deals", True, as_of=cohort))
    return out


def _velocity(ds, period, as_of, groups):
    if ds.stages.filter(~pl.col("is_won") & ~pl.col("is_lost")).height == 0:
        return []  # no open stage, so no qualified pipeline to speak of
    f = velocity(ds, period, groups)
    return [_long(f, groups, "velocity_per_day", "velocity_per_day", "n", False, as_of=period.end)]


def _winloss(ds, period, as_of, groups):
    return [
        _long(
            lost_reasons(ds, period, groups),
            groups,
            "lost_reason_share",
            "share",
            "n",
            True,
            detail="lost_reason",
        ),
        _long(
            competitor_win_rates(ds, period, groups),
            groups,
            "win_rate_vs_competitor",
            "win_rate",
            "n",
            True,
            detail="competitor",
        ),
    ]


def _deal_lists(ds, period, as_of, groups):
    as_of = parse_date(as_of) or period.end
    stalled = stalled_deals(ds, as_of)
    slipped = slipped_deals(ds, as_of).with_columns(pl.lit(True).alias("slipped"))
    deals = ds.tables["deals"].select("deal_id", *[g for g in groups if g not in ("owner", "team")])
    frame = stalled.join(deals, on="deal_id", how="left").join(
        slipped.select("deal_id", "slipped"), on="deal_id", how="left"
    )
    aggs = [
        pl.col("stalled").sum().cast(pl.Int64).alias("stalled"),
        pl.col("slipped").fill_null(False).sum().cast(pl.Int64).alias("slipped"),
        pl.len().cast(pl.Int64).alias("open"),
    ]
    counts = frame.group_by(groups).agg(aggs).sort(groups) if groups else frame.select(aggs)
    return [
        _long(counts, groups, "stalled_deals", "stalled", "open", False, as_of=as_of),
        _long(counts, groups, "slipped_deals", "slipped", "open", False, as_of=as_of),
    ]


def _waterfall(ds, period, as_of, groups):
    f = pipeline_waterfall(ds, period, groups)
    buckets = ["start", "created", "won", "lost", "moved", "end"]
    long = f.unpivot(on=buckets, index=groups, variable_name="bucket", value_name="value").join(
        f.unpivot(
            on=[f"{b}_deals" for b in buckets],
            index=groups,
            variable_name="bucket",
            value_name="deals",
        ).with_columns(pl.col("bucket").str.strip_suffix("_deals")),
        on=[*groups, "bucket"],
    )
    return [_long(long, groups, "pipeline_waterfall", "value", "deals", False, detail="bucket")]


def _coverage(ds, period, as_of, groups):
    if groups not in ([], ["team"]):
        return []  # targets exist per team only
    if "targets" not in ds.tables:
        return []
    as_of = parse_date(as_of) or period.end
    f = pipeline_coverage(ds, period, groups, as_of=as_of)
    return [_long(f, groups, "pipeline_coverage", "coverage", "due_deals", False, as_of=as_of)]


def _needs(ds: Dataset, *tables: str) -> bool:
    return all(ds.has(t) for t in tables)


def _lead_groups(ds: Dataset, groups: list[str]) -> bool:
    return set(groups) <= set(ds.tables["leads"].columns)


def _leads(ds, period, as_of, groups):
    if not _needs(ds, "leads") or not _lead_groups(ds, groups):
        return []
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = lead_funnel(ds, period, groups, as_of=as_of)
    ci = f.with_columns(
        pl.col("conversion_rate_low").alias("ci_low"),
        pl.col("conversion_rate_high").alias("ci_high"),
    )
    wci = f.with_columns(
        pl.col("lead_win_rate_low").alias("ci_low"), pl.col("lead_win_rate_high").alias("ci_high")
    )
    return [
        _long(f, groups, "leads_created", "created", None, False, as_of=as_of),
        _long(f, groups, "qualified_leads", "qualified", "created", False, as_of=as_of),
        _long(ci, groups, "lead_conversion_rate", "conversion_rate", "n", True, as_of=as_of),
        _long(wci, groups, "lead_win_rate", "lead_win_rate", "n", True, as_of=as_of),
    ]


def _response(ds, period, as_of, groups):
    if not _needs(ds, "leads") or not _lead_groups(ds, groups):
        return []
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = lead_response_time(ds, period, groups, as_of=as_of)
    return [_long(f, groups, "lead_response_hours", "median_hours", "n", True, as_of=as_of)]


def _time_to_win(ds, period, as_of, groups):
    if not _needs(ds, "leads") or not _lead_groups(ds, groups):
        return []
    as_of = resolve_cohort_as_of(ds, as_of, period)
    f = lead_time_to_win(ds, period, groups, as_of=as_of)
    return [_long(f, groups, "lead_time_to_win_days", "median_days", "n", True, as_of=as_of)]


def _team_level(groups: list[str]) -> bool:
    return groups in ([], ["team"])


def _revenue(ds, period, as_of, groups):
    if not set(groups) <= {"team", "owner"}:
        return []
    out = [
        _long(
            bookings_vs_target(ds, period, groups),
            groups,
            "bookings_vs_target",
            "attainment",
            "won_deals",
            False,
        )
    ]
    if not _team_level(groups):
        return out  # churn, spend and customers are recorded per team
    if _needs(ds, "customers"):
        out.append(_long(churn(ds, period, groups), groups, "churn_rate", "churn_rate", "n", True))
        as_of_c = resolve_cohort_as_of(ds, as_of, period)
        out.append(
            _long(
                customer_retention(ds, period, groups, as_of=as_of_c),
                groups,
                "customer_lifetime_km_days",
                "median_days",
                "n",
                True,
                as_of=as_of_c,
            )
        )
    if _needs(ds, "marketing_spend"):
        acq = cac(ds, period, groups)
        out.append(_long(acq, groups, "cac", "cac", "new_customers", True))
        if _needs(ds, "customers"):
            value = clv(ds, period, groups)
            out.append(
                _long(
                    value.with_columns(
                        pl.col("clv_low").alias("ci_low"), pl.col("clv_high").alias("ci_high")
                    ),
                    groups,
                    "clv",
                    "clv",
                    "churn_n",
                    True,
                )
            )
            out.append(_long(value, groups, "clv_cac", "clv_cac", "churn_n", False))
    return out


def _activity(ds, period, as_of, groups):
    if not _needs(ds, "activities") or not set(groups) <= {"owner", "team"}:
        return []
    f = activities_per_rep(ds, period, groups or None)
    return [
        _long(f, groups, "activities_per_won_deal", "per_won_deal", "won_deals", False),
        _long(f, groups, "calls", "calls", None, False),
    ]


def _collateral(ds, period, as_of, groups):
    if not _needs(ds, "collateral_usage"):
        return []
    f = collateral_win_rates(ds, period, groups or None).with_columns(
        pl.col("difference_low").alias("ci_low"), pl.col("difference_high").alias("ci_high")
    )
    return [
        _long(
            f,
            groups,
            "collateral_win_rate_lift",
            "difference",
            "users_n",
            True,
            detail="content_id",
        )
    ]


# Metrics that mean something over the whole export (period "all", also without dates):
# counts and rates of the closed deals, deal sizes, cycle length (from days_to_close when the
# export has no dates), win/loss reasons.
WHOLE_EXPORT_METRICS = (
    "deals_won",
    "deals_lost",
    "win_rate",
    "win_rate_by_amount",
    "avg_won_deal_size",
    "median_won_deal_size",
    "bookings",
    "cycle_length_days",
    "lost_reason_share",
    "win_rate_vs_competitor",
)

_COMPUTE: dict[str, Callable[..., list[pl.DataFrame]]] = {
    "leads_created": _leads,
    "qualified_leads": _leads,
    "lead_conversion_rate": _leads,
    "lead_win_rate": _leads,
    "lead_response_hours": _response,
    "lead_time_to_win_days": _time_to_win,
    "bookings_vs_target": _revenue,
    "churn_rate": _revenue,
    "customer_lifetime_km_days": _revenue,
    "cac": _revenue,
    "clv": _revenue,
    "clv_cac": _revenue,
    "activities_per_won_deal": _activity,
    "calls": _activity,
    "collateral_win_rate_lift": _collateral,
    "close_rate": _close_rate,
    "win_rate_by_amount": _alternatives,
    "win_rate_created_cohort": _alternatives,
    "win_rate_stale_as_lost": _alternatives,
    "velocity_per_day": _velocity,
    "lost_reason_share": _winloss,
    "win_rate_vs_competitor": _winloss,
    "stalled_deals": _deal_lists,
    "slipped_deals": _deal_lists,
    "pipeline_waterfall": _waterfall,
    "pipeline_coverage": _coverage,
    "stage_conversion": _conversion,
    "stage_drop_off": _conversion,
    "cycle_length_km_days": _cycle_km,
    "time_in_stage_km_days": _stage_km,
    "deals_created": _flow,
    "deals_won": _flow,
    "deals_lost": _flow,
    "win_rate": _win_rate,
    "avg_won_deal_size": _deal_size,
    "median_won_deal_size": _deal_size,
    "bookings": _deal_size,
    "cycle_length_days": _cycle,
    "open_deals": _pipeline,
    "open_deals_by_stage": _pipeline,
    "open_value_by_stage": _pipeline,
    "weighted_pipeline_by_stage": _pipeline,
    "open_value": _pipeline,
    "weighted_pipeline": _pipeline,
}


def metrics_long(
    ds: Dataset,
    period: str | Period,
    *,
    as_of: str | dt.date | None = None,
    by: By = None,
    metrics: list[str] | None = None,
) -> pl.DataFrame:
    """Every requested metric (default: all) in one long frame.

    Columns: ``metric``, the ``by`` columns, ``value``, ``n``, ``ci_low``, ``ci_high`` (null
    where not applicable), then ``detail`` (the stage, reason or definition a row is about, for
    metrics that sub-divide a group; see each card), ``unit``,
    ``time_basis``, ``period`` and ``as_of`` (the day a snapshot or cohort is read: the given
    ``as_of``, else the period's last day for snapshots and the last date in the data for
    cohorts; empty for flow metrics).
    """
    period = Period.parse(period)
    groups = group_columns(by)
    names = metrics or metric_names()
    unknown = [m for m in names if m not in CATALOGUE]
    if unknown:
        raise KeyError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    if period.is_all:  # the whole export: flow figures only (a snapshot needs a day)
        dated = [m for m in names if m not in WHOLE_EXPORT_METRICS]
        if metrics and dated:
            raise ValueError(
                f"{', '.join(dated)} need(s) a dated period (a snapshot day or a cohort): "
                "use a period such as 2025-Q4; with period 'all' only "
                f"{', '.join(WHOLE_EXPORT_METRICS)} are computed"
            )
        names = [m for m in names if m in WHOLE_EXPORT_METRICS]
    computed: dict[Callable, list[pl.DataFrame]] = {}
    frames = []
    for name in names:
        fn = _COMPUTE[name]
        if fn not in computed:
            computed[fn] = fn(ds, period, as_of, groups)
        frames += [f for f in computed[fn] if f.height and f["metric"][0] == name]
    if not frames:
        schema = {
            "metric": pl.String,
            **{g: pl.String for g in groups},
            "value": pl.Float64,
            "n": pl.Int64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "detail": pl.String,
            "unit": pl.String,
            "time_basis": pl.String,
            "period": pl.String,
            "as_of": pl.String,
        }
        return pl.DataFrame(schema=schema)
    long = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.lit(period.label).alias("period")
    )
    return long.select(pl.exclude("as_of"), "as_of")
