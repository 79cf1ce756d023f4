"""Stage-to-stage conversion and drop-off, by cohort of deals entering each stage.

Rule (documented in the ``stage_conversion`` card and tested):

* a deal joins the cohort of stage *k* the **first** time it enters *k*, if that day is in
  the period; stages it skipped are not entered, so a skip never counts as a conversion of
  the skipped stage;
* it has **advanced** when, on or after that day and by ``as_of``, it enters any later open
  stage or a won stage (a skip ahead counts as advancing);
* it has **dropped** when it was lost by ``as_of`` without advancing;
* otherwise it is **pending** (still open, or moved backwards and not yet forward again).
  Backward moves alone are neither conversions nor drop-offs.

``conversion`` is the Aalen-Johansen cumulative incidence of advancing (competing risks:
advancing against dropping; time = days from the first entry to the first advance, to the
loss or, for a pending deal, to ``as_of``, where it is censored) at the end of follow-up,
the cohort's oldest deal's age at ``as_of``: the estimated share of the cohort that advances
within that time, each pending deal standing for the decided deals that had been in the
stage as long (Aalen & Johansen 1978). ``drop_off`` is the same of dropping. With no deal
pending they are ``advanced / (advanced + dropped)`` and its complement, exactly; with deals
pending ``conversion + drop_off = 1 -`` the estimated share still undecided at that age (the
slow deals whose fate no older deal has shown yet). The plain ``advanced / (advanced +
dropped)`` used before counted only the decided deals, and as drops are decided faster than
advances it was biased low while deals were pending (0.353 and 0.381 against a true 0.400
with 11.8% and 3.2% pending in the second intervals audit, at the edge of its own interval
at organisation scale); the Aalen-Johansen estimate gave 0.391 and 0.398 there, the
truth within the follow-up (``bench/coverage.py``). Its interval
spans what the pending deals may still do: from the Wilson lower bound of
``advanced / entered`` (every pending deal drops) to the Wilson upper bound of
``(advanced + pending) / entered`` (every one advances), Manski's worst-case bounds (1989).
A Wilson interval on the decided deals alone excluded the cohort's eventual conversion with
2-7% of it pending when drops came faster than advances, as they usually do (a lost deal is
closed quickly, a slow yes lingers); with no deal pending the two are the same. A cohort with
more than ``max_pending`` of its deals pending is flagged ``incomplete``: it is too young to
judge. The point estimate lies within those bounds: each pending deal's share goes to
later advances, later drops or stays undecided, so ``advanced / entered <= conversion <=
(advanced + pending) / entered``.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    as_period,
    basis_column,
    check_by,
    count_column,
    flag_column,
    group_columns,
    resolve_cohort_as_of,
    share_column,
    stage_groups,
    time_basis,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import PER_PIPELINE, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import (
    MIN_N,
    clustered_wilson_interval,
    competing_risks_incidence,
    dispersed_p_chart_limits,
    pooled_accounts_design_effect,
)

__all__ = ["stage_conversion", "stage_conversion_control"]


class StageConversionOutput(dy.Schema):
    """:func:`stage_conversion`: the ``by`` columns, then these.

    One row per open stage entered in the period.
    """

    stage = dy.String(nullable=False)
    stage_order = dy.Int64(nullable=False)
    entered = count_column()
    advanced = count_column()
    dropped = count_column()
    pending = count_column()
    n = count_column()
    conversion = share_column()
    ci_low = share_column()
    ci_high = share_column()
    design_effect = dy.Float64(nullable=True, min=1)
    drop_off = share_column()
    pending_share = share_column(nullable=False)
    incomplete = flag_column()
    enough_data = flag_column()
    approximate = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def stage_conversion(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    max_pending: float = 0.1,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Conversion and drop-off per open stage for the deals that entered it in the period.

    ``as_of`` (default: the last date in the data) is when outcomes are read. Columns:
    groups, stage, stage_order, entered, advanced, dropped, pending, n (= advanced +
    dropped), conversion, ci_low, ci_high, design_effect, drop_off, pending_share,
    incomplete, enough_data, approximate (stage history derived from the deals)
    (:class:`StageConversionOutput`).
    ``conversion`` / ``drop_off``: the Aalen-Johansen cumulative incidence of advancing /
    dropping by the cohort's oldest deal's age at ``as_of``, pending deals censored at
    ``as_of`` (time basis: days from the deal's first entry into the stage); exactly
    ``advanced / n`` and ``dropped / n`` when no deal is pending; null when ``n`` is 0 (see
    the module docstring).

    Deals of one account tend to advance or drop together, so n deals hold less information
    than n independent ones: when the deals carry ``account_id``, ``design_effect`` is ``1 +
    (Σ m_j² / N - 1) · ICC`` of the row's decided deals in their accounts (``m_j`` deals in
    account j, advancing the success; a deal without an account is its own), with one
    intraclass correlation pooled over every row of the table, each row around its own
    rate (:func:`pipeline_kit.stats.pooled_accounts_design_effect`), and both ends of the
    interval are the Wilson ends on ``entered / design_effect`` deals (counts divided
    likewise), never narrower than the plain ones. It is 1 where the accounts show no such
    clustering and null where none of the row's decided deals has an account (the plain
    interval). A stage cohort of 5-20 deals has 2-8 accounts, too few for an ICC of its own:
    with each row's own ICC (before the tenth session) the interval covered 84-91% of
    cohorts of 5-8 deals converting at 0.5 with an ICC of 0.3, with the ICC pooled over the
    5 teams of a table 93-96% (``bench/coverage.py --tails10-only --tails10-part stage``,
    500 teams a cell). A table of one row (one stage, one group) still has only its own
    accounts to go on, as before; below 20 decided deals (``enough_data`` false) read its
    interval with that in mind.
    ``as_of`` may be ``"latest"``.
    With deals in several pipelines the rows are also per ``pipeline`` (first column), even
    when ``by`` does not name it (:func:`~pipeline_kit.metrics._common.stage_groups`).
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    check_by(ds, "deals", groups, StageConversionOutput)
    groups = stage_groups(ds, groups)
    stages = ds.lazy("stages").select("stage", "order", "is_won", "is_lost")
    history = ds.lazy("stage_history").filter(pl.col("entered_at") <= day)
    # a stage first entered in the period needs a change in the period: only those deals'
    # histories matter, usually a small share of all of them
    active = history.filter(period.contains("entered_at")).select("deal_id")
    # (cached: the first entries and the later moves both read it; without the cache the
    # plan computes it twice, a third of the metric's time at 1M deals)
    history = (
        history.join(active, on="deal_id", how="semi").join(stages, on="stage", how="inner").cache()
    )
    first_entry = (
        history.filter(~pl.col("is_won") & ~pl.col("is_lost"))
        .group_by("deal_id", "stage", "order")
        .agg(pl.col("entered_at").min().alias("entered_at"))
        .filter(period.contains("entered_at"))
    )
    accounts = "account_id" in ds.schema("deals")
    deals = ds.lazy("deals").select(
        "deal_id",
        *groups,
        (pl.col("status").eq("lost") & (pl.col("closed_at") <= day)).alias("lost_by_as_of"),
        "closed_at",
        *(["account_id"] if accounts else []),
    )
    later = history.select(
        "deal_id",
        pl.col("order").alias("later_order"),
        pl.col("entered_at").alias("later_at"),
        pl.col("is_won").alias("later_won"),
        pl.col("is_lost").alias("later_lost"),
    )
    advanced = (
        first_entry.join(later, on="deal_id")
        .filter(
            (pl.col("later_at") >= pl.col("entered_at"))
            & (
                pl.col("later_won")
                | (~pl.col("later_lost") & (pl.col("later_order") > pl.col("order")))
            )
        )
        .group_by("deal_id", "stage")
        .agg(pl.col("later_at").min().alias("advanced_at"))
        .with_columns(pl.lit(True).alias("advanced"))
    )
    per_deal = (
        first_entry.join(deals, on="deal_id", how="inner")
        .join(advanced, on=["deal_id", "stage"], how="left")
        .with_columns(pl.col("advanced").fill_null(False))
        .with_columns((~pl.col("advanced") & pl.col("lost_by_as_of")).alias("dropped"))
        .with_columns(
            # days from the first entry to advancing, to the loss, or to as_of (pending)
            pl.when(pl.col("advanced"))
            .then(pl.col("advanced_at"))
            .when(pl.col("dropped"))
            .then(pl.col("closed_at"))
            .otherwise(pl.lit(day))
            .sub(pl.col("entered_at"))
            .dt.total_days()
            .clip(lower_bound=0)
            .alias("_days")
        )
    )
    keys = [*groups, "stage", "order"]
    incidence = competing_risks_incidence(per_deal, keys, "_days", "advanced", "dropped")
    # (the pending deals' outcomes, worst case either way: see the module docstring; on
    # entered / design_effect deals where the deals cluster in accounts)
    low = clustered_wilson_interval("advanced", "entered", "design_effect", confidence)[0]
    high = clustered_wilson_interval(
        "__advanced_or_pending", "entered", "design_effect", confidence
    )[1]
    if accounts:  # (of the decided deals, advancing as the success; one ICC over the rows)
        decided = per_deal.filter(pl.col("advanced") | pl.col("dropped"))
        effect = pooled_accounts_design_effect(decided, keys, pl.col("advanced"))
    else:
        effect = per_deal.select(*keys, pl.lit(None, pl.Float64).alias("design_effect")).unique()
    out = (
        per_deal.group_by(*groups, "stage", "order")
        .agg(
            pl.len().cast(pl.Int64).alias("entered"),
            pl.col("advanced").sum().cast(pl.Int64),
            pl.col("dropped").sum().cast(pl.Int64),
        )
        .with_columns(
            (pl.col("entered") - pl.col("advanced") - pl.col("dropped")).alias("pending"),
            (pl.col("advanced") + pl.col("dropped")).alias("n"),
            (pl.col("entered") - pl.col("dropped")).alias("__advanced_or_pending"),
        )
        .join(incidence, on=keys, how="left", nulls_equal=True)
        .join(effect, on=keys, how="left", nulls_equal=True)
        .with_columns(
            # (nothing pending: the Aalen-Johansen estimate is advanced / n, exactly so)
            pl.when(pl.col("n") == 0)
            .then(None)
            .when(pl.col("pending") == 0)
            .then(pl.col("advanced") / pl.col("n"))
            .otherwise(pl.col("first_incidence"))
            .alias("conversion"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            pl.when(pl.col("n") == 0)
            .then(None)
            .when(pl.col("pending") == 0)
            .then(pl.col("dropped") / pl.col("n"))
            .otherwise(pl.col("second_incidence"))
            .alias("drop_off"),
            (pl.col("pending") / pl.col("entered")).alias("pending_share"),
        )
        .with_columns(
            (pl.col("pending_share") > max_pending).alias("incomplete"),
            (pl.col("n") >= min_n).alias("enough_data"),
            pl.lit(ds.stage_history_approximate).alias("approximate"),
        )
        .rename({"order": "stage_order"})
        .select(*groups, *[c for c in StageConversionOutput.column_names() if c != "time_basis"])
        .sort(*groups, "stage_order")
    )
    return out.collect()


# ----------------------------------------------------------------------------- catalogue

PENDING_BOUNDS = (
    "from the Wilson 95% lower bound of advanced / entered (every pending deal drops) to the "
    "Wilson upper bound of (advanced + pending) / entered (every one advances): the pending "
    "deals' outcomes, worst case either way; when deals carry account_id, on entered / "
    "design_effect deals (the design effect of the stage's decided deals, with one "
    "intraclass correlation pooled over the table's stages and groups), never narrower"
)


def _conversion(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    day = resolve_cohort_as_of(ds, as_of, period)
    f = stage_conversion(ds, period, by=groups, as_of=day)
    mirrored = f.with_columns(
        (1 - pl.col("ci_high")).alias("ci_low"), (1 - pl.col("ci_low")).alias("ci_high")
    )
    return [
        _long(f, groups, "stage_conversion", "conversion", "n", True, detail="stage", as_of=day),
        _long(mirrored, groups, "stage_drop_off", "drop_off", "n", True, detail="stage", as_of=day),
    ]


declare(
    MetricCard(
        "stage_conversion",
        "Stage conversion",
        "the Aalen-Johansen cumulative incidence of advancing by the cohort's oldest deal's "
        "age (advancing against dropping, pending deals censored at as_of); = advanced / "
        "(advanced + dropped) when no deal is pending",
        "cohort: deals that first entered the stage "
        "in the period, outcomes read at as_of (default: last date in the data); time = days "
        "from the first entry to advancing, dropping or as_of",
        "each deal counts once per stage it actually entered (first entry); it advanced if it "
        "later reached a later open stage or won (a skip ahead counts), dropped if lost without "
        "advancing, pending otherwise; skipped stages are not entered; backward moves alone "
        "count as neither",
        PENDING_BOUNDS,
        "share",
        (
            "Cohorts with over 10% of deals pending are flagged incomplete: too young to judge.",
            "Counting skipped stages as passed, or re-entries as new deals, inflates conversion.",
        ),
        "pipeline_kit.stage_conversion",
        reading="Of the deals that entered a stage this period, the share estimated to move "
        "forward, each deal still pending counted like the decided deals that had been in the "
        "stage as long. The lowest stage is where deals die; a cohort flagged incomplete is too "
        "young to judge.",
        pipelines=PER_PIPELINE,
    ),
    function=stage_conversion,
    output=StageConversionOutput,
    long=_conversion,
)


declare(
    MetricCard(
        "stage_drop_off",
        "Stage drop-off",
        "the Aalen-Johansen cumulative incidence of dropping, as for stage_conversion; = "
        "dropped / (advanced + dropped) when no deal is pending",
        "cohort, as for stage_conversion",
        "as for stage_conversion",
        PENDING_BOUNDS + "; of the conversion, mirrored",
        "share",
        (),
        "pipeline_kit.stage_conversion",
        reading="Where deals are lost; with stage conversion it makes up the whole cohort but "
        "the share still undecided while deals are pending. Read the stage with the highest "
        "drop-off first, and its lost reasons.",
        pipelines=PER_PIPELINE,
    ),
    function=stage_conversion,
    output=StageConversionOutput,
    long=_conversion,
)


# ----------------------------------------------------------------------------- control chart

SIGNALS = ("above", "below", "within", "no baseline")


class StageConversionControlOutput(dy.Schema):
    """:func:`stage_conversion_control`: the ``by`` columns, then these.

    One row per open stage entered in the period.
    """

    stage = dy.String(nullable=False)
    stage_order = dy.Int64(nullable=False)
    advanced = count_column()
    n = count_column()
    conversion = share_column()
    past_quarters = count_column()
    past_advanced = count_column()
    past_n = count_column()
    centre = share_column()
    between_sd = share_column()
    design_effect = dy.Float64(nullable=True, min=1)
    lcl = share_column()
    ucl = share_column()
    signal = dy.String(nullable=False, regex=f"^({'|'.join(SIGNALS)})$")
    incomplete = flag_column()
    time_basis = basis_column("cohort")


def _quarter_of(period: Period) -> Period:
    try:
        period.shift(0)
    except ValueError:
        return Period.quarter_of(period.end)
    return period


@time_basis("cohort")
def stage_conversion_control(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    quarters: int = 8,
    sigmas: float = 3.0,
) -> pl.DataFrame:
    """A stage's conversion this quarter against p-chart control limits from past quarters.

    For each open stage: this quarter's cohort conversion ``p = advanced / n``, the share of
    the decided deals that advanced (:func:`stage_conversion`'s counts, outcomes read at
    ``as_of``, default the last date in the data; not its Aalen-Johansen ``conversion``: the
    chart's counts are binomial, and every quarter is read at the same age, so the decided
    shares compare like with like) against the ``quarters`` quarters before it, each read at
    the same age (its end plus the
    days from this quarter's end to ``as_of``, so a young cohort is compared with cohorts as
    young as it was). ``centre = sum(past advanced) / sum(past n)``.

    The limits are predictive (:func:`pipeline_kit.stats.dispersed_p_chart_limits`): the
    ``Φ(-sigmas)`` and ``1 - Φ(-sigmas)`` quantiles (0.135% and 99.865% for 3) of the count
    of n deals a quarter converting like its past quarters would give, divided by n, where
    "like its past" includes their quarter-to-quarter swing. ``between_sd`` is that swing,
    the estimated standard deviation of the true conversion from quarter to quarter beyond
    the binomial noise of each quarter's n (a moment estimate from the past quarters' rates;
    0 when they vary no more than their counts explain; null with fewer than 3 past quarters
    holding deals, which then give the pooled limits). The new quarter is then beta-binomial
    with mean ``(past advanced + 1/2) / (past n + 1)`` and variance ``m (1 - m) / (past n +
    2) + between_sd² · (c + Σ n_i² / N²)``, ``c`` widening for the swing being estimated from
    few quarters (2.7 for 8 quarters at 3 sigma). With ``between_sd = 0`` the limits are those
    of the pooled past count, as before the sixth session.

    What the limits mean: a quarter whose stage converts like its past quarters, swings
    included, falls outside them about 0.27% of the time (0.05-0.7% in simulation for 20-200
    deals a quarter and quarter rates swinging by up to ±0.1 around 0.3), so an ``above`` /
    ``below`` signal is a change the past does not make ordinary. The pooled limits used
    before assumed every quarter converted at the same true rate: with quarter rates of
    0.25-0.36 a 200-deal stage raised 2.6% false alarms a quarter, 16% with 0.20-0.42
    (``bench/coverage.py``). The price is power: with 200 deals a quarter a fall from 0.30 to
    0.20 is flagged in about a third of quarters with steady past quarters, less when the
    past swings (the swing itself hides it).
    The normal-theory limits ``centre ± 3 √(centre (1 - centre) / n)`` used before the
    predictive ones raised 0.4-2.8% false alarms per stage-quarter at 5-30 deals a quarter and
    rates of 0.1-0.5, up to 7% for a later stage's smaller cohorts.
    When the deals carry ``account_id``, deals of one account advance or drop together and a
    quarter's n deals are worth fewer independent ones: every quarter's counts (past and
    this one) are divided by its ``design_effect`` (:func:`stage_conversion`'s, of the
    stage's decided deals in their accounts; this quarter's is the column) before the
    limits are computed (Rao & Scott 1992), this quarter's n rounded to a whole number of
    deals; the limits are then those of ``round(n / design_effect)`` deals.
    ``signal`` is ``above`` / ``below`` when p is outside them, ``within``, or ``no
    baseline`` (no decided deal in the past quarters, or none this quarter). A period that is
    not a quarter is read as the quarter holding its last day. Columns:
    :class:`StageConversionControlOutput`.
    With deals in several pipelines the rows are also per ``pipeline`` (first column), even
    when ``by`` does not name it (:func:`~pipeline_kit.metrics._common.stage_groups`).
    """
    quarter = _quarter_of(as_period(period, ds))
    day = resolve_cohort_as_of(ds, as_of, quarter)
    age = day - quarter.end
    groups = group_columns(by)
    check_by(ds, "deals", groups, StageConversionControlOutput)
    groups = stage_groups(ds, groups)
    keys = [*groups, "stage", "stage_order"]
    this = stage_conversion(ds, quarter, by=groups, as_of=day)
    past = pl.concat(
        [
            stage_conversion(ds, q, by=groups, as_of=q.end + age)
            .filter(pl.col("n") > 0)
            .select(*keys, "advanced", "n", "design_effect", pl.lit(back).alias("back"))
            for back, q in ((b, quarter.shift(-b)) for b in range(1, quarters + 1))
        ],
        how="vertical_relaxed",
    )
    baseline = past.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("past_quarters"),
        pl.col("advanced").sum().cast(pl.Int64).alias("past_advanced"),
        pl.col("n").sum().cast(pl.Int64).alias("past_n"),
    )
    known = (pl.col("n") > 0) & pl.col("centre").is_not_null()
    frame = (
        this.select(
            *keys,
            "advanced",
            "n",
            pl.when(pl.col("n") > 0).then(pl.col("advanced") / pl.col("n")).alias("conversion"),
            "design_effect",
            "incomplete",
        )
        .join(baseline, on=keys, how="left", nulls_equal=True)
        .with_columns(pl.col("past_quarters", "past_advanced", "past_n").fill_null(0))
        .with_columns(
            pl.when(pl.col("past_n") > 0)
            .then(pl.col("past_advanced") / pl.col("past_n"))
            .alias("centre")
        )
    )
    # one row per chart, one column per past quarter (0 deals where a quarter had none); each
    # quarter's counts divided by its design effect (Rao & Scott: the independent deals they
    # are worth; 1 without accounts)
    effective = [pl.col(c) / pl.col("design_effect").fill_null(1.0) for c in ("advanced", "n")]
    wide = [
        frame.select(keys)
        .join(past.filter(pl.col("back") == back), on=keys, how="left", nulls_equal=True)
        .select(e.fill_null(0) for e in effective)
        for back in range(1, quarters + 1)
    ]
    rows = (frame.height, quarters)
    now = frame.select(
        pl.when(pl.col("n") > 0).then(effective[1].round().clip(lower_bound=1)).fill_null(0)
    ).to_series()
    lcl, ucl, swing = dispersed_p_chart_limits(
        np.column_stack([w["advanced"].to_numpy() for w in wide]).reshape(rows),
        np.column_stack([w["n"].to_numpy() for w in wide]).reshape(rows),
        now.to_numpy(),
        sigmas,
    )
    return (
        frame.with_columns(
            pl.when(known)
            .then(pl.Series(swing, dtype=pl.Float64).fill_nan(None))
            .alias("between_sd"),
            pl.when(known).then(pl.Series(lcl, dtype=pl.Float64).fill_nan(None)).alias("lcl"),
            pl.when(known).then(pl.Series(ucl, dtype=pl.Float64).fill_nan(None)).alias("ucl"),
        )
        .with_columns(
            pl.when(~known)
            .then(pl.lit("no baseline"))
            .when(pl.col("conversion") > pl.col("ucl"))
            .then(pl.lit("above"))
            .when(pl.col("conversion") < pl.col("lcl"))
            .then(pl.lit("below"))
            .otherwise(pl.lit("within"))
            .alias("signal")
        )
        .sort([*groups, "stage_order"])
        .select(
            *groups,
            *[c for c in StageConversionControlOutput.column_names() if c != "time_basis"],
        )
    )


def _control(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if period.is_all:
        return []
    day = resolve_cohort_as_of(ds, as_of, _quarter_of(period))
    f = stage_conversion_control(ds, period, by=groups, as_of=day).rename(
        {"lcl": "ci_low", "ucl": "ci_high"}
    )
    return [
        _long(f, groups, "stage_conversion_control_limits", "conversion", "n", True, "stage", day)
    ]


declare(
    MetricCard(
        "stage_conversion_control_limits",
        "Stage conversion against its control limits (p-chart)",
        "advanced / (advanced + dropped) of the quarter's cohort; limits = the 0.135% and "
        "99.865% quantiles (the tails of 3 sigma) of the count a quarter converting like the "
        "8 quarters before, their quarter-to-quarter swing included, would give (beta-binomial "
        "around past advanced + 1/2 of past n + 1, widened by the swing estimated from those "
        "quarters; with no swing beyond their counts' own: n, past advanced + 1/2, past "
        "dropped + 1/2), divided by n; centre = the pooled conversion of those quarters",
        "cohort: deals that first entered the stage in the quarter, outcomes read at as_of; "
        "past quarters read at the same age",
        "as for stage_conversion; detail = the stage",
        "ci_low / ci_high hold the p-chart control limits (predictive, at the 3-sigma tail "
        "probabilities), not a confidence interval of the value",
        "share",
        (
            "Eight quarters of one stage rarely hold enough deals for stable limits in a small "
            "team; a shift in the process (a new qualification rule) moves the centre itself.",
            "One signal among many stages and teams can be chance: the limits keep false "
            "alarms at about 0.27% per stage and quarter (0.05-0.7% in simulation, with past "
            "quarters swinging or not); the swing is estimated from 8 quarters, so a stage "
            "whose quarters swing widely gets wide limits and flags only large changes.",
        ),
        "pipeline_kit.stage_conversion_control",
        reading="A stage outside its limits converted differently from what its own past makes "
        "ordinary: look for a cause (a process change, a product issue, a campaign). Within "
        "the limits, a change is noise; do not react to it.",
        pipelines=PER_PIPELINE,
    ),
    function=stage_conversion_control,
    output=StageConversionControlOutput,
    long=_control,
)
