"""The canonical tables (DESIGN.md contract) as dataframely schemas.

One schema per table. A column that is not nullable is *required*: the file must have it and
every row must fill it. Nullable columns are optional: when a file lacks one, the loader adds it
as an all-null column so that every validated table always has the same columns and dtypes.
Every table also carries ``source_row``, the 1-based line of the row in its source file
(the header is line 1), so every figure can be traced back to the export.

Row rules (``@dy.rule``) are checked by :meth:`dataframely.Schema.filter`; rows that break one
are quarantined with the rule's name and the plain-language message in :data:`RULE_MESSAGES`.
Rules that span tables (a deal's stage must exist in ``stages``) are listed in
:data:`FOREIGN_KEYS` and checked by :mod:`pipeline_kit.loading`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import dataframely as dy
import polars as pl

from pipeline_kit.i18n import N_, Message

__all__ = [
    "DEAL_STATUSES",
    "DEFERRED_TABLES",
    "FOREIGN_KEYS",
    "ONE_TEAM",
    "RULE_MESSAGES",
    "TABLES",
    "UNDATED_DEALS",
    "UNKNOWN_OWNER",
    "ForeignKey",
    "expected_columns",
    "required_columns",
]

DEAL_STATUSES = ["open", "won", "lost"]
# what stands for a missing owner or team (an export without the column, a CRM without teams)
UNKNOWN_OWNER = "(unknown)"
ONE_TEAM = "All"

_SOURCE_ROW = "1-based line of this row in its source file (header is line 1)."


class Deals(dy.Schema):
    """One row per opportunity, in its current state at export time."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    deal_id = dy.String(primary_key=True, description="Unique opportunity id.")
    owner = dy.String(nullable=False, description="Sales rep who owns the deal.")
    team = dy.String(nullable=False, description="Team of the owner.")
    # a blank amount is null and kept (see the note above required_columns); an unreadable,
    # negative or implausibly large one is quarantined
    amount = dy.Float64(
        nullable=True,
        min=0,
        max=1e15,
        description="Deal value (currency units); empty when the CRM has none.",
    )
    created_at = dy.Date(nullable=False, description="Day the opportunity was created.")
    stage = dy.String(nullable=False, description="Current stage (must exist in stages).")
    status = dy.Enum(DEAL_STATUSES, nullable=False, description="open, won or lost.")
    closed_at = dy.Date(nullable=True, description="Day the deal was won or lost; empty if open.")
    account_id = dy.String(nullable=True, description="Customer account.")
    deal_type = dy.String(nullable=True, description="new, expansion or renewal.")
    lead_source = dy.String(nullable=True, description="Where the lead came from.")
    industry = dy.String(nullable=True, description="Industry of the account.")
    region = dy.String(nullable=True, description="Sales region.")
    expected_close = dy.Date(nullable=True, description="Forecast close day (open deals).")
    probability = dy.Float64(
        nullable=True, min=0, max=100, description="Rep's win probability (0-1 or 0-100)."
    )
    lost_reason = dy.String(nullable=True, description="Why a lost deal was lost.")
    competitor = dy.String(nullable=True, description="Competitor the deal was lost to.")
    product = dy.String(nullable=True, description="Product sold.")
    days_to_close = dy.Float64(
        nullable=True,
        min=0,
        description="Days from creation to close, for exports that give a duration "
        "instead of dates.",
    )

    @dy.rule()
    def closed_not_before_created(cls) -> pl.Expr:
        return pl.col("closed_at") >= pl.col("created_at")

    @dy.rule()
    def closed_deal_has_closed_at(cls) -> pl.Expr:
        return pl.col("status").eq("open") | pl.col("closed_at").is_not_null()

    @dy.rule()
    def open_deal_has_no_closed_at(cls) -> pl.Expr:
        return pl.col("status").ne("open") | pl.col("closed_at").is_null()


class StageHistory(dy.Schema):
    """One row each time a deal entered a stage."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    deal_id = dy.String(primary_key=True, description="Deal that moved.")
    stage = dy.String(primary_key=True, description="Stage entered.")
    entered_at = dy.Date(primary_key=True, description="Day the stage was entered.")


class Stages(dy.Schema):
    """One row per stage of the pipeline."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    stage = dy.String(primary_key=True, description="Stage name as used in deals.")
    order = dy.Int64(nullable=False, description="Position in the pipeline (1 = first).")
    probability = dy.Float64(
        nullable=True, min=0, max=100, description="Default win probability (0-1 or 0-100)."
    )
    pipeline = dy.String(nullable=True, description="Pipeline the stage belongs to.")
    is_won = dy.Bool(nullable=True, description="Deals in this stage are won.")
    is_lost = dy.Bool(nullable=True, description="Deals in this stage are lost.")

    @dy.rule()
    def not_both_won_and_lost(cls) -> pl.Expr:
        return ~(pl.col("is_won").fill_null(False) & pl.col("is_lost").fill_null(False))


