"""The metric catalogue: a definition card per metric and the long format of the CLI.

Every metric the kit reports has a :class:`MetricCard` (formula, time basis, which deals
count, interval, pitfalls). ``pipeline_kit.explain("win_rate")`` shows one; :func:`metric_names`
lists them; the README's metric reference is generated from them, so it cannot drift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import By, group_columns, resolve_cohort_as_of
from pipeline_kit.metrics.activity import activities_per_rep
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
from pipeline_kit.metrics.leads import lead_funnel, lead_response_time
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

__all__ = ["CATALOGUE", "MetricCard", "explain", "metric_names", "metrics_long"]


@dataclass(frozen=True)
class MetricCard:
    """What a metric means, written once and shown everywhere it is used."""

    name: str
    title: str
    formula: str
    time_basis: str  # "period", "snapshot" or "cohort", with what that means here
    counts: str  # which deals count
    interval: str
    unit: str  # share, currency, days, count
    pitfalls: tuple[str, ...]
    function: str  # the pipeline_kit function that computes it

    @property
    def basis(self) -> str:
        """The time basis in one word: period, snapshot or cohort."""
        return self.time_basis.split(" ")[0].strip(":,;")

    def to_markdown(self) -> str:
        """The card as Markdown (used in reports, notebooks and the README)."""
        lines = [
            f"**{self.title}** (`{self.name}`)",
            "",
            f"- Formula: {self.formula}",
            f"- Time basis: {self.time_basis}",
            f"- Which deals count: {self.counts}",
            f"- Interval: {self.interval}",
            f"- Computed by: `{self.function}`",
        ]
        if self.pitfalls:
            lines.append("- Pitfalls: " + " ".join(self.pitfalls))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown().replace("**", "").replace("`", "")


_CLOSED_IN = "deals whose closed_at falls in the period (both ends included)"
_SNAPSHOT = (
    "snapshot at as_of (default: the period's last day), rebuilt from stage_history; "
    "approximate when the history was derived from the deals"
)

CARDS: tuple[MetricCard, ...] = (  # extended below, one block per metric family
    MetricCard(
        "deals_created",
        "Deals created",
        "count of deals with created_at in the period",
        "period",
        "every valid deal created in the period, whatever happened to it later",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.deal_flow",
    ),
    MetricCard(
        "deals_won",
        "Deals won",
        "count of deals with status won and closed_at in the period",
        "period",
        "won " + _CLOSED_IN,
        "none (a count)",
        "count",
        (),
        "pipeline_kit.deal_flow",
    ),
    MetricCard(
        "deals_lost",
        "Deals lost",
        "count of deals with status lost and closed_at in the period",
        "period",
        "lost " + _CLOSED_IN,
        "none (a count)",
        "count",
        (),
        "pipeline_kit.deal_flow",
    ),
    MetricCard(
        "win_rate",
        "Win rate",
        "won / (won + lost)",
        "period",
        "won and lost " + _CLOSED_IN + "; open deals are excluded",
        "Wilson score 95%",
        "share",
        (
            "CRMs also report won / all created, win rate by amount, or count stale open deals "
            "as lost; these give different numbers and are not comparable.",
            "Below 20 closed deals the interval is too wide for a verdict.",
        ),
        "pipeline_kit.win_rate",
    ),
    MetricCard(
        "avg_won_deal_size",
        "Average won deal size",
        "sum(amount of won deals) / won",
        "period",
        "won " + _CLOSED_IN,
        "Student-t 95% for the mean, lower end truncated at 0",
        "currency",
        ("Amounts are skewed: a few large deals move the mean; read the median beside it.",),
        "pipeline_kit.won_deal_size",
    ),
    MetricCard(
        "median_won_deal_size",
        "Median won deal size",
        "median(amount of won deals)",
        "period",
        "won " + _CLOSED_IN,
        "none yet (bootstrap interval planned)",
        "currency",
        (),
        "pipeline_kit.won_deal_size",
    ),
    MetricCard(
        "bookings",
        "Bookings",
        "sum(amount of won deals)",
        "period",
        "won " + _CLOSED_IN,
        "none (a total)",
        "currency",
        (),
        "pipeline_kit.won_deal_size",
    ),
    MetricCard(
        "cycle_length_days",
        "Sales cycle length (naive)",
        "mean(closed_at - created_at) in days",
        "period",
        "won and lost " + _CLOSED_IN,
        "Student-t 95% for the mean, lower end truncated at 0",
        "days",
        (
            "Naive: deals still open are ignored, so with many young open deals the typical "
            "cycle is understated; a censoring-aware (Kaplan-Meier) estimate is the remedy.",
            "Averaging over won deals only (as many CRMs do) gives a different figure.",
        ),
        "pipeline_kit.cycle_length",
    ),
    MetricCard(
        "open_deals",
        "Open deals",
        "count of deals open at as_of",
        _SNAPSHOT,
        "deals created on or before as_of and not won or lost by then; per stage when the "
        "stage column is filled",
        "none (a count)",
        "count",
        (
            "A CRM's 'open pipeline' filter that keys on stage names can include won or lost "
            "deals; here status and closed_at decide.",
        ),
        "pipeline_kit.open_pipeline",
    ),
    MetricCard(
        "open_value",
        "Open pipeline value",
        "sum(amount) of deals open at as_of",
        _SNAPSHOT,
        "as for open_deals",
        "none (a total)",
        "currency",
        (),
        "pipeline_kit.open_pipeline",
    ),
    MetricCard(
        "weighted_pipeline",
        "Weighted pipeline",
        "sum(amount x stage probability) of deals open at as_of (probability on a 0-1 scale)",
        _SNAPSHOT,
        "as for open_deals",
        "none (a total)",
        "currency",
        ("Probabilities given as 0-100 are detected and divided by 100 (noted on load).",),
        "pipeline_kit.open_pipeline",
    ),
)
CARDS += (
    MetricCard(
        "stage_conversion",
        "Stage conversion",
        "advanced / (advanced + dropped) per stage",
        "cohort: deals that first entered the stage "
        "in the period, outcomes read at as_of (default: last date in the data)",
        "each deal counts once per stage it actually entered (first entry); it advanced if it "
        "later reached a later open stage or won (a skip ahead counts), dropped if lost without "
        "advancing, pending otherwise; skipped stages are not entered; backward moves alone "
        "count as neither",
        "Wilson score 95%",
        "share",
        (
            "Cohorts with over 10% of deals pending are flagged incomplete: too young to judge.",
            "Counting skipped stages as passed, or re-entries as new deals, inflates conversion.",
        ),
        "pipeline_kit.stage_conversion",
    ),
    MetricCard(
        "stage_drop_off",
        "Stage drop-off",
        "dropped / (advanced + dropped) per stage",
        "cohort, as for stage_conversion",
        "as for stage_conversion",
        "Wilson score 95% (of the conversion, mirrored)",
        "share",
        (),
        "pipeline_kit.stage_conversion",
    ),
    MetricCard(
        "cycle_length_km_days",
        "Sales cycle length (Kaplan-Meier median)",
        "median of days from created_at to closed_at, open deals censored at as_of",
        "cohort: deals created in the period, outcomes read at as_of (default: last date in "
        "the data)",
        "every deal created in the period: closed ones (won or lost) as events, open ones as "
        "censored observations",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        ("Null when fewer than half the cohort has closed: the median is not known yet.",),
        "pipeline_kit.cycle_length_km",
    ),
)
_COHORT = (
    "cohort: deals created in the period, outcomes read at as_of (default: last date in the data)"
)
CARDS += (
    MetricCard(
        "close_rate",
        "Close rate (cohort)",
        "won / created",
        _COHORT,
        "every deal created in the period; still-open deals count as not (yet) won",
        "Wilson score 95%",
        "share",
        (
            "Young cohorts look worse than they will end up: flagged incomplete when over 10% of "
            "the cohort is still open.",
        ),
        "pipeline_kit.close_rate",
    ),
    MetricCard(
        "win_rate_by_amount",
        "Win rate by amount",
        "won amount / (won + lost) amount",
        "period",
        "won and lost " + _CLOSED_IN,
        "none (a ratio of sums)",
        "share",
        (
            "Dominated by a few large deals; differs from the count-based win rate whenever "
            "large deals win more or less often than small ones.",
        ),
        "pipeline_kit.win_rate_alternatives",
    ),
    MetricCard(
        "win_rate_created_cohort",
        "Win rate over created deals",
        "won / created",
        _COHORT,
        "every deal created in the period, open ones as not won",
        "none (see close_rate)",
        "share",
        ("What many CRMs call win rate; low for recent periods by construction.",),
        "pipeline_kit.win_rate_alternatives",
    ),
    MetricCard(
        "win_rate_stale_as_lost",
        "Win rate with stale deals as lost",
        "won / (won + lost + stale)",
        "period",
        "won and lost " + _CLOSED_IN + ", plus deals open at the period end that were created "
        "more than 180 days before it, counted as lost",
        "none",
        "share",
        ("Penalises teams that keep dead deals open; the threshold is a convention.",),
        "pipeline_kit.win_rate_alternatives",
    ),
    MetricCard(
        "velocity_per_day",
        "Pipeline velocity",
        "open qualified deals x win rate x average won deal size / average won cycle (days)",
        "snapshot of qualified open deals at the period end; the three rates from deals closed "
        "in the period",
        "open deals in the second open stage or later at the period end; won and lost deals "
        "closed in the period for the rates",
        "none (a composite of estimates; read their intervals)",
        "currency",
        (
            "Multiplying four noisy estimates compounds their noise; compare velocities only "
            "between groups with enough closed deals.",
        ),
        "pipeline_kit.velocity",
    ),
    MetricCard(
        "lost_reason_share",
        "Share of losses by reason",
        "lost with reason / all lost",
        "period",
        "lost " + _CLOSED_IN + "; deals without a reason shown as '(not given)'; "
        "detail = the reason",
        "Wilson score 95%",
        "share",
        (),
        "pipeline_kit.lost_reasons",
    ),
    MetricCard(
        "win_rate_vs_competitor",
        "Win rate against a competitor",
        "won / (won + lost) among deals with that competitor",
        "period",
        "won and lost " + _CLOSED_IN + " grouped by competitor; detail = the competitor",
        "Wilson score 95%",
        "share",
        (
            "Competitors are recorded more often on lost deals in many CRMs, which drags these "
            "rates down.",
        ),
        "pipeline_kit.competitor_win_rates",
    ),
    MetricCard(
        "stalled_deals",
        "Stalled deals",
        "count of open deals whose days in the current stage exceed the 90th percentile of "
        "completed visits of that stage",
        _SNAPSHOT,
        "deals open at as_of; stages with fewer than 20 completed visits are never judged",
        "none (a count; n = open deals)",
        "count",
        (
            "A fixed 'more than 30 days' rule flags every deal in a slow stage and none in a fast "
            "one; the per-stage percentile does not.",
        ),
        "pipeline_kit.stalled_deals",
    ),
    MetricCard(
        "slipped_deals",
        "Slipped deals",
        "count of open deals with expected_close before as_of",
        _SNAPSHOT,
        "deals open at as_of with an expected_close already past",
        "none (a count; n = open deals)",
        "count",
        ("Only the current forecast date is exported, so repeated pushes are not visible.",),
        "pipeline_kit.slipped_deals",
    ),
    MetricCard(
        "pipeline_waterfall",
        "Pipeline waterfall",
        "start + created - won - lost (+ moved) = end, in value; detail = the bucket",
        "period: open at the day before the period, flows during it, open at its last day",
        "all deals open at either end or created or closed in the period",
        "none (identity checked: moved must be 0)",
        "currency",
        (),
        "pipeline_kit.pipeline_waterfall",
    ),
    MetricCard(
        "pipeline_coverage",
        "Pipeline coverage",
        "value of deals open at as_of with expected_close in the next period / next period's "
        "target",
        _SNAPSHOT + "; targets of the following period",
        "open deals due in the next period; team-level targets (no owner)",
        "none (a ratio)",
        "ratio",
        ("Coverage counts forecast dates the reps typed: slipped deals inflate it.",),
        "pipeline_kit.pipeline_coverage",
    ),
)
_LEADS = (
    "cohort: leads created in the period, outcomes read at as_of (default: last date in the data)"
)
CARDS += (
    MetricCard(
        "leads_created",
        "Leads created",
        "count of leads with created_at in the period",
        _LEADS,
        "every valid lead created in the period",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.lead_funnel",
    ),
    MetricCard(
        "qualified_leads",
        "Qualified leads",
        "count of those leads qualified by as_of",
        _LEADS,
        "leads created in the period with qualified_at on or before as_of",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.lead_funnel",
    ),
    MetricCard(
        "lead_conversion_rate",
        "Lead to opportunity conversion",
        "converted / created",
        _LEADS,
        "leads created in the period; converted = converted_at by as_of, or a deal created by "
        "as_of when no conversion time is exported",
        "Wilson score 95%",
        "share",
        (
            "Recent leads have not had time to convert: flagged incomplete when the period ended "
            "less than 90 days before as_of.",
        ),
        "pipeline_kit.lead_funnel",
    ),
    MetricCard(
        "lead_win_rate",
        "Lead win rate",
        "leads whose deal was won by as_of / created",
        _LEADS,
        "leads created in the period",
        "Wilson score 95%",
        "share",
        (),
        "pipeline_kit.lead_funnel",
    ),
    MetricCard(
        "lead_response_hours",
        "Lead response time (Kaplan-Meier median)",
        "median hours from created_at to first_response_at, never-contacted leads censored",
        _LEADS,
        "every lead created in the period; those never contacted count as waiting at "
        "least until as_of",
        "log-log band of the Kaplan-Meier curve, 95%",
        "hours",
        ("Averaging only the leads that were answered hides the ones nobody called back.",),
        "pipeline_kit.lead_response_time",
    ),
    MetricCard(
        "bookings_vs_target",
        "Bookings against target (attainment)",
        "bookings / target",
        "period",
        "won " + _CLOSED_IN + "; team targets (no owner) lying inside the period",
        "none (a ratio)",
        "ratio",
        ("Split by deal type in pipeline_kit.bookings_vs_target.",),
        "pipeline_kit.bookings_vs_target",
    ),
    MetricCard(
        "churn_rate",
        "Customer churn rate",
        "churned in the period / active at its start",
        "period",
        "customers active at the period start (started before it, not ended before "
        "it); churned = end_date in the period",
        "Wilson score 95%",
        "share",
        (),
        "pipeline_kit.churn",
    ),
    MetricCard(
        "customer_lifetime_km_days",
        "Customer lifetime (Kaplan-Meier median)",
        "median days from start_date to end_date, active customers censored",
        "cohort: customers who started in the period, read at as_of (default: last date in "
        "the data)",
        "customers who started in the period",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        ("Usually not reached for recent cohorts: most customers are still active.",),
        "pipeline_kit.customer_retention",
    ),
    MetricCard(
        "cac",
        "Customer acquisition cost",
        "marketing spend / new customers",
        "period",
        "spend lines starting in the period; customers starting in the period (or won new "
        "deals when there is no customers table)",
        "none (a ratio)",
        "currency",
        (
            "Spend and the customers it brings are often in different periods; compare over "
            "several quarters.",
        ),
        "pipeline_kit.cac",
    ),
    MetricCard(
        "clv",
        "Customer lifetime value",
        "average MRR of active customers / monthly churn rate",
        "period",
        "customers active at the period start",
        "none (a composite)",
        "currency",
        ("No gross margin is applied; with little churn the estimate is unstable or null.",),
        "pipeline_kit.clv",
    ),
    MetricCard(
        "clv_cac",
        "CLV:CAC",
        "clv / cac",
        "period",
        "as for clv and cac",
        "none (a ratio of composites)",
        "ratio",
        (),
        "pipeline_kit.clv",
    ),
    MetricCard(
        "activities_per_won_deal",
        "Activities per won deal",
        "activities on deals won in the period / deals won",
        "period",
        "won " + _CLOSED_IN + "; every activity logged on them",
        "none",
        "count",
        ("Reps log unevenly: compare within a team before comparing reps.",),
        "pipeline_kit.activities_per_rep",
    ),
    MetricCard(
        "calls",
        "Calls logged",
        "count of activities of type call in the period",
        "period",
        "activities whose occurred_at falls in the period",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.activities_per_rep",
    ),
    MetricCard(
        "collateral_win_rate_lift",
        "Collateral: win rate of users minus same-stage peers",
        "win rate of closed deals that used the content - win rate of closed deals that "
        "reached the content's usual stage without it",
        "period",
        "won and lost " + _CLOSED_IN + "; detail = the content id",
        "none for the difference (both win rates carry Wilson intervals in "
        "pipeline_kit.collateral_win_rates)",
        "difference",
        (
            "Comparing users with all deals credits late-stage content with the wins that "
            "reaching a late stage brings anyway.",
        ),
        "pipeline_kit.collateral_win_rates",
    ),
)
CARDS += (
    MetricCard(
        "time_in_stage_km_days",
        "Time in stage (Kaplan-Meier median)",
        "median days from entering a stage to entering any other, visits still in the stage "
        "censored at as_of",
        "cohort: stage visits that started in the period, read at as_of (default: last date in "
        "the data)",
        "every visit of an open stage (a deal moving back and returning makes two visits); "
        "detail = the stage",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        ("Averaging only finished visits understates time in the stages where deals get stuck.",),
        "pipeline_kit.time_in_stage_km",
    ),
)
CATALOGUE: dict[str, MetricCard] = {card.name: card for card in CARDS}


def metric_names() -> list[str]:
    """Names of every metric in the catalogue, in catalogue order."""
    return list(CATALOGUE)


def explain(name: str) -> MetricCard:
    """The definition card of metric ``name`` (renders as Markdown in Jupyter)."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(CATALOGUE)}") from None


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
        _long(f, groups, "median_won_deal_size", "median", "n", False),
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
    totals = f.group_by(groups).agg(sums) if groups else f.select(sums)
    out = []
    for metric, col in (
        ("open_deals", "open_deals"),
        ("open_value", "open_value"),
        ("weighted_pipeline", "weighted_value"),
    ):
        out.append(_long(totals, groups, metric, col, "open_deals", False, as_of=as_of))
        out.append(_long(f, groups, metric, col, "open_deals", False, detail="stage", as_of=as_of))
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
        out.append(_long(part, groups, metric, "value", "denominator", False, as_of=cohort))
    return out


