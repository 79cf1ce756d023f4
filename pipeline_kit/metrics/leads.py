"""Lead metrics: the lead funnel (qualified, converted, won) and lead response time.

Both are cohort metrics over the leads *created* in the period, with outcomes read at
``as_of`` (default: the last date in the data). Group with ``by=`` on columns of ``leads``
(``source``, ``team``, ``owner``). Each function is called ``metric(ds, period, *, by=None,
as_of=None)`` and its output frame is described by the dataframely schema declared beside it.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    aggregate,
    amount_column,
    as_period,
    basis_column,
    by_group,
    check_by,
    count_column,
    flag_column,
    group_columns,
    km_by_group,
    resolve_cohort_as_of,
    share_column,
    time_basis,
)
from pipeline_kit.metrics._long import _lead_groups, _long, _needs
from pipeline_kit.metrics.cards import LEADS, WILSON, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, km_curve, wilson_interval

__all__ = ["lead_funnel", "lead_response_time", "lead_time_to_win"]


def _cohort(ds: Dataset, period: Period, day: dt.date) -> pl.LazyFrame:
    """Leads created in the period (on or before ``day``), with timestamps cut at ``day``."""
    end = pl.lit(dt.datetime.combine(day, dt.time.max))
    return (
        ds.lazy("leads")
        .filter(period.contains(pl.col("created_at").dt.date()) & (pl.col("created_at") <= end))
        .with_columns(
            pl.when(pl.col(c) <= end).then(pl.col(c)).alias(c)
            for c in ("qualified_at", "first_response_at", "converted_at")
        )
    )


class LeadFunnelOutput(dy.Schema):
    """:func:`lead_funnel`: the ``by`` columns, then these."""

    created = count_column()
    qualified = count_column(nullable=True)  # null when no lead has a qualified_at
    converted = count_column()
    won = count_column(nullable=True)  # null on an export of leads only (unknown, not 0)
    qualified_rate = share_column()
    qualified_rate_ci_low = share_column()
    qualified_rate_ci_high = share_column()
    conversion_rate = share_column()
    ci_low = share_column()
    ci_high = share_column()
    lead_win_rate = share_column()
    lead_win_rate_ci_low = share_column()
    lead_win_rate_ci_high = share_column()
    n = count_column()
    incomplete = flag_column()
    enough_data = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def lead_funnel(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    mature_days: int = 90,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Leads created in the period and how many were qualified, converted and won by ``as_of``.

    ``qualified_rate = qualified / created``, ``conversion_rate = converted / created``
    (lead -> opportunity: ``converted_at`` set, or a ``deal_id``), ``lead_win_rate = won /
    created`` (the lead's deal won by ``as_of``), each with a Wilson interval: ``ci_low``,
    ``ci_high`` for the conversion rate, ``qualified_rate_ci_low``/``_ci_high`` and
    ``lead_win_rate_ci_low``/``_ci_high`` for the others. ``incomplete`` is true when fewer
    than ``mature_days`` days separate the period end from ``as_of``: recent leads have not
    had time to convert. ``qualified`` and ``qualified_rate`` are null when the export has no
    ``qualified_at`` column (not exported: unknown, not 0). On an export of leads only
    (:attr:`Dataset.leads_only`) ``won``, ``lead_win_rate`` and its interval are null: no deal
    says whether a lead was won; a lead naming a ``deal_id`` counts as converted (the deal's
    creation date is not in the export, so not only by ``as_of``).
    Columns: :class:`LeadFunnelOutput`.
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    check_by(ds, "leads", groups, LeadFunnelOutput)
    deals = ds.lazy("deals").select(
        "deal_id",
        (pl.col("status").eq("won") & (pl.col("closed_at") <= day)).alias("_won"),
        (pl.col("created_at") <= day).alias("_deal_by_as_of"),
    )
    cohort = _cohort(ds, period, day).join(deals, on="deal_id", how="left")
    # counts the export cannot give: no deal to say a lead was won; no qualified_at at all
    unknown = {
        "won": ds.leads_only,
        "qualified": not _exported(ds, "qualified_at"),
        "converted": False,
    }
    # converted: a conversion time by as_of, or (no time exported) a deal created by as_of; in
    # an export of leads only, a deal named at all (no deal says when it was created)
    converted = pl.col("converted_at").is_not_null() | (
        pl.col("deal_id").is_not_null()
        if ds.leads_only
        else pl.col("_deal_by_as_of").fill_null(False)
    )
    frame = aggregate(
        cohort,
        groups,
        [
            pl.len().cast(pl.Int64).alias("created"),
            (
                pl.lit(None, pl.Int64)
                if unknown["qualified"]
                else pl.col("qualified_at").is_not_null().sum().cast(pl.Int64)
            ).alias("qualified"),
            converted.sum().cast(pl.Int64).alias("converted"),
            (
                pl.lit(None, pl.Int64)
                if unknown["won"]
                else pl.col("_won").fill_null(False).sum().cast(pl.Int64)
            ).alias("won"),
        ],
    ).collect()
    columns = []
    for name, count, interval in (
        ("qualified_rate", "qualified", "qualified_rate_ci"),
        ("conversion_rate", "converted", "ci"),  # the funnel's headline rate
        ("lead_win_rate", "won", "lead_win_rate_ci"),
    ):
        low, high = wilson_interval(count, "created", confidence)
        known = not unknown[count]
        if not known:  # unknown, not zero
            low = high = pl.lit(None, pl.Float64)
        columns += [
            pl.when((pl.col("created") > 0) & pl.lit(known))
            .then(pl.col(count) / pl.col("created"))
            .alias(name),
            low.alias(f"{interval}_low"),
            high.alias(f"{interval}_high"),
        ]
    return frame.with_columns(
        *columns,
        pl.col("created").alias("n"),
        pl.lit((day - period.end).days < mature_days).alias("incomplete"),
        (pl.col("created") >= min_n).alias("enough_data"),
    )


class LeadResponseTimeOutput(dy.Schema):
    """:func:`lead_response_time`: the ``by`` columns, then these (hours)."""

    n = count_column()
    # null when no lead has a first_response_at (the export has no response times)
    responded = count_column(nullable=True)
    never_contacted = count_column(nullable=True)
    median_hours = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    naive_median_responded = amount_column(nullable=True)
    within_count = count_column(nullable=True)
    within = share_column()
    within_ci_low = share_column()
    within_ci_high = share_column()
    enough_data = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def lead_response_time(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    within_hours: float = 1.0,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Hours from lead creation to first contact, never-contacted leads censored (Kaplan-Meier).

    Cohort: leads created in the period. A lead contacted by ``as_of`` contributes its
    response time as an event; one never contacted contributes the hours up to the end of
    ``as_of`` as censored ("waited at least this long"). Columns: groups, n, responded,
    never_contacted, median_hours with ci_low/ci_high (Kaplan-Meier), naive_median_responded
    (responded leads only), within (share answered within ``within_hours``, over all leads,
    with ``within_ci_low``/``within_ci_high``), enough_data (:class:`LeadResponseTimeOutput`).
    When the export has no ``first_response_at`` column (response times not exported),
    every figure but ``n`` is null and ``enough_data`` false: unknown, not "never contacted".
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    check_by(ds, "leads", groups, LeadResponseTimeOutput)
    end = pl.lit(dt.datetime.combine(day, dt.time.max))
    frame = (
        _cohort(ds, period, day)
        .select(
            *groups,
            (
                (pl.coalesce("first_response_at", end) - pl.col("created_at")).dt.total_seconds()
                / 3600
            ).alias("hours"),
            pl.col("first_response_at").is_not_null().alias("event"),
        )
        .collect()
    )
    within = (pl.col("event") & (pl.col("hours") <= within_hours)).sum().cast(pl.Int64)
    counts = (
        frame.group_by(groups).agg(within.alias("within_count"))
        if groups
        else frame.select(within.alias("within_count"))
    )
    km = (
        km_by_group(frame, groups, "hours", confidence)
        .rename(
            {
                "events": "responded",
                "censored": "never_contacted",
                "median": "median_hours",
                "naive_median": "naive_median_responded",
            }
        )
        .drop("naive_mean")
    )
    km = (
        km.join(counts, on=groups, how="left")
        if groups
        else km.with_columns(
            pl.lit(counts["within_count"][0] if km.height else None, pl.Int64).alias("within_count")
        )
    )
    low, high = wilson_interval("within_count", "n", confidence)
    out = km.with_columns(
        pl.when(pl.col("n") > 0).then(pl.col("within_count") / pl.col("n")).alias("within"),
        low.alias("within_ci_low"),
        high.alias("within_ci_high"),
        (pl.col("responded") >= min_n).alias("enough_data"),
    )
    if _exported(ds, "first_response_at"):
        return out
    blank = [c for c in out.columns if c not in (*groups, "n", "enough_data", "time_basis")]
    return out.with_columns(
        *(pl.lit(None, out.schema[c]).alias(c) for c in blank),
        pl.lit(False).alias("enough_data"),
    )


def _exported(ds: Dataset, column: str) -> bool:
    """Whether the export's leads have ``column`` (else the kit added it empty: unknown)."""
    return f"leads.{column}" not in ds.absent_columns