class Leads(dy.Schema):
    """One row per lead."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    lead_id = dy.String(primary_key=True, description="Unique lead id.")
    created_at = dy.Datetime(nullable=False, description="When the lead arrived.")
    source = dy.String(nullable=False, description="Lead source (inbound, event, ...).")
    owner = dy.String(nullable=True, description="Rep or SDR working the lead.")
    team = dy.String(nullable=True, description="Team of the owner.")
    qualified_at = dy.Datetime(nullable=True, description="When the lead was qualified.")
    first_response_at = dy.Datetime(nullable=True, description="First contact; empty if none.")
    converted_at = dy.Datetime(nullable=True, description="When it became an opportunity.")
    deal_id = dy.String(nullable=True, description="Opportunity created from the lead.")

    @dy.rule()
    def response_not_before_created(cls) -> pl.Expr:
        return pl.col("first_response_at") >= pl.col("created_at")

    @dy.rule()
    def converted_not_before_created(cls) -> pl.Expr:
        return pl.col("converted_at") >= pl.col("created_at")


class Activities(dy.Schema):
    """One row per call, meeting or email."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    activity_id = dy.String(primary_key=True, description="Unique activity id.")
    owner = dy.String(nullable=False, description="Rep who did it.")
    type = dy.String(nullable=False, description="call, meeting, email, ...")
    occurred_at = dy.Datetime(nullable=False, description="When it happened.")
    deal_id = dy.String(nullable=True, description="Deal it belongs to.")
    lead_id = dy.String(nullable=True, description="Lead it belongs to.")


class MarketingSpend(dy.Schema):
    """One row per spend line."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    period_start = dy.Date(nullable=False, description="First day of the spend period.")
    amount = dy.Float64(nullable=False, min=0, description="Amount spent.")
    channel = dy.String(nullable=True, description="Marketing channel.")
    team = dy.String(nullable=True, description="Team the spend is attributed to.")


class Customers(dy.Schema):
    """One row per customer account."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    account_id = dy.String(primary_key=True, description="Customer account id.")
    start_date = dy.Date(nullable=False, description="First day as a customer.")
    end_date = dy.Date(nullable=True, description="Churn day; empty if still a customer.")
    mrr = dy.Float64(nullable=True, min=0, description="Monthly recurring revenue.")
    team = dy.String(nullable=True, description="Team that won the account.")
    churn_reason = dy.String(
        nullable=True, description="Why the account churned (empty if unknown or active)."
    )

    @dy.rule()
    def end_not_before_start(cls) -> pl.Expr:
        return pl.col("end_date") >= pl.col("start_date")


class Targets(dy.Schema):
    """One row per quota line."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    team = dy.String(nullable=False, description="Team the target applies to.")
    period_start = dy.Date(nullable=False, description="First day of the target period.")
    period_end = dy.Date(nullable=False, description="Last day of the target period.")
    target = dy.Float64(nullable=False, min=0, description="Bookings target.")
    owner = dy.String(nullable=True, description="Rep, for a per-rep quota.")

    @dy.rule()
    def end_not_before_start(cls) -> pl.Expr:
        return pl.col("period_end") >= pl.col("period_start")


class CollateralUsage(dy.Schema):
    """One row each time a piece of content was used in a deal."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    content_id = dy.String(nullable=False, description="Piece of content.")
    deal_id = dy.String(nullable=False, description="Deal it was used in.")
    used_at = dy.Date(nullable=False, description="Day it was used.")
    title = dy.String(nullable=True, description="Title of the content.")
    owner = dy.String(nullable=True, description="Rep who used it.")


class Benchmarks(dy.Schema):
    """One row per reference value."""

    source_row = dy.Int64(nullable=False, description=_SOURCE_ROW)
    metric = dy.String(nullable=False, description="Metric name (see pipeline_kit.metrics).")
    value = dy.Float64(nullable=False, description="Reference value.")
    scope = dy.String(nullable=True, description="Where it applies (team name, 'all', ...).")
    source = dy.String(nullable=True, description="Provenance of the figure.")
    low = dy.Float64(nullable=True, description="Lower end of the reference range.")
    high = dy.Float64(nullable=True, description="Upper end of the reference range.")
    n = dy.Int64(nullable=True, min=0, description="Sample size behind the figure.")


