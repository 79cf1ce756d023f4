"""HubSpot deals (``source="hubspot"``): the Deals UI export, or the API / Fivetran tables.

The folder holds either

(a) a **Deals UI export** (Deals index -> Export): one CSV whose header has ``Record ID`` and
    ``Deal Stage`` (``hubspot-crm-exports-all-deals-2025-11-28.csv``), property *labels* as
    headers, only the columns of the user's view; or
(b) the **API / Fivetran tables** ``deal``, ``deal_stage``, ``deal_pipeline``,
    ``deal_pipeline_stage``, ``owner``, ``owner_team``, ``team``, ``merged_deal``,
    ``deal_company``, ``engagement``, ``engagement_deal``, ``engagement_call`` / ``_meeting`` /
    ``_email`` / ``_note`` / ``_task`` (``.csv`` or ``.parquet``, with or without Fivetran's
    ``_data`` suffix: ``deal_data.csv``), holding ids where the export holds labels.

UI export (property labels) -> canonical:

=========================  =========================================================================
canonical                  UI export column
=========================  =========================================================================
deals.deal_id              Record ID
deals.owner                Deal owner (a name)
deals.team                 HubSpot Team
deals.amount               Amount in company currency; without it, Amount when Currency is the
                           company currency (Amount and Currency kept as amount_original, currency)
deals.created_at           Create Date
deals.stage, status        (Pipeline, Deal Stage) -> a stage (below); won / lost / open from it
deals.closed_at            date entered the closing stage, else Date entered current stage, else
                           Close Date (noted)
deals.expected_close       Close Date of open deals
deals.probability          Deal Stage Probability (0-1, kept as it is)
deals.deal_type            Deal Type
deals.lead_source          Original Source Type
deals.lost_reason          Closed Lost Reason
deals.account_id           Associated Company IDs (or Associated Company)
deals.pipeline (extra)     Pipeline (else the pipeline of the deal's latest 'Date entered' column)
stages                     one per (pipeline, label) of the ``Date entered "<stage> (<pipeline>)"``
                           columns and of the deals; won = ``Is Deal Closed?`` (or ``Is Closed
                           Won``) and probability 1, lost = closed and probability 0; without the
                           flags, the label (``won`` / ``lost``), noted; closed without
                           probability nor ``Is Closed Won``: the label, else the deals are
                           quarantined (``closed_outcome_unknown``), never open; order: open
                           stages by when deals entered them, then won, then lost
stage_history              the ``Date entered`` columns unpivoted: one date per stage, so a second
                           visit of a stage is not in a UI export
=========================  =========================================================================

API / Fivetran (ids) -> canonical:

=========================  =========================================================================
canonical                  tables and columns
=========================  =========================================================================
deals.deal_id              deal.deal_id
deals.owner                deal.owner_id -> owner.first_name + last_name (else email, else the id)
deals.team                 deal.property_hubspot_team_id, else the owner's primary team
                           (owner_team.is_team_primary) -> team.name
deals.amount               property_amount_in_home_currency, else property_amount (as above)
deals.created_at           property_createdate (ISO, epoch ms or mixed formats)
deals.stage, status        (deal_pipeline_id, deal_pipeline_stage_id) -> deal_pipeline_stage
deals.closed_at            last deal_stage entry into the closing stage, else property_closedate
deals.expected_close       property_closedate of open deals
deals.probability          property_hs_deal_stage_probability, else the stage's probability
deals.deal_type,           property_dealtype, property_hs_analytics_source,
lead_source, lost_reason   property_closed_lost_reason
deals.account_id           deal_company.company_id (first)
deals.pipeline (extra)     deal_pipeline.label
stages                     deal_pipeline_stage: label, display_order, probability; won =
                           is_closed (else the deprecated closed_won, which meant "closed") and
                           probability 1, lost = is_closed and probability 0
stage_history              deal_stage: value (stage id) -> stage, entered at date_entered
                           (_fivetran_start when absent); without deal_stage, the deals'
                           property_hs_v2_date_entered_<stage id> (or legacy hs_date_entered_)
activities                 engagement (id, type) + engagement_call / _meeting / ... (hs_timestamp
                           or start_time, hubspot_owner_id; the deal's owner when none) +
                           engagement_deal (the lowest deal id when several)
=========================  =========================================================================

A stage label used in several pipelines (``Qualified`` in two pipelines) becomes one canonical
stage per pipeline, ``Qualified (Enterprise)``; labels used once keep their name. The pipeline
is parsed from the **last** `` (`` of a ``Date entered`` header, as stage labels may hold
parentheses themselves (``Demo (scheduled) (Sales Pipeline)``); single and double quotes are
both read. Probability 0 is a value (closed lost), never "missing".

Rows left out by design are *excluded* with a reason: deleted deals (``is_deleted``,
``_fivetran_deleted``; the UI export has none) and their history and engagements
(``deleted_in_crm``); deals merged into another (``merged_deal.merged_deal_id`` or another
deal's ``Merged object IDs`` / ``hs_merged_object_ids``: ``merged_into_another_deal``); history
rows repeating the deal's previous stage (``not_a_stage_change``) or entering a stage again on
the same day (``same_stage_same_day``); hard-deleted stages no deal uses (``deleted_in_crm``).
History rows whose stage id is in no pipeline (HubSpot hard-deletes removed stages) are
quarantined as ``stage_not_in_pipelines``. ``deal_stage._fivetran_active`` marks the deal's
*current* stage (dbt_hubspot: "whether the deal stage is active"; hubspot__deal_stages uses it as
``is_stage_active``), not a History Mode copy, so no row is dropped for it.

Options: ``team="Sales"`` puts every deal in one team (said in a note); without it and
without any team information every deal is in team ``All``. ``reporting_currency="USD"``
names the company currency (otherwise inferred: the currency whose amounts equal their
company-currency amounts). ``encoding="latin-1"`` reads a non-UTF-8 export whose detected
encoding is wrong.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import NamedTuple

import polars as pl

from pipeline_kit.adapters._tools import (
    CURRENCY_MESSAGES,
    WORKBOOK_SUFFIXES,
    SetAsideLog,
    check_decimal,
    column,
    normalise_dates,
    parse_bool,
    read_decimal_commas,
    read_export_file,
    require_column,
    sniff_separator,
    squash,
    to_reporting_currency,
    without_repeated_headers,
)
from pipeline_kit.adapters.base import RawDataset, RawTable, fingerprint
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = ["read_hubspot"]

API_TABLES = (
    "deal",
    "deal_stage",
    "deal_pipeline",
    "deal_pipeline_stage",
    "owner",
    "owner_team",
    "team",
    "merged_deal",
    "deal_company",
    "engagement",
    "engagement_deal",
)
ENGAGEMENT_KINDS = ("call", "meeting", "email", "note", "task", "communication")
SUFFIXES = (".csv", ".parquet", *WORKBOOK_SUFFIXES)

# canonical or internal name -> labels seen in UI exports (compared after squash)
EXPORT_COLUMNS = {
    "name": ("Deal Name",),
    "pipeline": ("Pipeline",),
    "owner": ("Deal owner", "Deal Owner", "HubSpot Owner"),
    "team": ("HubSpot Team",),
    "amount": ("Amount",),
    "currency": ("Currency", "Deal currency code"),
    "home": ("Amount in company currency", "Amount in home currency"),
    "created": ("Create Date", "Created Date"),
    "close": ("Close Date",),
    "deal_type": ("Deal Type",),
    "lead_source": ("Original Source Type", "Original Source", "Original Traffic Source"),
    "lost_reason": ("Closed Lost Reason",),
    "won_reason": ("Closed Won Reason",),
    "probability": ("Deal Stage Probability", "Deal probability"),
    "is_closed": ("Is Deal Closed?", "Is Closed"),
    "is_won": ("Is Closed Won", "Is Deal Closed Won?", "Is closed won?"),
    "merged": ("Merged object IDs", "Merged Deal IDs"),
    "entered_current": ("Date entered current stage",),
    "account": ("Associated Company IDs", "Company IDs", "Associated Company"),
}
# internal name -> API / Fivetran names of the deal table
API_COLUMNS = {
    "deal_id": ("deal_id", "hs_object_id", "property_hs_object_id", "id"),
    "is_deleted": ("is_deleted",),
    "fivetran_deleted": ("_fivetran_deleted",),
    "pipeline": ("deal_pipeline_id", "property_pipeline", "pipeline"),
    "stage": ("deal_pipeline_stage_id", "property_dealstage", "dealstage"),
    "owner": ("owner_id", "property_hubspot_owner_id", "hubspot_owner_id"),
    "team": ("property_hubspot_team_id", "hubspot_team_id"),
    "name": ("property_dealname", "dealname"),
    "amount": ("property_amount", "amount"),
    "currency": ("property_deal_currency_code", "deal_currency_code"),
    "home": ("property_amount_in_home_currency", "amount_in_home_currency"),
    "created": ("property_createdate", "createdate"),
    "close": ("property_closedate", "closedate"),
    "deal_type": ("property_dealtype", "dealtype"),
    "lead_source": ("property_hs_analytics_source", "hs_analytics_source"),
    "lost_reason": ("property_closed_lost_reason", "closed_lost_reason"),
    "probability": ("property_hs_deal_stage_probability", "hs_deal_stage_probability"),
    "merged": ("property_hs_merged_object_ids", "hs_merged_object_ids"),
}
# ``Date entered "Qualified (Sales Pipeline)"``: quotes single, double or doubled (""X"")
_ENTERED = re.compile(r"""^\s*date\s+entered\s+(?P<q>["']*)(?P<inner>.+?)(?P=q)\s*$""", re.I)
_PROPERTY_ENTERED = re.compile(r"^(?:property_)?hs_(?P<v2>v2_)?date_entered_(?P<stage>.+)$")
_WON = r"(?i)\bwon\b"
_LOST = r"(?i)\blost\b"
_ISO = "%Y-%m-%d %H:%M:%S"

RULE_MESSAGES = {
    "deleted_in_crm": (
        N_(
            "the record is deleted in HubSpot (is_deleted or _fivetran_deleted), or "
            "belongs to a deleted deal"
        ),
        N_("nothing to do: deleted records are left out of every figure"),
    ),
    "merged_into_another_deal": (
        N_(
            "the deal was merged into another deal (merged_deal, Merged object IDs); "
            "the deal it was merged into is counted instead"
        ),
        N_("nothing to do: counting both would count one opportunity twice"),
    ),
    "not_a_stage_change": (
        N_("a history row repeating the stage of the deal's previous row"),
        N_("nothing to do: only stage changes are stage entries"),
    ),
    "same_stage_same_day": (
        N_("the deal entered this stage again on a day it already entered it"),
        N_("nothing to do: the first entry of the day is kept"),
    ),
    "stage_not_in_pipelines": (
        N_(
            "the stage id is in no pipeline of deal_pipeline_stage (HubSpot "
            "hard-deletes removed stages, and their label with them)"
        ),
        N_(
            "sync deal_pipeline_stage again; if the stage was deleted these entries cannot be named"
        ),
    ),
    "closed_outcome_unknown": (
        N_(
            "the deal is closed (its stage is closed in HubSpot) but nothing in the data "
            "says whether it was won or lost: no stage probability 1 or 0, no Is Closed Won, "
            "no won/lost in the stage name"
        ),
        N_(
            "add 'Deal Stage Probability' (or 'Is Closed Won') to the exported view and export "
            "again (API tables: the stage's probability in deal_pipeline_stage); a closed deal "
            "is never counted as open"
        ),
    ),
    **CURRENCY_MESSAGES,
}


# ----------------------------------------------------------------------------- entry point


def read_hubspot(
    path: Path,
    *,
    team: str | None = None,
    reporting_currency: str | None = None,
    encoding: str | None = None,
    decimal: str | None = None,
) -> RawDataset:
    """Read a HubSpot Deals export or API/Fivetran tables (see module docstring).

    ``decimal``: ``","`` reads a Deals export's amounts written ``1.234,50`` (as a
    spreadsheet set to German or French saves them); unset, they are read so only when no
    value reads otherwise (noted); ``"."`` never.
    """
    check_decimal(decimal)
    path = Path(path)
    if not path.exists():
        raise DataError(
            problem="the data folder does not exist",
            fix="pass the folder holding the HubSpot deals export (or the deal, deal_stage, "
            "deal_pipeline_stage, ... tables), or the export file itself",
            file=str(path),
        )
    # one file given: the Deals export itself (or one API table, read from its folder)
    files = (
        [path]
        if path.is_file()
        else sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    )
    tables = _api_files(files)
    exports = [f for f in files if f not in tables.values() and _is_deals_export(f)]
    if exports and "deal" in tables:
        raise DataError(
            problem="the folder holds both a Deals UI export and the API/Fivetran deal table",
            fix="keep one of the two in the folder",
            file=str(path),
            examples=[f"files: {exports[0].name}, {tables['deal'].name}"],
        )
    if len(exports) > 1:
        raise DataError(
            problem=f"{len(exports)} HubSpot deal exports in one folder",
            fix="keep only the export to analyse in the folder",
            file=str(path),
            examples=[f"files: {', '.join(f.name for f in exports)}"],
        )
    if exports:
        return _Export(exports[0], team, reporting_currency, encoding, decimal).read()
    if "deal" in tables:
        return _Api(
            path if path.is_dir() else path.parent, tables, team, reporting_currency, encoding
        ).read()
    headers = _headers_of(files)
    if headers:
        first = next(iter(headers))
        raise DataError(
            problem="no HubSpot deals found: no file has 'Record ID' (or 'Deal ID') and 'Deal "
            "Stage'; an export from a user working in another language than English has its "
            "column names translated ('ID del registro', 'Etapa del negocio', '交易阶段'), and "
            "the kit does not know them",
            fix=f"load such an export through a mapping: `pipeline-kit inspect {first.name} "
            f"--out mapping.toml`, check the draft, then pk.load('{first.name}', "
            "mapping='mapping.toml'); or export the deals with HubSpot's language set to "
            "English (Deals -> Export, with Deal Stage and the 'Date entered' columns)",
            file=str(path),
            examples=[
                f"columns found: {f.name}: {', '.join(names[:10])}"
                + (", ..." if len(names) > 10 else "")
                for f, names in headers.items()
            ],
        )
    raise DataError(
        problem="no HubSpot deals found: neither a Deals export (a CSV with 'Record ID' and "
        "'Deal Stage') nor a deal table (deal.csv, deal_data.csv)",
        fix="export the deals from HubSpot (Deals -> Export, with Deal Stage and the "
        "'Date entered' columns) into this folder, or put the API/Fivetran tables here",
        file=str(path),
        examples=[f"files found: {', '.join(f.name for f in files) or 'none'}"],
    )


def _headers_of(files: list[Path]) -> dict[Path, list[str]]:
    """The headers of up to three export files (CSV or workbook) that could be read.

    For the error on a folder without a Deals export: an export from a HubSpot account in
    another language has its headers translated, and only showing them tells the user why.
    """
    found: dict[Path, list[str]] = {}
    for file in files:
        if len(found) == 3:
            break
        try:
            names = [c for c in read_export_file(file, [], header_only=True).columns]
        except (DataError, OSError, pl.exceptions.PolarsError):
            continue
        names = [c for c in names if c != "source_row"]
        if len(names) > 1:
            found[file] = names
    return found


def _api_files(files: list[Path]) -> dict[str, Path]:
    """API/Fivetran table -> file, by name (``deal.csv``, ``deal_data.csv``, any case)."""
    known = set(API_TABLES) | {f"engagement_{kind}" for kind in ENGAGEMENT_KINDS}
    found: dict[str, Path] = {}
    for file in files:
        stem = file.stem.lower().removesuffix("_data")
        if stem not in known:
            continue
        if stem in found:
            raise DataError(
                problem=f"two files hold the {stem} table: {found[stem].name} and {file.name}",
                fix="keep one of them",
                file=str(file.parent),
            )
        found[stem] = file
    return found


def _is_deals_export(file: Path) -> bool:
    """Whether the file's header has Record ID (or Deal ID) and Deal Stage (its first line)."""
    if file.suffix.lower() in WORKBOOK_SUFFIXES:  # (the UI's Export to XLSX)
        header = list(read_export_file(file, [], header_only=True).columns)
    elif file.suffix.lower() == ".csv":
        with file.open("rb") as handle:
            first = handle.readline().decode("utf-8", "replace").lstrip("\ufeff")
        header = next(csv.reader([first], delimiter=sniff_separator(first)), [])
    else:
        return False
    return is_deals_export_header(header)


def is_deals_export_header(header: list[str]) -> bool:
    """Whether column names are a Deals export's: Record ID (or Deal ID) and Deal Stage.

    (Exports before HubSpot named its ids "Record ID" called the column "Deal ID".)
    """
    keys = {squash(c) for c in header}
    return "dealstage" in keys and bool({"recordid", "dealid"} & keys)


# ----------------------------------------------------------------------------- helpers


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column but source_row as trimmed text, empty cells null."""
    cols = [c for c in frame.columns if c != "source_row"]
    if not cols:
        return frame
    return frame.with_columns(pl.col(cols).cast(pl.String).str.strip_chars().replace("", None))


def _uniform_dates(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """ISO-like text (after normalise_dates) rewritten as ``YYYY-MM-DD HH:MM:SS``.

    So that text order is time order; anything else is left for the loader to quarantine.
    """
    exprs = []
    for c in columns:
        text = pl.col(c).str.replace("T", " ", literal=True).str.strip_suffix("Z")
        parsed = pl.coalesce(
            text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"),
            text.str.to_datetime("%Y-%m-%d %H:%M", strict=False, time_unit="us"),
            text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
        )
        exprs.append(pl.coalesce(parsed.dt.strftime(_ISO), pl.col(c)).alias(c))
    return frame.with_columns(exprs) if exprs else frame


def _dates(frame: pl.DataFrame, columns: list[str | None], notes: list[str], file: str):
    cols = [c for c in columns if c is not None]
    return _uniform_dates(normalise_dates(frame, cols, notes, file=file), cols)


def _col(name: str | None) -> pl.Expr:
    return pl.col(name) if name is not None else pl.lit(None, pl.String)


def _number(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"[\s,]", "").cast(pl.Float64, strict=False)


def _percent_as_fraction(expr: pl.Expr) -> pl.Expr:
    """``20%`` -> ``0.2`` (a display format); any other text is kept as it is (0-1 stays 0-1)."""
    percent = expr.str.strip_chars().str.strip_suffix("%")
    return (
        pl.when(expr.str.strip_chars().str.ends_with("%"))
        .then((_number(percent) / 100).round(6).cast(pl.String))
        .otherwise(expr)
    )


class _Flags(NamedTuple):
    """How a stage's outcome was read (see :func:`_stage_flags`)."""

    is_won: pl.Expr
    is_lost: pl.Expr
    inferred: pl.Expr  # no closed flag: won/lost read from the label (and probability)
    by_label: pl.Expr  # closed, no probability 1/0 nor won flag: won/lost from the label
    undecided: pl.Expr  # closed, and nothing says won or lost


def _stage_flags(probability: pl.Expr, closed: pl.Expr, won: pl.Expr, label: pl.Expr) -> _Flags:
    """How a stage's outcome is read: won, lost, from the label, or closed but undecided.

    ``closed``/``won`` are the CRM's flags (null when unknown). A closed stage is won when the
    won flag says so, else at probability 1 and lost at 0 (HubSpot's closed won / closed lost),
    else by its label (``won`` / ``lost`` as a word); when none of these decides (``Signed``
    with no probability in the export) it is *undecided*, never open: a closed deal counted
    as open would sit in the open pipeline and leave the win rate. Without the closed flag the
    label decides (``won`` / ``lost`` as a word), and a label saying only ``closed`` is read by
    its probability. Probability 0 of an open stage does not make it lost.
    """
    won_word = label.str.contains(_WON) & ~label.str.contains(_LOST)
    lost_word = label.str.contains(_LOST) & ~label.str.contains(_WON)
    closed_word = label.str.contains(r"(?i)\bclosed\b")
    # a closed stage's outcome: True won, False lost, null undecided (pl.when skips nulls)
    outcome = (
        pl.when(won.is_not_null())
        .then(won)
        .when(probability.eq(1.0))
        .then(pl.lit(True))
        .when(probability.eq(0.0))
        .then(pl.lit(False))
        .when(won_word)
        .then(pl.lit(True))
        .when(lost_word)
        .then(pl.lit(False))
    )
    by_label_won = won_word | (closed_word & ~lost_word & probability.eq(1.0))
    by_label_lost = lost_word | (closed_word & ~won_word & probability.eq(0.0))
    known = closed.is_not_null() | won.is_not_null()
    is_closed = closed.fill_null(False)
    is_won = (
        pl.when(won.is_not_null())
        .then(won)
        .when(closed.is_not_null())
        .then(is_closed & outcome.fill_null(False))
        .otherwise(by_label_won)
    )
    is_lost = (
        pl.when(closed.is_not_null())
        .then(is_closed & outcome.eq(False).fill_null(False))
        .when(won.is_not_null())  # only a won flag: lost still comes from the label
        .then(~won & by_label_lost)
        .otherwise(by_label_lost)
    )
    is_won, is_lost = is_won.fill_null(False), is_lost.fill_null(False)
    by_label = (
        is_closed
        & won.is_null()
        & ~probability.is_in([0.0, 1.0]).fill_null(False)
        & outcome.is_not_null()
    )
    return _Flags(
        is_won=is_won,
        is_lost=is_lost,
        inferred=~known & (is_won | is_lost),
        by_label=by_label,
        undecided=is_closed & outcome.is_null(),
    )


def _any_flag(text: pl.Expr) -> pl.Expr:
    """Whether any row says true; null when no row says anything (the flag is unknown)."""
    flag = parse_bool(text)
    return pl.when(flag.is_not_null().any()).then(flag.any())


def _canonical_names(label: str, pipeline: str) -> pl.Expr:
    """The label, or ``label (pipeline)`` when the label is used in several pipelines."""
    shared = pl.col(pipeline).n_unique().over(label) > 1
    return (
        pl.when(shared & pl.col(pipeline).is_not_null())
        .then(pl.format("{} ({})", pl.col(label), pl.col(pipeline)))
        .otherwise(pl.col(label))
    )


class _Aside(SetAsideLog):
    """The set-aside log, hiding this adapter's working columns (``_`` ones) from records."""

    def __init__(self) -> None:
        super().__init__(private_prefix="_")

    def by_reason(
        self, frame: pl.DataFrame, reasons: pl.DataFrame, key: str, *, table: str, file: str
    ) -> pl.DataFrame:
        """Set aside the rows whose ``key`` has a reason in ``reasons`` (key, reason)."""
        for reason in sorted(reasons["reason"].unique().to_list()):
            keys = reasons.filter(pl.col("reason") == reason)[key].implode()
            frame = self.take(frame, pl.col(key).is_in(keys), table=table, file=file, reason=reason)
        return frame


def _amounts(
    deals: pl.DataFrame,
    *,
    has_home: bool,
    reporting: str | None,
    file: str,
    notes: list[str],
    aside: _Aside,
) -> pl.DataFrame:
    """``amount`` in the company currency; ``amount_original`` and ``currency`` kept.

    With HubSpot's amount in company currency (``_home``), that amount; a deal without it keeps
    its own amount when it is in the company currency (``reporting_currency``, else the one
    currency whose amounts equal their company-currency amounts) and is quarantined otherwise.
    Without it, :func:`to_reporting_currency` (one currency: nothing to do; several: only the
    company currency's deals are kept).
    """
    if not has_home:
        internal = [c for c in deals.columns if c.startswith("_")]
        inside = deals.select("source_row", *internal)
        deals, quarantined = to_reporting_currency(
            deals.drop(internal),
            amount="amount",
            currency="currency",
            rates=None,
            reporting=reporting,
            table="deals",
            file=file,
            notes=notes,
        )
        if quarantined.height:
            aside.frames.append(quarantined)
        if "amount_original" not in deals.columns:
            deals = deals.with_columns(pl.col("amount").alias("amount_original"))
        return deals.join(inside, on="source_row", how="left")
    code = pl.col("currency").str.to_uppercase()
    deals = deals.with_columns(code.alias("currency"), pl.col("amount").alias("amount_original"))
    company = reporting.upper() if reporting else None
    if company is None:
        same = (
            deals.filter(pl.col("_home").is_not_null() & pl.col("amount").is_not_null())
            .group_by("currency")
            .agg((_number(pl.col("amount")) == _number(pl.col("_home"))).all().alias("same"))
            .filter(pl.col("same") & pl.col("currency").is_not_null())
        )
        company = same["currency"][0] if same.height == 1 else None
    own = pl.col("currency").is_null() | pl.col("currency").eq(pl.lit(company, pl.String))
    deals = aside.take(
        deals,
        pl.col("_home").is_null() & pl.col("amount").is_not_null() & ~own.fill_null(False),
        table="deals",
        file=file,
        reason="currency_without_rate",
        kind="quarantined",
    )
    deals = deals.with_columns(
        pl.coalesce("_home", pl.when(own).then(pl.col("amount"))).alias("amount")
    )
    others = (
        deals.filter(pl.col("currency").is_not_null() & pl.col("currency").ne_missing(company))
        .group_by("currency")
        .len()
        .sort("currency")
    )
    detail = ", ".join(f"{c} {n}" for c, n in others.iter_rows())
    named = f" ({company})" if company else ""
    notes.append(
        Message(
            N_(
                "{file}: amounts are HubSpot's amount in company currency{company}; deals in "
                "other currencies ({detail}) keep their own amount and currency in "
                "amount_original and currency."
            ),
            file=Path(file).name,
            company=named,
            detail=detail,
        )
        if detail
        else Message(
            N_("{file}: amounts are HubSpot's amount in company currency{company}."),
            file=Path(file).name,
            company=named,
        )
    )
    return deals


def _bool_text(name: str) -> pl.Expr:
    return pl.when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false")).alias(name)


def _team_note(team: str) -> str:
    return Message(N_("team={team} given: every deal is in team {team}."), team=repr(team))


# ----------------------------------------------------------------------------- UI export


class _Export:
    """A Deals UI export: one CSV of property labels."""

    def __init__(
        self,
        file: Path,
        team: str | None,
        reporting: str | None,
        encoding: str | None,
        decimal: str | None = None,
    ) -> None:
        self.decimal = decimal
        self.file = file
        self.label = str(file)
        self.team = team
        self.reporting = reporting
        self.encoding = encoding
        self.notes: list[str] = []
        self.aside = _Aside()

    def read(self) -> RawDataset:
        raw = _strings(read_export_file(self.file, self.notes, encoding=self.encoding))
        raw, aside = without_repeated_headers(raw, table="deals", file=self.label, notes=self.notes)
        self.aside.add(aside)
        deal_id = require_column(raw, self.label, "Record ID", "Deal ID")
        stage = require_column(raw, self.label, "Deal Stage")
        cols = {key: column(raw, *aliases) for key, aliases in EXPORT_COLUMNS.items()}
        entered = _entered_columns(raw.columns)
        raw = _dates(
            raw,
            [cols["created"], cols["close"], cols["entered_current"], *entered],
            self.notes,
            self.label,
        )
        numbers = [name for k in ("amount", "home", "probability") if (name := cols[k])]
        raw, _ = read_decimal_commas(raw, numbers, self.file.name, self.notes, self.decimal)
        frame = raw.select(
            "source_row",
            pl.col(deal_id).alias("deal_id"),
            pl.col(stage).alias("_label"),
            _col(cols["pipeline"]).alias("_pipeline"),
            *[_col(cols[k]).alias(f"_{k}") for k in EXPORT_COLUMNS if k != "pipeline"],
        ).with_columns(_percent_as_fraction(pl.col("_probability")).alias("_probability"))
        history = self._history(raw, deal_id, entered)
        frame = self._pipelines(frame, history, cols["pipeline"] is not None)
        stages = self._stages(frame, history, entered)
        frame = frame.join(
            stages.select("_label", "_pipeline", "stage", "is_won", "is_lost", "_undecided"),
            on=["_label", "_pipeline"],
            how="left",
            nulls_equal=True,
        )
        history = history.join(
            stages.select("_label", "_pipeline", "stage"),
            on=["_label", "_pipeline"],
            how="left",
            nulls_equal=True,
        )
        deals, reasons = self._deals(frame, history, cols)
        tables = {"deals": RawTable("deals", deals, self.label)}
        tables["stages"] = RawTable(
            "stages",
            stages.select(
                "source_row",
                "stage",
                "order",
                "probability",
                "pipeline",
                *[_bool_text(c) for c in ("is_won", "is_lost")],
            ),
            f"{self.label} (stages from the 'Date entered' columns and the deals)",
        )
        if entered:
            history_label = f"{self.label} (Date entered columns)"
            history = self.aside.by_reason(
                history.select("source_row", "deal_id", "stage", "entered_at"),
                reasons,
                "deal_id",
                table="stage_history",
                file=history_label,
            )
            tables["stage_history"] = RawTable(
                "stage_history", history.sort("source_row", "entered_at"), history_label
            )
            self.notes.append(
                Message(
                    N_(
                        "{name}: stage history from {count} 'Date entered' columns (one date per "
                        "stage and pipeline: a second visit of a stage is not in a UI export)."
                    ),
                    name=str(self.file.name),
                    count=len(entered),
                )
            )
        else:
            self.notes.append(
                Message(
                    N_(
                        "{name} has no 'Date entered \"<stage> (<pipeline>)\"' columns: add them "
                        "to the exported view for stage history (a minimal one is derived)."
                    ),
                    name=str(self.file.name),
                )
            )
        return RawDataset(
            source="hubspot",
            path=self.file.parent,
            tables=tables,
            fingerprint=fingerprint([self.file]),
            notes=self.notes,
            setaside=self.aside.frames,
            rule_messages=RULE_MESSAGES,
            hints=_HINTS,
        )

    def _history(self, raw: pl.DataFrame, deal_id: str, entered: list[str]) -> pl.DataFrame:
        """One row per filled ``Date entered`` cell.

        Columns: source_row, deal_id, _label, _pipeline, entered_at, _position (the column's
        place in the header).
        """
        schema = {
            "source_row": pl.Int64,
            "deal_id": pl.String,
            "_label": pl.String,
            "_pipeline": pl.String,
            "entered_at": pl.String,
            "_position": pl.Int64,
        }
        if not entered:
            return pl.DataFrame(schema=schema)
        parsed = [_parse_entered(c) for c in entered]
        columns = pl.DataFrame(
            {
                "_column": entered,
                "_label": [p[0] for p in parsed],
                "_pipeline": [p[1] for p in parsed],
                "_position": list(range(len(entered))),
            },
            schema_overrides={"_pipeline": pl.String, "_position": pl.Int64},
        )
        return (
            raw.select("source_row", pl.col(deal_id).alias("deal_id"), *entered)
            .unpivot(
                on=entered,
                index=["source_row", "deal_id"],
                variable_name="_column",
                value_name="entered_at",
            )
            .drop_nulls("entered_at")
            .join(columns, on="_column", how="left")
            .select(list(schema))
        )

    def _pipelines(
        self, frame: pl.DataFrame, history: pl.DataFrame, has_column: bool
    ) -> pl.DataFrame:
        """The deal's pipeline and its stage label without a `` (<pipeline>)`` suffix.

        The pipeline is the Pipeline column, else the pipeline of its latest stage entry.
        """
        if not has_column:
            latest = (
                history.sort("entered_at")
                .group_by("source_row")
                .agg(pl.col("_pipeline").last().alias("_latest"))
            )
            frame = (
                frame.join(latest, on="source_row", how="left")
                .with_columns(pl.col("_latest").alias("_pipeline"))
                .drop("_latest")
            )
            self.notes.append(
                Message(
                    N_(
                        "{name} has no Pipeline column: each deal's pipeline is that of its "
                        "latest 'Date entered' column."
                    ),
                    name=str(self.file.name),
                )
            )
        suffix = pl.lit(" (") + pl.col("_pipeline") + pl.lit(")")
        return frame.with_columns(
            pl.coalesce(pl.col("_label").str.strip_suffix(suffix), pl.col("_label")).alias("_label")
        )

    def _stages(
        self, frame: pl.DataFrame, history: pl.DataFrame, entered: list[str]
    ) -> pl.DataFrame:
        """One stage per (pipeline, label) of the columns and of the deals."""
        header = [_parse_entered(c) for c in entered]
        from_columns = pl.DataFrame(
            {
                "_label": [h[0] for h in header],
                "_pipeline": [h[1] for h in header],
                "_position": list(range(len(header))),
            },
            schema={"_label": pl.String, "_pipeline": pl.String, "_position": pl.Int64},
        )
        from_deals = (
            frame.filter(pl.col("_label").is_not_null())
            .group_by("_label", "_pipeline", maintain_order=True)
            .agg(pl.col("source_row").min().alias("_first_row"))
            .with_columns((pl.int_range(pl.len()) + len(entered)).alias("_position"))
        )
        catalogue = (
            pl.concat(
                [
                    from_columns.with_columns(pl.lit(1, pl.Int64).alias("_first_row")),
                    from_deals.select("_label", "_pipeline", "_position", "_first_row"),
                ]
            )
            .sort("_position")
            .unique(["_label", "_pipeline"], keep="first", maintain_order=True)
        )
        stats = frame.group_by("_label", "_pipeline").agg(
            _number(pl.col("_probability")).drop_nulls().mode().sort().first().alias("_p"),
            pl.col("_probability").drop_nulls().mode().sort().first().alias("probability"),
            _any_flag(pl.col("_is_closed")).alias("_closed"),
            _any_flag(pl.col("_is_won")).alias("_won"),
        )
        has_closed = frame["_is_closed"].drop_nulls().len() > 0
        has_won = frame["_is_won"].drop_nulls().len() > 0
        ranks = (
            history.with_columns(
                pl.col("entered_at").rank("ordinal").over("source_row").alias("_rank")
            )
            .group_by("_label", "_pipeline")
            .agg(pl.col("_rank").mean().alias("_mean_rank"))
        )
        stages = catalogue.join(
            stats, on=["_label", "_pipeline"], how="left", nulls_equal=True
        ).join(ranks, on=["_label", "_pipeline"], how="left", nulls_equal=True)
        closed = pl.col("_closed") if has_closed else pl.lit(None, pl.Boolean)
        won = pl.col("_won") if has_won else pl.lit(None, pl.Boolean)
        flags = _stage_flags(pl.col("_p"), closed, won, pl.col("_label"))
        stages = stages.with_columns(
            flags.is_won.alias("is_won"),
            flags.is_lost.alias("is_lost"),
            flags.inferred.alias("_inferred"),
            flags.by_label.alias("_by_label"),
            flags.undecided.alias("_undecided"),
            ((closed.is_null() & won.is_null()) & ~flags.is_won & ~flags.is_lost).alias(
                "_open_unflagged"
            ),
        )
        stages = (
            stages.with_columns(
                pl.when(pl.col("is_won"))
                .then(1)
                .when(pl.col("is_lost"))
                .then(2)
                .otherwise(0)
                .alias("_outcome")
            )
            .sort("_outcome", "_mean_rank", "_position", nulls_last=True)
            .with_columns(
                pl.int_range(1, pl.len() + 1)
                .over(pl.col("_pipeline").fill_null(""))
                .alias("order"),
                _canonical_names("_label", "_pipeline").alias("stage"),
            )
        )
        inferred_names = stages.filter(pl.col("_inferred"))["stage"].to_list()
        if inferred_names:
            self.notes.append(
                Message(
                    N_(
                        "{name} has no 'Is Deal Closed?' for stage(s) {names}: read as won/lost "
                        "from the stage name (and probability 1/0)."
                    ),
                    name=str(self.file.name),
                    names=str(", ".join(inferred_names)),
                )
            )
        self._outcome_notes(stages, frame, history)
        shared = stages.filter(pl.col("stage") != pl.col("_label"))["stage"].to_list()
        if shared:
            self.notes.append(
                Message(
                    N_(
                        "Stage labels used in several pipelines are one stage per pipeline: "
                        "{names}."
                    ),
                    names=str(", ".join(shared)),
                )
            )
        return stages.select(
            pl.col("_first_row").cast(pl.Int64).alias("source_row"),
            "stage",
            pl.col("order").cast(pl.String),
            "probability",
            pl.col("_pipeline").alias("pipeline"),
            "is_won",
            "is_lost",
            "_label",
            "_pipeline",
            "_undecided",
        )

    def _outcome_notes(
        self, stages: pl.DataFrame, frame: pl.DataFrame, history: pl.DataFrame
    ) -> None:
        """Notes on stages whose outcome was read from their label, undecided or doubtful.

        Doubtful: a stage read as open with no closed flag at all, that no deal ever leaves in
        the 'Date entered' columns, and (with a Close Date) whose deals' Close Dates are all
        past the export's latest stage entry: the mark of a closing stage with a custom name
        (``Signed``, ``Dead``) when the view has neither ``Is Deal Closed?`` nor the
        probability.
        """
        by_label = stages.filter(pl.col("_by_label"))["stage"].to_list()
        if by_label:
            self.notes.append(
                Message(
                    N_(
                        "{name}: closed stage(s) {names} have no 'Deal Stage Probability' 1/0 "
                        "nor 'Is Closed Won': read as won/lost from the stage name."
                    ),
                    name=str(self.file.name),
                    names=str(", ".join(by_label)),
                )
            )
        undecided = stages.filter(pl.col("_undecided"))["stage"].to_list()
        if undecided:
            self.notes.append(
                Message(
                    N_(
                        "{name}: stage(s) {names} are closed ('Is Deal Closed?') but nothing "
                        "says won or lost (no 'Deal Stage Probability', no 'Is Closed Won', no "
                        "won/lost in the name): their deals are quarantined, never counted as "
                        "open. Add 'Deal Stage Probability' or 'Is Closed Won' to the exported "
                        "view."
                    ),
                    name=str(self.file.name),
                    names=str(", ".join(undecided)),
                )
            )
        unflagged = stages.filter(pl.col("_open_unflagged"))
        if history.height == 0 or unflagged.height == 0:  # (nothing doubtful to look for)
            return
        keys = ["_label", "_pipeline"]
        left = (
            history.with_columns(
                (pl.col("entered_at") < pl.col("entered_at").max().over("source_row")).alias(
                    "_left"
                )
            )
            .group_by(keys)
            .agg(pl.col("_left").any().alias("_left"))
        )
        latest = history["entered_at"].max()
        closes = frame.group_by(keys).agg(
            (pl.col("_close").is_null() | (pl.col("_close") <= pl.lit(latest))).all().alias("_past")
        )
        doubtful = (
            unflagged.join(left, on=keys, how="inner", nulls_equal=True)
            .join(closes, on=keys, how="left", nulls_equal=True)
            .filter(~pl.col("_left") & pl.col("_past").fill_null(True))
        )["stage"].to_list()
        if doubtful:
            self.notes.append(
                Message(
                    N_(
                        "{name}: stage(s) {names} are read as open, but no deal ever leaves "
                        "them and their Close Dates are past: if they are closing stages, add "
                        "'Is Deal Closed?' and 'Deal Stage Probability' to the exported view "
                        "(their deals are counted as open now)."
                    ),
                    name=str(self.file.name),
                    names=str(", ".join(doubtful)),
                )
            )

    def _deals(
        self, frame: pl.DataFrame, history: pl.DataFrame, cols: dict[str, str | None]
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(deals raw table, deal_id -> exclusion reason)."""
        status = (
            pl.when(pl.col("is_won"))
            .then(pl.lit("won"))
            .when(pl.col("is_lost"))
            .then(pl.lit("lost"))
            .when(pl.col("_undecided").fill_null(False))  # (quarantined below)
            .then(pl.lit(None, pl.String))
            .when(pl.col("stage").is_not_null())
            .then(pl.lit("open"))
        )
        entered_stage = (
            history.filter(pl.col("stage").is_not_null())
            .group_by("source_row", "stage")
            .agg(pl.col("entered_at").max().alias("_entered_stage"))
        )
        frame = frame.join(entered_stage, on=["source_row", "stage"], how="left").with_columns(
            status.alias("status")
        )
        closed = pl.col("status").is_in(["won", "lost"])
        closing = pl.coalesce("_entered_stage", "_entered_current")
        fallback = frame.filter(closed & closing.is_null() & pl.col("_close").is_not_null())
        if fallback.height:
            self.notes.append(
                Message(
                    N_(
                        "{name}: {height} closed deal(s) have no date entered for their closing "
                        "stage: closed_at = Close Date for them (deal(s) {names})."
                    ),
                    name=str(self.file.name),
                    height=str(fallback.height),
                    names=str(", ".join(fallback["deal_id"].head(5).to_list())),
                )
            )
        if self.team is not None:
            team = pl.lit(self.team)
            self.notes.append(_team_note(self.team))
        elif cols["team"] is not None:
            team = pl.col("_team").fill_null("(no team)")
        else:
            team = pl.lit("All")
            self.notes.append(
                Message(
                    N_(
                        "{name} has no HubSpot Team column: every deal is in one team 'All'. Add "
                        "the column to the exported view, or pass team='<name>'."
                    ),
                    name=str(self.file.name),
                )
            )
        deals = frame.select(
            "source_row",
            "deal_id",
            pl.col("_owner").alias("owner"),
            team.alias("team"),
            pl.col("_amount").alias("amount"),
            pl.col("_currency").alias("currency"),
            "_home",
            pl.col("_created").alias("created_at"),
            "stage",
            "status",
            pl.when(closed).then(pl.coalesce(closing, "_close")).alias("closed_at"),
            pl.when(~closed).then(pl.col("_close")).alias("expected_close"),
            pl.col("_probability").alias("probability"),
            pl.col("_deal_type").alias("deal_type"),
            pl.col("_lead_source").alias("lead_source"),
            pl.col("_lost_reason").alias("lost_reason"),
            pl.col("_account").alias("account_id"),
            pl.col("_pipeline").alias("pipeline"),
            pl.col("_name").alias("deal_name"),
            "_merged",
            pl.col("_undecided").fill_null(False),
        )
        reasons = _merged_reasons(deals, "_merged")
        deals = self.aside.by_reason(deals, reasons, "deal_id", table="deals", file=self.label)
        deals = self.aside.take(
            deals,
            pl.col("_undecided"),
            table="deals",
            file=self.label,
            reason="closed_outcome_unknown",
            kind="quarantined",
        )
        deals = _amounts(
            deals,
            has_home=frame["_home"].drop_nulls().len() > 0,
            reporting=self.reporting,
            file=self.label,
            notes=self.notes,
            aside=self.aside,
        )
        return deals.drop("_home", "_merged", "_undecided", strict=False), reasons


def _entered_columns(columns: list[str]) -> list[str]:
    """The ``Date entered "<stage> (<pipeline>)"`` columns, in header order.

    Not ``Date entered current stage``.
    """
    found = []
    for name in columns:
        match = _ENTERED.match(name)
        if match and (match["q"] or " (" in match["inner"]):
            found.append(name)
    return found


def _parse_entered(name: str) -> tuple[str, str | None]:
    """(stage label, pipeline label) of a ``Date entered`` header.

    The pipeline follows the last `` (``, as a stage label may hold parentheses itself.
    """
    match = _ENTERED.match(name)
    inner = match["inner"].strip().strip("\"'") if match else name
    if inner.endswith(")") and " (" in inner:
        stage, _, pipeline = inner[:-1].rpartition(" (")
        return stage.strip(), pipeline.strip()
    return inner, None


def _merged_reasons(deals: pl.DataFrame, merged: str) -> pl.DataFrame:
    """deal_id -> merged_into_another_deal, for the ids another deal lists as merged into it."""
    absorbed = (
        deals.select(
            pl.col("deal_id").alias("_into"),
            pl.col(merged).str.replace_all(",", ";", literal=True).str.split(";").alias("deal_id"),
        )
        .explode("deal_id")
        .with_columns(pl.col("deal_id").str.strip_chars())
        .filter(pl.col("deal_id").is_not_null() & pl.col("deal_id").ne(pl.col("_into")))
    )
    ids = absorbed.filter(pl.col("deal_id").is_in(deals["deal_id"].implode()))
    return ids.select("deal_id", pl.lit("merged_into_another_deal").alias("reason")).unique()


_HINTS = {
    ("deals", "stage|nullability"): N_(
        "export Deal Stage (UI export) or deal_pipeline_stage_id (API) for every deal"
    ),
}


# ----------------------------------------------------------------------------- API / Fivetran


class _Api:
    """The API / Fivetran tables: ids, resolved through the pipeline, owner and team tables."""

    def __init__(
        self,
        folder: Path,
        files: dict[str, Path],
        team: str | None,
        reporting: str | None,
        encoding: str | None,
    ) -> None:
        self.folder = folder
        self.files = files
        self.team = team
        self.reporting = reporting
        self.encoding = encoding
        self.notes: list[str] = []
        self.aside = _Aside()
        self.used: list[Path] = []

    def frame(self, name: str) -> pl.DataFrame | None:
        if name not in self.files:
            return None
        self.used.append(self.files[name])
        return _strings(read_export_file(self.files[name], self.notes, encoding=self.encoding))

    def label(self, name: str) -> str:
        return str(self.files[name])

    def read(self) -> RawDataset:
        deal = self.frame("deal")
        assert deal is not None
        cols = {key: column(deal, *aliases) for key, aliases in API_COLUMNS.items()}
        if cols["deal_id"] is None:
            require_column(deal, self.label("deal"), "deal_id")
        deal = _dates(deal, [cols["created"], cols["close"]], self.notes, self.label("deal"))
        frame = deal.select(
            "source_row",
            *[_col(cols[k]).alias("deal_id" if k == "deal_id" else f"_{k}") for k in API_COLUMNS],
        )
        self.stage_map = self._stage_map()
        # deleted and merged deals first: they leave every table
        deleted = (
            parse_bool(pl.col("_is_deleted"), blank=False)
            | parse_bool(pl.col("_fivetran_deleted"), blank=False)
        ).fill_null(False)
        reasons = pl.concat(
            [
                frame.filter(deleted).select("deal_id", pl.lit("deleted_in_crm").alias("reason")),
                self._merged(frame),
            ]
        ).unique("deal_id", keep="first", maintain_order=True)
        history, history_label = self._history(frame, self.stage_map, reasons, deal)
        frame = self._resolve_stage(frame, self.stage_map, "_stage")
        deals = self._deals(frame, history, reasons)
        stages = self._stages(self.stage_map, deals, history)
        public = [c for c in deals.columns if not c.startswith("_")]
        tables = {
            "deals": RawTable("deals", deals.select(public), self.label("deal")),
            "stages": RawTable("stages", stages, self.label("deal_pipeline_stage")),
        }
        if history is not None:
            tables["stage_history"] = RawTable(
                "stage_history",
                history.select("source_row", "deal_id", "stage", "entered_at").sort("source_row"),
                history_label,
            )
        activities = self._activities(deals, reasons)
        if activities is not None:
            tables["activities"] = RawTable("activities", activities, self.label("engagement"))
        return RawDataset(
            source="hubspot",
            path=self.folder,
            tables=tables,
            fingerprint=fingerprint(self.used),
            notes=self.notes,
            setaside=self.aside.frames,
            rule_messages=RULE_MESSAGES,
            hints=_HINTS,
        )

    # -- pipelines and stages

    def _stage_map(self) -> pl.DataFrame:
        """Every stage of deal_pipeline_stage.

        Columns: _stage_id, _pipeline_id, pipeline (label), _label, stage (canonical),
        probability, is_won, is_lost, _deleted, _display, source_row.
        """
        stages = self.frame("deal_pipeline_stage")
        if stages is None:
            raise DataError(
                problem="deal_pipeline_stage is missing: the deals hold stage ids, and only this "
                "table names them and says which are won or lost",
                fix="add the deal_pipeline_stage table (and deal_pipeline for pipeline names)",
                file=str(self.folder),
                examples=[f"files found: {', '.join(p.name for p in self.files.values())}"],
            )
        file = self.label("deal_pipeline_stage")
        closed_col = column(stages, "is_closed", "isclosed", "closed")
        legacy = column(stages, "closed_won")
        if closed_col is None and legacy is not None:
            closed_col = legacy
            self.notes.append(
                Message(
                    N_(
                        "deal_pipeline_stage has closed_won but no is_closed: closed_won is read "
                        "as 'closed' (its meaning in Fivetran's schema; won/lost then comes from "
                        "the probability)."
                    )
                )
            )
        frame = stages.select(
            "source_row",
            pl.col(require_column(stages, file, "stage_id", "id")).alias("_stage_id"),
            _col(column(stages, "pipeline_id")).alias("_pipeline_id"),
            _col(column(stages, "label")).alias("_label"),
            _col(column(stages, "display_order")).alias("_display"),
            _col(column(stages, "probability")).alias("probability"),
            parse_bool(_col(closed_col)).alias("_closed"),
            parse_bool(_col(column(stages, "_fivetran_deleted")), blank=False).alias("_deleted"),
        ).with_columns(pl.coalesce("_label", "_stage_id").alias("_label"))
        pipelines = self.frame("deal_pipeline")
        if pipelines is not None:
            p = pipelines.select(
                pl.col(
                    require_column(pipelines, self.label("deal_pipeline"), "pipeline_id", "id")
                ).alias("_pipeline_id"),
                _col(column(pipelines, "label")).alias("_pipeline_label"),
                parse_bool(_col(column(pipelines, "_fivetran_deleted")), blank=False).alias(
                    "_pipeline_deleted"
                ),
            ).unique("_pipeline_id", keep="first")
            frame = frame.join(p, on="_pipeline_id", how="left")
        else:
            frame = frame.with_columns(
                pl.lit(None, pl.String).alias("_pipeline_label"),
                pl.lit(False).alias("_pipeline_deleted"),
            )
            self.notes.append(
                Message(N_("No deal_pipeline table: pipelines are named by their ids."))
            )
        flags = _stage_flags(
            _number(pl.col("probability")),
            pl.col("_closed").fill_null(False)
            if closed_col is not None
            else pl.lit(None, pl.Boolean),
            pl.lit(None, pl.Boolean),
            pl.col("_label"),
        )
        frame = frame.with_columns(
            pl.coalesce("_pipeline_label", "_pipeline_id").alias("pipeline"),
            (pl.col("_deleted") | pl.col("_pipeline_deleted").fill_null(False)).alias("_deleted"),
            flags.is_won.alias("is_won"),
            flags.is_lost.alias("is_lost"),
            flags.undecided.alias("_undecided"),
        ).drop("_pipeline_label", "_pipeline_deleted", "_closed")
        frame = frame.with_columns(_canonical_names("_label", "pipeline").alias("stage"))
        shared = frame.filter(pl.col("stage") != pl.col("_label"))["stage"].to_list()
        if shared:
            self.notes.append(
                Message(
                    N_(
                        "Stage labels used in several pipelines are one stage per pipeline: "
                        "{names}."
                    ),
                    names=str(", ".join(shared)),
                )
            )
        return frame

    def _resolve_stage(self, frame: pl.DataFrame, stage_map: pl.DataFrame, key: str):
        """Add ``_key`` (the stage map's row: source_row of deal_pipeline_stage).

        For the stage id in ``key``: by (pipeline, stage id), else by the stage id alone when
        it is unique.
        """
        by_pair = stage_map.select(
            pl.col("_pipeline_id").alias("_pipeline"),
            pl.col("_stage_id").alias(key),
            pl.col("source_row").alias("_key_pair"),
        ).unique(["_pipeline", key], keep="first")
        unique_ids = stage_map.filter(pl.col("_stage_id").is_unique()).select(
            pl.col("_stage_id").alias(key), pl.col("source_row").alias("_key_id")
        )
        return (
            frame.join(by_pair, on=["_pipeline", key], how="left")
            .join(unique_ids, on=key, how="left")
            .with_columns(pl.coalesce("_key_pair", "_key_id").alias("_key"))
            .drop("_key_pair", "_key_id")
        )

    def _stages(
        self, stage_map: pl.DataFrame, deals: pl.DataFrame, history: pl.DataFrame | None
    ) -> pl.DataFrame:
        """The stages table: deleted stages only when a deal or history row uses them."""
        used = pl.concat(
            [deals.select("_key")] + ([history.select("_key")] if history is not None else [])
        )["_key"].drop_nulls()
        file = self.label("deal_pipeline_stage")
        stages = self.aside.take(
            stage_map,
            pl.col("_deleted") & ~pl.col("source_row").is_in(used.implode()),
            table="stages",
            file=file,
            reason="deleted_in_crm",
        )
        kept_deleted = stages.filter(pl.col("_deleted"))["_label"].to_list()
        if kept_deleted:
            self.notes.append(
                Message(
                    N_(
                        "Stage(s) {names} are deleted in HubSpot but still used by deals or "
                        "their history: kept under their last label."
                    ),
                    names=str(", ".join(kept_deleted)),
                )
            )
        return stages.select(
            "source_row",
            "stage",
            pl.col("_display")
            .cast(pl.Float64, strict=False)
            .rank("dense")
            .over("_pipeline_id")
            .cast(pl.Int64)
            .cast(pl.String)
            .alias("order"),
            "probability",
            "pipeline",
            *[_bool_text(c) for c in ("is_won", "is_lost")],
        )

    # -- merged deals

    def _merged(self, frame: pl.DataFrame) -> pl.DataFrame:
        """deal_id -> merged_into_another_deal.

        From merged_deal.merged_deal_id, and the ids in another deal's hs_merged_object_ids.
        """
        parts = [_merged_reasons(frame, "_merged")]
        merged = self.frame("merged_deal")
        if merged is not None:
            into = require_column(merged, self.label("merged_deal"), "merged_deal_id")
            parts.append(
                merged.select(pl.col(into).alias("deal_id")).with_columns(
                    pl.lit("merged_into_another_deal").alias("reason")
                )
            )
        return pl.concat(parts).unique("deal_id")

    # -- stage history

    def _history(
        self,
        frame: pl.DataFrame,
        stage_map: pl.DataFrame,
        reasons: pl.DataFrame,
        deal: pl.DataFrame,
    ) -> tuple[pl.DataFrame | None, str]:
        """deal_stage rows (or the deals' date-entered properties) as stage entries."""
        raw = self.frame("deal_stage")
        if raw is not None:
            label = self.label("deal_stage")
            when = column(raw, "date_entered", "_fivetran_start", "timestamp")
            raw = _dates(raw, [when], self.notes, label)
            history = raw.select(
                "source_row",
                pl.col(require_column(raw, label, "deal_id")).alias("deal_id"),
                pl.col(require_column(raw, label, "value", "deal_stage", "stage")).alias(
                    "stage_id"
                ),
                _col(when).alias("entered_at"),
                pl.lit(None, pl.Int64).alias("_order"),
            )
        else:
            history, label = self._history_from_properties(deal)
            if history is None:
                self.notes.append(
                    Message(
                        N_(
                            "No deal_stage table (nor hs_date_entered_* "
                            "properties): a minimal stage "
                            "history is derived from the deals."
                        )
                    )
                )
                return None, label
        history = self.aside.by_reason(
            history, reasons, "deal_id", table="stage_history", file=label
        )
        history = history.sort("deal_id", "entered_at", "_order", "source_row", nulls_last=True)
        history = self.aside.take(
            history,
            pl.col("stage_id").eq(pl.col("stage_id").shift(1).over("deal_id")),
            table="stage_history",
            file=label,
            reason="not_a_stage_change",
        )
        pipelines = frame.select("deal_id", "_pipeline").unique("deal_id", keep="first")
        history = self._resolve_stage(
            history.join(pipelines, on="deal_id", how="left"), stage_map, "stage_id"
        )
        history = self.aside.take(
            history,
            pl.col("_key").is_null(),
            table="stage_history",
            file=label,
            reason="stage_not_in_pipelines",
            kind="quarantined",
        )
        history = history.join(
            stage_map.select(pl.col("source_row").alias("_key"), "stage"), on="_key", how="left"
        )
        history = self.aside.take(
            history,
            pl.struct("deal_id", "stage", pl.col("entered_at").str.slice(0, 10))
            .is_first_distinct()
            .not_(),
            table="stage_history",
            file=label,
            reason="same_stage_same_day",
        )
        return history, label

    def _history_from_properties(self, deal: pl.DataFrame) -> tuple[pl.DataFrame | None, str]:
        """Stage entries from the deal's ``property_hs_v2_date_entered_<stage id>`` columns.

        Or the legacy ``property_hs_date_entered_<stage id>`` columns; v2 wins when both exist.
        """
        label = f"{self.label('deal')} (hs_date_entered properties)"
        found = {}
        for name in deal.columns:
            match = _PROPERTY_ENTERED.match(name.lower())
            if match and match["stage"] != "current_stage":
                found[name] = (match["stage"], 0 if match["v2"] else 1)
        if not found:
            return None, label
        deal_id = column(deal, *API_COLUMNS["deal_id"])
        deal = _dates(deal, list(found), self.notes, label)
        meta = pl.DataFrame(
            {
                "_column": list(found),
                "stage_id": [v[0] for v in found.values()],
                "_version": [v[1] for v in found.values()],
            }
        )
        history = (
            deal.select("source_row", pl.col(str(deal_id)).alias("deal_id"), *found)
            .unpivot(
                on=list(found),
                index=["source_row", "deal_id"],
                variable_name="_column",
                value_name="entered_at",
            )
            .drop_nulls("entered_at")
            .join(meta, on="_column", how="left")
            .sort("_version")
            .unique(["source_row", "stage_id"], keep="first")
            .select(
                "source_row",
                "deal_id",
                "stage_id",
                "entered_at",
                pl.lit(None, pl.Int64).alias("_order"),
            )
        )
        self.notes.append(
            Message(
                N_(
                    "No deal_stage table: stage history from {count} hs_date_entered_* deal "
                    "properties (one date per stage: a second visit of a stage is not in "
                    "them)."
                ),
                count=len(found),
            )
        )
        return history, label

    # -- deals

    def _owners(self) -> pl.DataFrame | None:
        owners = self.frame("owner")
        if owners is None:
            return None
        file = self.label("owner")
        first = _col(column(owners, "first_name", "firstname"))
        last = _col(column(owners, "last_name", "lastname"))
        name = pl.concat_str([first, last], separator=" ", ignore_nulls=True).str.strip_chars()
        return owners.select(
            pl.col(require_column(owners, file, "owner_id", "id")).alias("_owner"),
            pl.coalesce(pl.when(name.ne("")).then(name), _col(column(owners, "email"))).alias(
                "_owner_name"
            ),
        ).unique("_owner", keep="first")

    def _teams(self) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
        """(team id -> name, owner id -> primary team id)."""
        team = self.frame("team")
        names = None
        if team is not None:
            file = self.label("team")
            names = team.select(
                pl.col(require_column(team, file, "id", "team_id")).alias("_team_id"),
                _col(column(team, "name")).alias("_team_name"),
            ).unique("_team_id", keep="first")
        owner_team = self.frame("owner_team")
        primary = None
        if owner_team is not None:
            file = self.label("owner_team")
            primary = (
                owner_team.select(
                    pl.col(require_column(owner_team, file, "owner_id")).alias("_owner"),
                    pl.col(require_column(owner_team, file, "team_id")).alias("_owner_team"),
                    parse_bool(_col(column(owner_team, "is_team_primary")), blank=False).alias(
                        "_primary"
                    ),
                    "source_row",
                )
                .sort("_primary", "source_row", descending=[True, False])
                .unique("_owner", keep="first")
                .drop("_primary", "source_row")
            )
        return names, primary

    def _deals(
        self, frame: pl.DataFrame, history: pl.DataFrame | None, reasons: pl.DataFrame
    ) -> pl.DataFrame:
        """The deals raw table (with the internal ``_key`` of its stage, dropped later)."""
        file = self.label("deal")
        frame = self.aside.by_reason(frame, reasons, "deal_id", table="deals", file=file)
        frame = frame.join(
            self.stage_map.select(
                pl.col("source_row").alias("_key"),
                "stage",
                "pipeline",
                pl.col("probability").alias("_stage_probability"),
                "is_won",
                "is_lost",
                "_undecided",
            ),
            on="_key",
            how="left",
        ).with_columns(
            # an id in no pipeline stays as it is: the loader reports it as stage_unknown
            pl.coalesce("stage", "_stage").alias("stage"),
            pl.coalesce("pipeline", "_pipeline").alias("pipeline"),
        )
        if history is not None:
            entered = history.group_by("deal_id", "stage").agg(
                pl.col("entered_at").max().alias("_entered_stage")
            )
            frame = frame.join(entered, on=["deal_id", "stage"], how="left")
        else:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("_entered_stage"))
        status = (
            pl.when(pl.col("is_won"))
            .then(pl.lit("won"))
            .when(pl.col("is_lost"))
            .then(pl.lit("lost"))
            .when(pl.col("_undecided").fill_null(False))  # (quarantined below)
            .then(pl.lit(None, pl.String))
            .when(pl.col("stage").is_not_null())
            .then(pl.lit("open"))
        )
        frame = frame.with_columns(status.alias("status"))
        # a closed stage with no probability 1/0 and no won/lost in its label: never open
        frame = self.aside.take(
            frame,
            pl.col("_undecided"),
            table="deals",
            file=file,
            reason="closed_outcome_unknown",
            kind="quarantined",
        )
        closed = pl.col("status").is_in(["won", "lost"])
        fallback = frame.filter(
            closed & pl.col("_entered_stage").is_null() & pl.col("_close").is_not_null()
        )
        if fallback.height:
            self.notes.append(
                Message(
                    N_(
                        "{height} closed deal(s) have no stage entry into their closing stage: "
                        "closed_at = property_closedate for them (deal(s) {names})."
                    ),
                    height=str(fallback.height),
                    names=str(", ".join(fallback["deal_id"].head(5).to_list())),
                )
            )
        frame = self._owner_and_team(frame)
        frame = self._accounts(frame)
        deals = frame.select(
            "source_row",
            "deal_id",
            "owner",
            "team",
            pl.col("_amount").alias("amount"),
            pl.col("_currency").alias("currency"),
            "_home",
            pl.col("_created").alias("created_at"),
            "stage",
            "status",
            pl.when(closed).then(pl.coalesce("_entered_stage", "_close")).alias("closed_at"),
            pl.when(~closed).then(pl.col("_close")).alias("expected_close"),
            # 0 is a probability (closed lost), not a missing value: only nulls are filled
            pl.coalesce("_probability", "_stage_probability").alias("probability"),
            pl.col("_deal_type").alias("deal_type"),
            pl.col("_lead_source").alias("lead_source"),
            pl.col("_lost_reason").alias("lost_reason"),
            "account_id",
            "pipeline",
            pl.col("_name").alias("deal_name"),
            "_key",
        )
        filled = frame.filter(
            pl.col("_probability").is_null() & pl.col("_stage_probability").is_not_null()
        )
        if filled.height:
            self.notes.append(
                Message(
                    N_(
                        "{height} deal(s) have no hs_deal_stage_probability: probability = their "
                        "stage's probability."
                    ),
                    height=str(filled.height),
                )
            )
        return _amounts(
            deals,
            has_home=frame["_home"].drop_nulls().len() > 0,
            reporting=self.reporting,
            file=file,
            notes=self.notes,
            aside=self.aside,
        )

    def _owner_and_team(self, frame: pl.DataFrame) -> pl.DataFrame:
        owners = self._owners()
        if owners is not None:
            frame = frame.join(owners, on="_owner", how="left")
            unnamed = frame.filter(pl.col("_owner").is_not_null() & pl.col("_owner_name").is_null())
            if unnamed.height:
                self.notes.append(
                    Message(
                        N_(
                            "{height} deal(s) have an owner id not in the owner table: owner = the "
                            "id."
                        ),
                        height=str(unnamed.height),
                    )
                )
        else:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("_owner_name"))
            self.notes.append(Message(N_("No owner table: owners are their HubSpot owner ids.")))
        frame = frame.with_columns(pl.coalesce("_owner_name", "_owner").alias("owner"))
        if self.team is not None:
            self.notes.append(_team_note(self.team))
            return frame.with_columns(pl.lit(self.team).alias("team"))
        names, primary = self._teams()
        has_deal_team = frame["_team"].drop_nulls().len() > 0
        if primary is None and not has_deal_team:
            self.notes.append(
                Message(
                    N_(
                        "No owner_team table nor hubspot_team_id on the deals: every deal is in "
                        "one team 'All'. Add owner_team and team, or pass team='<name>'."
                    )
                )
            )
            return frame.with_columns(pl.lit("All").alias("team"))
        if primary is not None:
            frame = frame.join(primary, on="_owner", how="left")
        else:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("_owner_team"))
        team_id = pl.coalesce("_team", "_owner_team")
        if names is not None:
            frame = frame.with_columns(team_id.alias("_team_id")).join(
                names, on="_team_id", how="left"
            )
            team = pl.coalesce("_team_name", "_team_id")
        else:
            team = team_id
            self.notes.append(Message(N_("No team table: teams are their HubSpot team ids.")))
        frame = frame.with_columns(team.fill_null("(no team)").alias("team"))
        none = frame.filter((pl.col("team") == "(no team)") & pl.col("_owner").is_not_null()).height
        if none:
            self.notes.append(
                Message(
                    N_(
                        "{none} deal(s) have an owner without a team (owner_team): team '(no "
                        "team)'."
                    ),
                    none=str(none),
                )
            )
        return frame

    def _accounts(self, frame: pl.DataFrame) -> pl.DataFrame:
        links = self.frame("deal_company")
        if links is None:
            return frame.with_columns(pl.lit(None, pl.String).alias("account_id"))
        file = self.label("deal_company")
        first = (
            links.select(
                pl.col(require_column(links, file, "deal_id")).alias("deal_id"),
                pl.col(require_column(links, file, "company_id")).alias("account_id"),
                "source_row",
            )
            .sort("source_row")
            .unique("deal_id", keep="first")
            .drop("source_row")
        )
        return frame.join(first, on="deal_id", how="left")

    # -- activities

    def _activities(self, deals: pl.DataFrame, reasons: pl.DataFrame) -> pl.DataFrame | None:
        """Engagements: type, owner, when (hs_timestamp, start_time, ...), first linked deal."""
        engagement = self.frame("engagement")
        if engagement is None:
            return None
        file = self.label("engagement")
        when_cols = [
            column(engagement, "timestamp", "property_hs_timestamp"),
            column(engagement, "created_at", "property_hs_createdate"),
        ]
        engagement = _dates(engagement, when_cols, self.notes, file)
        frame = engagement.select(
            "source_row",
            pl.col(require_column(engagement, file, "id", "engagement_id")).alias("activity_id"),
            pl.col(require_column(engagement, file, "type", "engagement_type"))
            .str.to_lowercase()
            .alias("type"),
            _col(column(engagement, "owner_id", "property_hubspot_owner_id")).alias("_e_owner"),
            _col(when_cols[0]).alias("_e_when"),
            _col(when_cols[1]).alias("_e_created"),
            parse_bool(
                _col(column(engagement, "_fivetran_deleted", "is_deleted")), blank=False
            ).alias("_e_deleted"),
        )
        details = self._engagement_details()
        if details is not None:
            frame = frame.join(details, on="activity_id", how="left")
        else:
            frame = frame.with_columns(
                pl.lit(None, pl.String).alias(c) for c in ("_owner", "_when", "_created")
            ).with_columns(pl.lit(False).alias("_deleted"))
        frame = frame.with_columns(
            pl.coalesce("_when", "_e_when", "_created", "_e_created").alias("occurred_at"),
            pl.coalesce("_owner", "_e_owner").alias("_owner"),
            (pl.col("_e_deleted") | pl.col("_deleted").fill_null(False)).alias("_deleted"),
        )
        links = self.frame("engagement_deal")
        if links is not None:
            lfile = self.label("engagement_deal")
            per = (
                links.select(
                    pl.col(require_column(links, lfile, "engagement_id")).alias("activity_id"),
                    pl.col(require_column(links, lfile, "deal_id")).alias("deal_id"),
                )
                .sort(pl.col("deal_id").cast(pl.Int64, strict=False), "deal_id", nulls_last=True)
                .group_by("activity_id", maintain_order=True)
                .agg(pl.col("deal_id").first(), pl.len().alias("_deals"))
            )
            frame = frame.join(per, on="activity_id", how="left")
            several = frame.filter(pl.col("_deals") > 1).height
            if several:
                self.notes.append(
                    Message(
                        N_(
                            "{several} engagement(s) are linked to several deals: each is counted "
                            "once, with the lowest deal id."
                        ),
                        several=str(several),
                    )
                )
        else:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("deal_id"))
        owners = self._owners()
        if owners is not None:
            frame = frame.join(owners, on="_owner", how="left")
        else:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("_owner_name"))
        deal_owner = deals.select("deal_id", pl.col("owner").alias("_deal_owner"))
        frame = frame.join(deal_owner, on="deal_id", how="left")
        borrowed = frame.filter(pl.col("_owner").is_null() & pl.col("_deal_owner").is_not_null())
        if borrowed.height:
            self.notes.append(
                Message(
                    N_(
                        "{height} engagement(s) have no owner (e.g. meetings in the v1 schema): "
                        "owner = the owner of their deal."
                    ),
                    height=str(borrowed.height),
                )
            )
        frame = frame.with_columns(
            pl.coalesce("_owner_name", "_owner", "_deal_owner").alias("owner")
        ).select("source_row", "activity_id", "owner", "type", "occurred_at", "deal_id", "_deleted")
        frame = self.aside.take(
            frame, pl.col("_deleted"), table="activities", file=file, reason="deleted_in_crm"
        )
        frame = self.aside.by_reason(frame, reasons, "deal_id", table="activities", file=file)
        return frame.drop("_deleted")

    def _engagement_details(self) -> pl.DataFrame | None:
        """engagement_call / _meeting / ...: activity_id, _when, _created, _owner, _deleted."""
        parts = []
        for kind in ENGAGEMENT_KINDS:
            name = f"engagement_{kind}"
            detail = self.frame(name)
            if detail is None:
                continue
            file = self.label(name)
            when = column(
                detail, "property_hs_timestamp", "hs_timestamp", "start_time", "timestamp"
            )
            created = column(detail, "property_hs_createdate", "hs_createdate", "created_at")
            detail = _dates(detail, [when, created], self.notes, file)
            parts.append(
                detail.select(
                    pl.col(require_column(detail, file, "engagement_id", "id")).alias(
                        "activity_id"
                    ),
                    _col(when).alias("_when"),
                    _col(created).alias("_created"),
                    _col(
                        column(detail, "property_hubspot_owner_id", "hubspot_owner_id", "owner_id")
                    ).alias("_owner"),
                    parse_bool(_col(column(detail, "_fivetran_deleted")), blank=False).alias(
                        "_deleted"
                    ),
                )
            )
        if not parts:
            return None
        return pl.concat(parts, how="vertical").unique("activity_id", keep="first")