class LeadTimeToWinOutput(dy.Schema):
    """:func:`lead_time_to_win`: the ``by`` columns, then these (days)."""

    n = count_column()
    won = count_column()
    not_won = count_column()
    median_days = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    naive_median_won = amount_column(nullable=True)
    won_within = share_column()
    won_within_ci_low = share_column()
    won_within_ci_high = share_column()
    enough_data = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def lead_time_to_win(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    within_days: int = 90,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Days from lead creation to a won deal, leads not (yet) won censored (Kaplan-Meier).

    Cohort: leads created in the period. A lead whose deal was won by ``as_of`` contributes
    ``deal.closed_at - lead.created_at`` (days) as an event; every other lead (not converted,
    converted into a deal still open, lost, or not in the export) contributes the days up to
    ``as_of`` as censored ("not won for at least this long"). It is the time-to-win of the
    marketing funnel where only won deals are exported. A lost deal is censored at ``as_of``
    too, so the curve reads "won, for leads that could still win": with many losses it
    overstates the chance of winning late (losses are a competing outcome). Columns: groups,
    ``n``, ``won``, ``not_won``, ``median_days`` with ``ci_low``/``ci_high`` (null when fewer
    than half the leads are won, as in most funnels), ``won_within`` (Kaplan-Meier share won
    within ``within_days`` days, with ``won_within_ci_low``/``won_within_ci_high``),
    ``naive_median_won``, ``enough_data`` (won >= min_n) (:class:`LeadTimeToWinOutput`).

    Example: 10 leads, 2 won after 10 and 30 days, 8 not won after 100 days: no median (only
    20% won), won within 90 days = 20%.

    An export of leads only (:attr:`Dataset.leads_only`) is a ``ValueError``: no deal says
    when a lead was won.
    """
    if ds.leads_only:
        raise ValueError(
            "lead_time_to_win needs the deals: the export has leads only (no deal says when a "
            "lead was won)"
        )
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    check_by(ds, "leads", groups, LeadTimeToWinOutput)
    won = (
        ds.lazy("deals")
        .filter(pl.col("status").eq("won") & pl.col("closed_at").le(day))
        .select("deal_id", pl.col("closed_at").alias("_won_on"))
    )
    frame = (
        _cohort(ds, period, day)
        .join(won, on="deal_id", how="left")
        .select(
            *groups,
            (
                pl.coalesce("_won_on", pl.lit(day)).cast(pl.Datetime("us"))
                - pl.col("created_at").dt.truncate("1d")
            )
            .dt.total_days()
            .cast(pl.Float64)
            .clip(lower_bound=0)
            .alias("days"),
            pl.col("_won_on").is_not_null().alias("event"),
        )
        .collect()
    )
    km = km_by_group(frame, groups, "days", confidence).rename(
        {
            "events": "won",
            "censored": "not_won",
            "median": "median_days",
            "naive_median": "naive_median_won",
        }
    )
    within = []
    for key, part in by_group(frame, groups):
        curve = km_curve(part["days"].to_numpy(), part["event"].to_numpy(), confidence)
        point = curve.filter(pl.col("days") <= within_days).tail(1)
        still, low, high = (
            (point["still_open"][0], point["low"][0], point["high"][0])
            if point.height
            else (1.0, 1.0, 1.0)
            if part.height
            else (None, None, None)
        )
        within.append(
            {
                **dict(zip(groups, key, strict=True)),
                "won_within": None if still is None else 1 - still,
                "won_within_ci_low": None if high is None else 1 - high,
                "won_within_ci_high": None if low is None else 1 - low,
            }
        )
    shares = pl.DataFrame(
        within,
        schema={
            **{g: frame.schema[g] for g in groups},
            "won_within": pl.Float64,
            "won_within_ci_low": pl.Float64,
            "won_within_ci_high": pl.Float64,
        },
        orient="row",
    )
    km = (
        km.join(shares, on=groups, how="left")
        if groups
        else pl.concat([km, shares], how="horizontal")
    )
    return km.drop("naive_mean").with_columns((pl.col("won") >= min_n).alias("enough_data"))


# ----------------------------------------------------------------------------- catalogue


def _leads(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not _needs(ds, "leads") or not _lead_groups(ds, groups):
        return []
    day = resolve_cohort_as_of(ds, as_of, period)
    f = lead_funnel(ds, period, by=groups, as_of=day)
    wci = f.with_columns(
        pl.col("lead_win_rate_ci_low").alias("ci_low"),
        pl.col("lead_win_rate_ci_high").alias("ci_high"),
    )
    return [
        _long(f, groups, "leads_created", "created", None, False, as_of=day),
        _long(f, groups, "qualified_leads", "qualified", "created", False, as_of=day),
        _long(f, groups, "lead_conversion_rate", "conversion_rate", "n", True, as_of=day),
        _long(wci, groups, "lead_win_rate", "lead_win_rate", "n", True, as_of=day),
    ]


def _response(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not _needs(ds, "leads") or not _lead_groups(ds, groups):
        return []
    day = resolve_cohort_as_of(ds, as_of, period)
    f = lead_response_time(ds, period, by=groups, as_of=day)
    return [_long(f, groups, "lead_response_hours", "median_hours", "n", True, as_of=day)]


def _time_to_win(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not _needs(ds, "leads") or not _lead_groups(ds, groups):
        return []
    day = resolve_cohort_as_of(ds, as_of, period)
    f = lead_time_to_win(ds, period, by=groups, as_of=day)
    return [_long(f, groups, "lead_time_to_win_days", "median_days", "n", True, as_of=day)]


declare(
    MetricCard(
        "leads_created",
        "Leads created",
        "count of leads with created_at in the period",
        LEADS,
        "every valid lead created in the period",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.lead_funnel",
        reading="Lead volume for the period, by source: the input to everything below it.",
    ),
    function=lead_funnel,
    output=LeadFunnelOutput,
    long=_leads,
)


declare(
    MetricCard(
        "qualified_leads",
        "Qualified leads",
        "count of those leads qualified by as_of",
        LEADS,
        "leads created in the period with qualified_at on or before as_of",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.lead_funnel",
        reading="Leads that passed qualification by the as-of date; a young period is "
        "understated because its leads have had less time.",
    ),
    function=lead_funnel,
    output=LeadFunnelOutput,
    long=_leads,
)


declare(
    MetricCard(
        "lead_conversion_rate",
        "Lead to opportunity conversion",
        "converted / created",
        LEADS,
        "leads created in the period; converted = converted_at by as_of, or a deal created by "
        "as_of when no conversion time is exported",
        WILSON,
        "share",
        (
            "Recent leads have not had time to convert: flagged incomplete when the period ended "
            "less than 90 days before as_of.",
        ),
        "pipeline_kit.lead_funnel",
        reading="Share of leads that became opportunities. Compare by source: a "
        "low rate from a high-volume source is the largest lever.",
    ),
    function=lead_funnel,
    output=LeadFunnelOutput,
    long=_leads,
)


declare(
    MetricCard(
        "lead_win_rate",
        "Lead win rate",
        "leads whose deal was won by as_of / created",
        LEADS,
        "leads created in the period",
        WILSON,
        "share",
        (),
        "pipeline_kit.lead_funnel",
        reading="Share of leads that ended as won deals: the whole funnel in one number, "
        "slow to settle because it waits for the deals to close.",
    ),
    function=lead_funnel,
    output=LeadFunnelOutput,
    long=_leads,
)


declare(
    MetricCard(
        "lead_response_hours",
        "Lead response time (Kaplan-Meier median)",
        "median hours from created_at to first_response_at, never-contacted leads censored",
        LEADS,
        "every lead created in the period; those never contacted count as waiting at "
        "least until as_of",
        "log-log band of the Kaplan-Meier curve, 95%",
        "hours",
        ("Averaging only the leads that were answered hides the ones nobody called back.",),
        "pipeline_kit.lead_response_time",
        reading="Half of the leads got a first response within this many hours, "
        "never-contacted leads counted as still waiting. Speed to lead matters most for inbound.",
    ),
    function=lead_response_time,
    output=LeadResponseTimeOutput,
    long=_response,
)


declare(
    MetricCard(
        "lead_time_to_win_days",
        "Lead to won deal (Kaplan-Meier median days)",
        "median days from the lead's created_at to its deal's closed_at (won), leads not won "
        "by as_of censored",
        LEADS,
        "every lead created in the period; leads not converted, converted into a deal still "
        "open or lost, or whose deal is not in the export count as not won for at least the "
        "days up to as_of",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        (
            "Lost deals are censored, not counted as failures: with many losses the curve "
            "overstates late wins (losses compete with wins).",
            "Null until half the cohort is won, which in most funnels means never: read the "
            "won count and the curve, not only the median.",
        ),
        "pipeline_kit.lead_time_to_win",
        reading="How long leads take to become won deals, counting the leads "
        "that have not won yet: the marketing funnel's cycle, readable even from an export of "
        "won deals only.",
    ),
    function=lead_time_to_win,
    output=LeadTimeToWinOutput,
    long=_time_to_win,
)