def _undated(schema: type[dy.Schema]) -> type[dy.Schema]:
    """``schema`` with ``created_at`` optional and without its date rules.

    For the deals of an export without dates (a win/loss export: outcome, amount, segments).
    """
    columns = {name: copy.copy(col) for name, col in schema.columns().items()}
    columns["created_at"] = dy.Date(nullable=True, description="Not in this export.")
    return type("UndatedDeals", (dy.Schema,), {"__doc__": schema.__doc__, **columns})


UNDATED_DEALS = _undated(Deals)

TABLES: dict[str, type[dy.Schema]] = {
    "deals": Deals,
    "stage_history": StageHistory,
    "stages": Stages,
    "leads": Leads,
    "activities": Activities,
    "marketing_spend": MarketingSpend,
    "customers": Customers,
    "targets": Targets,
    "collateral_usage": CollateralUsage,
    "benchmarks": Benchmarks,
}

# Tables validated on first use: no rule of deals, stages or stage_history depends on them
# (their own rules and their links to the deals are checked when they are first read).
DEFERRED_TABLES = frozenset(TABLES) - {"deals", "stages", "stage_history"}


@dataclass(frozen=True)
class ForeignKey:
    """``table.column`` must match a value of ``parent.parent_column`` (nulls are allowed)."""

    table: str
    column: str
    parent: str
    parent_column: str
    rule: str


FOREIGN_KEYS: tuple[ForeignKey, ...] = (
    ForeignKey("deals", "stage", "stages", "stage", "stage_unknown"),
    ForeignKey("stage_history", "deal_id", "deals", "deal_id", "deal_unknown"),
    ForeignKey("stage_history", "stage", "stages", "stage", "stage_unknown"),
    ForeignKey("leads", "deal_id", "deals", "deal_id", "deal_unknown"),
    ForeignKey("activities", "deal_id", "deals", "deal_id", "deal_unknown"),
    ForeignKey("collateral_usage", "deal_id", "deals", "deal_id", "deal_unknown"),
)

# rule name -> (what is wrong, what to do). "{col}" is filled for per-column rules.
RULE_MESSAGES: dict[str, tuple[str, str]] = {
    "nullability": (N_("{col} is empty"), N_("fill {col} in the export, or drop these rows")),
    "dtype": (
        N_("{col} could not be read (expected {dtype})"),
        N_("write {col} as {dtype}"),
    ),
    "min": (N_("{col} is below the allowed minimum"), N_("check the sign and units of {col}")),
    "max": (N_("{col} is above the allowed maximum"), N_("check the scale of {col}")),
    "primary_key": (
        N_("duplicate key: several rows share the same {col}"),
        N_(
            "keep one row per {col} in the export (all copies are quarantined, as the kit "
            "cannot tell which one is right)"
        ),
    ),
    "closed_not_before_created": (
        N_("closed_at is before created_at"),
        N_("correct one of the two dates in the CRM"),
    ),
    "closed_deal_has_closed_at": (
        N_("won/lost deal without closed_at"),
        N_("export the close date of closed deals in closed_at"),
    ),
    "open_deal_has_no_closed_at": (
        N_("open deal with a closed_at date"),
        N_("closed_at is the actual close day; put forecast dates in expected_close"),
    ),
    "not_both_won_and_lost": (
        N_("stage marked both is_won and is_lost"),
        N_("set only one of them"),
    ),
    "date_implausible": (
        N_(
            "created_at or closed_at lies before 1950 or more than a year after the export's "
            "other dates (e.g. 2099)"
        ),
        N_("correct the date in the CRM (a placeholder or a typo in the year)"),
    ),
    "probability_off_scale": (
        N_("probability above 1 in a column of 0-1 probabilities (e.g. 1.5 for 15%?)"),
        N_("correct the probability; the other deals' probabilities were not rescaled"),
    ),
    "response_not_before_created": (
        N_("first_response_at is before the lead was created"),
        N_("check the time zone and the two timestamps"),
    ),
    "converted_not_before_created": (
        N_("converted_at is before the lead was created"),
        N_("check the time zone and the two timestamps"),
    ),
    "end_not_before_start": (N_("the end date is before the start date"), N_("correct the dates")),
    "stage_unknown": (
        N_("stage not listed in the stages table"),
        N_("add the stage to stages.csv (with its order), or fix the stage name"),
    ),
    "deal_unknown": (
        N_("deal_id not found among the valid deals"),
        N_("export the matching deal, or check why that deal was quarantined"),
    ),
}