def _velocity(ds, period, as_of, groups):
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


def _team_level(groups: list[str]) -> bool:
    return groups in ([], ["team"])


def _revenue(ds, period, as_of, groups):
    if not _team_level(groups):
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
        out.append(_long(acq, groups, "cac", "cac", "new_customers", False))
        if _needs(ds, "customers"):
            value = clv(ds, period, groups)
            out.append(_long(value, groups, "clv", "clv", "churn_n", False))
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
    f = collateral_win_rates(ds, period, groups or None)
    return [
        _long(
            f,
            groups,
            "collateral_win_rate_lift",
            "difference",
            "users_n",
            False,
            detail="content_id",
        )
    ]


_COMPUTE: dict[str, Callable[..., list[pl.DataFrame]]] = {
    "leads_created": _leads,
    "qualified_leads": _leads,
    "lead_conversion_rate": _leads,
    "lead_win_rate": _leads,
    "lead_response_hours": _response,
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
    computed: dict[Callable, list[pl.DataFrame]] = {}
    frames = []
    for name in names:
        fn = _COMPUTE[name]
        if fn not in computed:
            computed[fn] = fn(ds, period, as_of, groups)
        frames += [f for f in computed[fn] if f.height and f["metric"][0] == name]
    if not frames:
        return pl.DataFrame(schema={"metric": pl.String, **{g: pl.String for g in groups}})
    long = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.lit(period.label).alias("period")
    )
    return long.select(pl.exclude("as_of"), "as_of")
