"""Definition cards: what each metric means, written once and shown everywhere it is used.

Every metric the kit reports has a :class:`MetricCard` (formula, time basis, which deals
count, interval, pitfalls). ``pipeline_kit.explain("win_rate")`` shows one; :func:`metric_names`
lists them; the README's metric reference is generated from them, so it cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["CATALOGUE", "MetricCard", "explain", "metric_names"]


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
    reading: str = ""  # how to read it: what a high or low value says and what to look at next

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
        if self.reading:
            lines.append(f"- How to read it: {self.reading}")
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
            "The Wilson interval's coverage dips to about 91% for true rates near 5% with 10 "
            "to 20 closed deals (bench/coverage.py); elsewhere it stays within 93-98%.",
        ),
        "pipeline_kit.win_rate",
    ),
    MetricCard(
        "avg_won_deal_size",
        "Average won deal size",
        "sum(amount of won deals) / won",
        "period",
        "won " + _CLOSED_IN,
        "95% for the mean: Cox's log-normal interval when the values look log-normal, else a "
        "studentized bootstrap (seeded)",
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
        "95% distribution-free (order statistics of the won amounts: at least 95% whatever "
        "their shape)",
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
        "95% for the mean: Cox's log-normal interval when the values look log-normal, else a "
        "studentized bootstrap (seeded)",
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
CARDS += tuple(
    # the same figures per stage, under their own names: the rows of one metric sum to its
    # total, so summing a metric's rows in the long CSV never double-counts
    MetricCard(
        f"{name}_by_stage",
        f"{title} by stage",
        f"{formula}, per stage (detail = the stage the deal was in at as_of); the stages sum "
        f"to {name}",
        _SNAPSHOT,
        "as for open_deals",
        interval,
        unit,
        (),
        "pipeline_kit.open_pipeline",
    )
    for name, title, formula, interval, unit in (
        ("open_deals", "Open deals", "count of deals open at as_of", "none (a count)", "count"),
        (
            "open_value",
            "Open pipeline value",
            "sum(amount) of deals open at as_of",
            "none (a total)",
            "currency",
        ),
        (
            "weighted_pipeline",
            "Weighted pipeline",
            "sum(amount x stage probability) of deals open at as_of",
            "none (a total)",
            "currency",
        ),
    )
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
        "percentile bootstrap over the closed deals (999 resamples, seeded), 95%",
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
        "Wilson score 95% (as close_rate)",
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
        "Wilson score 95%",
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
        "none: a product of four estimates on different bases (a snapshot count, a period win "
        "rate, a period mean and a mean cycle); read each one's interval",
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
        "completed visits of that stage (every visit in the stage history: a team's deals are "
        "judged against the organisation's norm)",
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
        "none: both terms are totals (the pipeline due and the target), not samples from a "
        "larger population",
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
        "lead_time_to_win_days",
        "Lead to won deal (Kaplan-Meier median days)",
        "median days from the lead's created_at to its deal's closed_at (won), leads not won "
        "by as_of censored",
        _LEADS,
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
        "95%: the spend over the exact (Garwood) Poisson interval of the number of new "
        "customers (the spend is known, the count is the random part)",
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
        "95%: the churn rate's Wilson interval carried through the formula (ARPA is a census "
        "of the customers active at the start); no upper end when that interval reaches 0",
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
        "none: a ratio of two estimates whose errors are not independent (both depend on the "
        "new customers); read the CLV and CAC intervals",
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
        "Newcombe's hybrid score interval for the difference of the two win rates, 95%",
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

# How to read each metric: what a high or low value says, and what to look at next.
HOW_TO_READ: dict[str, str] = {
    "deals_created": "The top of the funnel for the period. Compare with the same quarter a "
    "year earlier (seasonality) before the previous one; a drop shows up in bookings one cycle "
    "length later.",
    "deals_won": "Volume of wins; read it with deals_lost and win_rate, never alone: more wins "
    "can simply mean more deals closed, good and bad.",
    "deals_lost": "Volume of losses. A jump at quarter end often means a pipeline clean-up "
    "(stale deals closed lost), not a worse quarter: check lost_reason_share.",
    "win_rate": "Of the deals decided this period, the share won. Look at the interval first: "
    "two teams whose intervals overlap widely are not shown to differ. Compare like with like "
    "(same deal mix: see pk.mix_adjusted_win_rate).",
    "avg_won_deal_size": "What a typical win is worth on average; pulled up by a few large "
    "deals, so read it beside the median. A rise with a falling count can mean fewer, bigger "
    "deals rather than growth.",
    "median_won_deal_size": "The middle won deal: robust to a single whale. A gap between mean "
    "and median says the sizes are skewed.",
    "bookings": "Revenue booked this period (won amount). The number leadership watches; "
    "decompose it as wins x average size to see which moved.",
    "cycle_length_days": "How long the deals that closed this period took. Only finished deals "
    "count, so it is biased short when many deals are still open: prefer the Kaplan-Meier "
    "median.",
    "open_deals": "How many deals are in play at the snapshot date, per stage. A pile-up in one "
    "stage is a bottleneck to investigate with time_in_stage and stalled_deals.",
    "open_value": "Unweighted value of the open pipeline. Useful for trend, optimistic as a "
    "forecast: most of it will not close.",
    "open_deals_by_stage": "Where the open deals sit: a pile-up in one stage is the bottleneck "
    "to look at first.",
    "open_value_by_stage": "Where the open value sits: value stuck early will not close this "
    "quarter.",
    "weighted_pipeline_by_stage": "The probability-weighted value per stage: how much each "
    "stage is expected to bring, if its default probability holds.",
    "weighted_pipeline": "Open value discounted by stage probability: a rough expected value. "
    "Only as good as the stage probabilities; check them against observed stage conversion.",
    "stage_conversion": "Of the deals that entered a stage this period and have been decided, "
    "the share that moved forward. The lowest stage is where deals die; a cohort flagged "
    "incomplete is too young to judge.",
    "stage_drop_off": "The complement of stage conversion: where deals are lost. Read the stage "
    "with the highest drop-off first, and its lost reasons.",
    "cycle_length_km_days": "Half of the cohort's deals had closed by this many days, counting "
    "open deals properly. 'Upper end not reached' means the data cannot yet bound it.",
    "close_rate": "Of the deals created in the cohort, the share won so far. Young cohorts look "
    "worse than they are (their deals have not had time to close): the flag says so.",
    "win_rate_by_amount": "Win rate weighted by value. When it is below the count-based win "
    "rate, large deals are lost more often than small ones.",
    "win_rate_created_cohort": "Wins over all deals created, open ones included: always at or "
    "below the win rate, and it keeps rising while the cohort's deals close.",
    "win_rate_stale_as_lost": "Win rate if the stale open deals were lost: a pessimistic bound. "
    "A big gap to the win rate means a lot of pipeline is stuck.",
    "velocity_per_day": "Expected revenue per day the qualified pipeline produces. Move any of "
    "its four levers (more qualified deals, higher win rate, bigger deals, shorter cycles) to "
    "raise it; see which one differs from the benchmark.",
    "lost_reason_share": "Why deals are lost, as shares of all losses. Reasons are entered by "
    "reps: a large 'Other' or empty share says more about data entry than about the market.",
    "win_rate_vs_competitor": "Win rate in deals where the competitor was present. Small n per "
    "competitor is the rule: read the interval before the point.",
    "stalled_deals": "Open deals sitting in their stage far longer than usual (beyond the 90th "
    "percentile of finished visits). The action list: each one needs a next step or closing.",
    "slipped_deals": "Open deals past their expected close date. Many slipped deals mean the "
    "forecast is stale; ask for new dates or close them lost.",
    "pipeline_waterfall": "How the open pipeline moved from the start to the end of the "
    "period: created in, won and lost out. The identity must balance; the largest bar is the "
    "story.",
    "pipeline_coverage": "Open value due next period divided by its target; 3x is a common rule "
    "of thumb, meaningful only next to the team's own win rate.",
    "leads_created": "Lead volume for the period, by source: the input to everything below it.",
    "qualified_leads": "Leads that passed qualification by the as-of date; a young period is "
    "understated because its leads have had less time.",
    "lead_conversion_rate": "Share of leads that became opportunities. Compare by source: a "
    "low rate from a high-volume source is the largest lever.",
    "lead_win_rate": "Share of leads that ended as won deals: the whole funnel in one number, "
    "slow to settle because it waits for the deals to close.",
    "lead_response_hours": "Half of the leads got a first response within this many hours, "
    "never-contacted leads counted as still waiting. Speed to lead matters most for inbound.",
    "lead_time_to_win_days": "How long leads take to become won deals, counting the leads "
    "that have not won yet: the marketing funnel's cycle, readable even from an export of "
    "won deals only.",
    "bookings_vs_target": "Attainment: bookings over target. Below 1 with a wide gap early in "
    "a quarter is normal; compare with the same point of previous quarters.",
    "churn_rate": "Share of the customers active at the start of the period who left during it. "
    "Small customer counts make it jumpy: read the interval.",
    "customer_lifetime_km_days": "Half of the customers stayed at least this long, still-active "
    "customers counted properly.",
    "cac": "What one new customer costs in marketing spend. Compare with CLV, not in isolation.",
    "clv": "Value of a customer over its expected lifetime (MRR / churn). Very sensitive to "
    "churn: a small churn with a wide interval makes CLV very uncertain.",
    "clv_cac": "Lifetime value per unit of acquisition cost; above 3 is the usual healthy mark, "
    "below 1 means each customer loses money.",
    "activities_per_won_deal": "Effort per win. A rising figure with a flat win rate means more "
    "work for the same result.",
    "calls": "Call volume; an input, not an outcome. Read with the calls vs closes correlation "
    "before asking for more calls.",
    "collateral_win_rate_lift": "How much more often deals that used the content were won than "
    "peers that reached the same stage. An association, not proof the content caused it.",
    "time_in_stage_km_days": "Half of the visits to this stage ended within this many days. The "
    "stage with the longest time is the bottleneck; compare with its conversion.",
}
CARDS = tuple(replace(card, reading=HOW_TO_READ[card.name]) for card in CARDS)
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
