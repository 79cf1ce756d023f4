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
from pipeline_kit.metrics._common import By, group_columns
from pipeline_kit.metrics.conversion import stage_conversion
from pipeline_kit.metrics.deals import cycle_length, deal_flow, win_rate, won_deal_size
from pipeline_kit.metrics.durations import cycle_length_km
from pipeline_kit.metrics.pipeline import open_pipeline
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
        pl.lit(card.time_basis.split(" ")[0].rstrip(":,;")).alias("time_basis"),
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
    as_of = parse_date(as_of) or ds.last_date
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


def _cycle_km(ds, period, as_of, groups):
    as_of = parse_date(as_of) or ds.last_date
    f = cycle_length_km(ds, period, groups, as_of=as_of)
    return [_long(f, groups, "cycle_length_km_days", "median_days", "n", True, as_of=as_of)]


_COMPUTE: dict[str, Callable[..., list[pl.DataFrame]]] = {
    "stage_conversion": _conversion,
    "stage_drop_off": _conversion,
    "cycle_length_km_days": _cycle_km,
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