_DTYPE_HINTS = {
    pl.Date: N_("an ISO date, YYYY-MM-DD (e.g. 2025-10-31)"),
    pl.Datetime: N_("an ISO timestamp, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS"),
    pl.Float64: N_("a plain number with a decimal point (e.g. 12500.50 or 12,500.50)"),
    pl.Int64: N_("a whole number"),
    pl.Boolean: N_("true/false (or 1/0, yes/no)"),
}


# A deal's amount is optional, in a cell and as a column. CRMs leave it blank mostly on lost and
# early deals (HubSpot, Pipedrive, hand-kept sheets), so quarantining those deals would bias
# every count figure (a win rate of 2/5 read as 1/2; Little & Rubin, missing not at random). A
# blank cell (empty after trimming, or null in a typed file) is null: the deal counts in rates,
# cycles and conversion and is left out of amount figures, which say how many they left out
# (``without_amount``); a figure whose deals all lack an amount is unknown (null), not 0. A cell
# with text that is not a number (``n. a.``, a decimal comma) is unreadable, not absent, and is
# still quarantined (``amount|dtype``), as is a negative (``amount|min``) or implausibly large
# one (``amount|max``). An export without an amount column loads with every amount null, said in
# a note. An adapter that derives the amount (a lookup, a currency conversion) leaves it null
# only when there is no amount to read, and sets aside (quarantines) a row whose amount it
# cannot convert.


def required_columns(table: str) -> list[str]:
    """Columns a file for ``table`` must contain (``source_row`` is added by the loader)."""
    return [
        name
        for name, col in TABLES[table].columns().items()
        if not col.nullable and name != "source_row"
    ]


# required columns a deals file may lack: the loader fills them, with a note (owner and team:
# one value for every deal, '(unknown)' and 'All'; created_at: a win/loss export, its figures
# over the whole export and none over time)
FILLED_WHEN_ABSENT: dict[str, tuple[str, ...]] = {"deals": ("owner", "team", "created_at")}


def needed_columns(table: str) -> list[str]:
    """The required columns a file for ``table`` cannot do without (:data:`FILLED_WHEN_ABSENT`).

    >>> needed_columns("deals")
    ['deal_id', 'stage', 'status']
    """
    filled = FILLED_WHEN_ABSENT.get(table, ())
    return [c for c in required_columns(table) if c not in filled]


def expected_columns(table: str) -> list[str]:
    """The required columns and those a table is expected to have: what `inspect` drafts first.

    A deal's amount is optional (an export may have none) but expected: money figures need it.
    """
    return required_columns(table) + (["amount"] if table == "deals" else [])


def optional_columns(table: str) -> list[str]:
    """Columns the kit understands but does not require."""
    return [name for name, col in TABLES[table].columns().items() if col.nullable]


def dtype_hint(dtype: pl.DataType) -> str:
    """How to write a value of ``dtype`` in a CSV file (a :class:`Message`)."""
    if isinstance(dtype, pl.Enum):
        return Message(N_("one of {values}"), values=", ".join(dtype.categories.to_list()))
    for base, hint in _DTYPE_HINTS.items():
        if dtype == base or isinstance(dtype, base):
            return Message(hint)
    return str(dtype)


def describe_rule(rule: str, table: str) -> tuple[str, str]:
    """(problem, fix) in plain words for a dataframely rule name such as ``amount|min``.

    Both are :class:`~pipeline_kit.i18n.Message` (English as ``str``, translatable).
    """
    if rule == "amount|max":
        return (
            Message(N_("amount is implausibly large (10^15 or more): sums would lose precision")),
            Message(N_("check the units, the decimal separator and the currency of amount")),
        )
    column, _, kind = rule.rpartition("|")
    if not column:
        kind = rule
    if kind == "primary_key":
        keys = [n for n, c in TABLES[table].columns().items() if c.primary_key]
        column = "+".join(keys)
    problem, fix = RULE_MESSAGES.get(kind, (rule, N_("correct the value")))
    dtype = TABLES[table].columns()[column].dtype if column in TABLES[table].columns() else None
    fmt = {"col": column, "dtype": dtype_hint(dtype) if dtype is not None else ""}
    used = {k: v for k, v in fmt.items() if "{" + k + "}" in problem + fix}
    return (
        Message(problem, **{k: v for k, v in used.items() if "{" + k + "}" in problem}),
        Message(fix, **{k: v for k, v in used.items() if "{" + k + "}" in fix}),
    )
