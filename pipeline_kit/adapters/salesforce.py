"""Salesforce exports (``source="salesforce"``): a folder of object CSVs as users get them.

Understood shapes, told apart by their headers (names are compared after
:func:`~pipeline_kit.adapters._tools.squash`, so ``StageName``, ``stage_name`` and ``stagename``
are one column): the weekly Data Export and Data Loader / Bulk API files (``Opportunity.csv``,
UTF-8 with BOM, ``2024-01-22T16:14:25.000+0000``, booleans ``1``/blank), files that went through
Excel (``MM/DD/YY`` dates, ``TRUE``/``FALSE``), Fivetran's snake_case tables
(``sf_opportunity_data.csv``, ``_fivetran_deleted``, History Mode ``_fivetran_start``), Stitch's
lower-case names, and a report export ("Details Only" CSV with field labels and footer rows;
a "Formatted Report" .xlsx is read from its header row, found among its first 15 rows, the
title rows above it skipped with a note).

==========================  ===================================================================
canonical                   Salesforce
==========================  ===================================================================
deals.deal_id               Opportunity.Id (when the files mix 15- and 18-character ids, e.g.
                            OpportunityHistory in 15, every id is compared and shown on 15);
                            ``000000000000000AAA`` (null lookup) is empty
deals.owner                 User.Name (or FirstName LastName) of Opportunity.OwnerId; the id
                            when there is no User file
deals.team                  ``team="role"``: UserRole.Name of the owner's role;
                            ``"parent_role"``: the role above it; or any Opportunity column
                            (``team="Region__c"``); one team "All" when none is available
deals.amount                Amount in one currency when CurrencyIsoCode varies (or differs from
                            ``reporting_currency``): DatedConversionRate by close day, else
                            CurrencyType.ConversionRate (per unit of IsCorporate's currency,
                            which has rate 1; rebased for another ``reporting_currency``);
                            ``amount_original`` and ``currency`` keep the deal's own; a currency
                            without a rate is quarantined (``currency_without_rate``); a
                            report export's ``Amount (converted)`` (the corporate currency,
                            converted by Salesforce) when present; a code written in an
                            amount (``EUR 1,000.50``) must be the deal's currency
                            (``amount_currency_differs``)
deals.created_at            CreatedDate (UTC)
deals.stage / status        StageName; IsWon -> won, IsClosed and not IsWon -> lost, else open
                            (from OpportunityStage, or the stage names, when the flags are absent)
deals.closed_at             UTC day the closing stage was entered (OpportunityHistory), else
                            CloseDate
deals.expected_close        CloseDate of open deals
deals.probability           the deal's own Probability / 100 (stages.probability holds the
                            stage default: OpportunityStage.DefaultProbability / 100)
deals.pipeline (extra)      RecordType.Name (sales process) of RecordTypeId
deals.lost_reason,          custom fields found by name (Loss_Reason__c, LossReason__c,
competitor                  MainCompetitors__c, Competitor__c, ...) or ``columns={...}``
stage_history               OpportunityHistory rows whose StageName differs from the deal's
                            previous row (other rows are saves of amount or close date:
                            excluded as ``not_a_stage_change``); Fivetran History Mode: every
                            version (active or not) where stage_name changed, entered at
                            _fivetran_start
stages                      OpportunityStage: MasterLabel, SortOrder, DefaultProbability, IsWon,
                            IsClosed; derived by the loader from the deals when absent
leads                       Lead: Id, CreatedDate, LeadSource, OwnerId (a user's name, or a
                            queue's 00G... id), ConvertedDate (a day: on the creation day, or
                            the day before by time zone, it becomes the creation time),
                            ConvertedOpportunityId
activities                  Task and Event: Id, OwnerId, TaskSubtype/Type ('meeting' for an
                            Event), CompletedDateTime/ActivityDateTime/ActivityDate/CreatedDate,
                            WhatId (006... = deal), WhoId (00Q... = lead)
==========================  ===================================================================

Rows left out by design are counted as *excluded* with their reason: deleted rows (``IsDeleted``,
``_fivetran_deleted``), earlier versions (Fivetran History Mode, ``_fivetran_active`` false) of
Opportunity and the lookup files, history rows that are not stage changes,
report footer rows (``Total``, ``Confidential Information - Do Not Distribute``, ``Copyright``,
``Generated By:`` and the blank or one-cell lines at the end of the file). Opportunity history
dated at an import (most rows sharing one timestamp) is not used (``history_dated_at_import``):
the loader derives a minimal history and marks stage figures approximate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import polars as pl

from pipeline_kit.adapters._tools import (
    CURRENCY_MESSAGES,
    WORKBOOK_SUFFIXES,
    SetAsideLog,
    amount_code,
    check_decimal,
    column,
    normalise_dates,
    parse_bool,
    plain_number,
    read_decimal_commas,
    read_export_file,
    require_column,
    set_aside,
    squash,
    to_reporting_currency,
    without_repeated_headers,
)
from pipeline_kit.adapters.base import RawDataset, RawTable, fingerprint
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = ["object_of", "read_salesforce"]

# object -> squashed file stems that hold it (after removing a "sf"/"salesforce" prefix and a
# "data" suffix, as in Fivetran's seeds: sf_opportunity_data.csv)
OBJECTS = {
    "opportunity": {"opportunity", "opportunities"},
    "opportunityhistory": {"opportunityhistory"},
    "opportunitystage": {"opportunitystage"},
    "user": {"user", "users"},
    "userrole": {"userrole"},
    "recordtype": {"recordtype"},
    "lead": {"lead", "leads"},
    "task": {"task", "tasks"},
    "event": {"event", "events"},
    "account": {"account", "accounts"},
    "currencytype": {"currencytype"},
    "datedconversionrate": {"datedconversionrate"},
}
NULL_ID = "000000000000000AAA"
SF_ID = r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$"
# files read before ids are compared (object -> table its set-aside rows count against;
# None for a lookup file, whose deleted rows are simply dropped)
READ_FIRST: dict[str, str | None] = {
    "opportunityhistory": "stage_history",
    "lead": "leads",
    "task": "activities",
    "event": "activities",
    "user": None,
    "userrole": None,
    "recordtype": None,
    "account": None,
}
# first cells of a report export's footer ("Total" alone: an account named "Total SA" is data)
FOOTER = (
    r"(?i)^\s*(?:(?:grand\s+)?totals?\s*(?:\(\s*[\d,.\s]+records?\s*\))?:?\s*$"
    r"|confidential information\b.*do not distribute"
    r"|copyright\b.*salesforce"
    r"|generated by\s*:)"
)
LOST_REASON = (
    "Loss_Reason__c",
    "LossReason__c",
    "Lost_Reason__c",
    "Closed_Lost_Reason__c",
    "Reason_Lost__c",
    "Loss Reason",
)
COMPETITOR = ("MainCompetitors__c", "Competitor__c", "Competitors__c", "Primary_Competitor__c")

RULE_MESSAGES = {
    "deleted_in_crm": (
        N_("the record is deleted in Salesforce (IsDeleted or _fivetran_deleted)"),
        N_("nothing to do: deleted records are left out of every figure"),
    ),
    "old_history_mode_version": (
        N_("an earlier version of the record (Fivetran History Mode, _fivetran_active false)"),
        N_("nothing to do: the current version is used"),
    ),
    "not_a_stage_change": (
        N_("a history row that does not change the stage (a save of amount, close date, ...)"),
        N_("nothing to do: only stage changes are stage entries"),
    ),
    "same_stage_same_day": (
        N_("the deal entered this stage again on a day it already entered it"),
        N_("nothing to do: the first entry of the day is kept"),
    ),
    "report_footer": (N_("a report footer or total row, not a record"), N_("nothing to do")),
    "history_dated_at_import": (
        N_("the stage history is dated at an import: most rows share one timestamp"),
        N_(
            "export OpportunityHistory from the org where the deals were worked; "
            "stage-level figures use a minimal history derived from the deals "
            "meanwhile"
        ),
    ),
    "lead_without_created_date": (
        N_("a lead without a creation date"),
        N_("export Lead.CreatedDate"),
    ),
    **CURRENCY_MESSAGES,
}


def object_of(path: Path) -> str | None:
    """The Salesforce object a file (or synced table) holds, from its name; None if none.

    ``Opportunity.csv``, ``sf_opportunity_data.csv`` and ``salesforce_opportunity`` all hold
    ``opportunity`` (the key of :data:`OBJECTS`: the name squashed, a ``sf``/``salesforce``
    prefix and a ``data`` suffix removed).

    >>> object_of(Path("sf_opportunity_data.csv")), object_of(Path("notes.txt"))
    ('opportunity', None)
    """
    stem = squash(path.stem)
    candidates = {stem, stem.removesuffix("data")}
    for prefix in ("salesforce", "sf"):
        candidates |= {c.removeprefix(prefix) for c in list(candidates)}
    for name, stems in OBJECTS.items():
        if stems & candidates:
            return name
    return None


_ALL_STEMS = {s for stems in OBJECTS.values() for s in stems}


# a formatted report's header is looked for in its first rows (title, "As of", filters above)
_TITLE_ROWS = 15


def _header_row(file: Path) -> int | None:
    """The sheet row (from 0) holding a report's header: Stage and Amount, in its first rows.

    Lightning's "Formatted Report" export (.xlsx) puts the report's name, "As of ...", the
    filters and a blank row above the header. None when no row holds both.
    """
    import fastexcel

    try:
        loaded = fastexcel.read_excel(file).load_sheet(
            0, header_row=None, dtypes="string", n_rows=_TITLE_ROWS
        )
        batch, _ = loaded.to_arrow_with_errors()
    except (fastexcel.FastExcelError, OSError):
        return None
    cells = pl.DataFrame(pl.from_arrow(batch))
    for index, row in enumerate(cells.iter_rows()):
        keys = {squash(str(v)) for v in row if v is not None}
        if {"stage", "stagename", "opportunitystage"} & keys and "amount" in keys:
            return index
    return None


def _read_titled_report(file: Path, header: int, notes: list[str]) -> pl.DataFrame:
    """A formatted report read from its header row (``header``, from 0), every cell as text.

    ``source_row`` is the row in the sheet. The rows above the header are said in a note.
    """
    import fastexcel

    loaded = fastexcel.read_excel(file).load_sheet(0, header_row=header, dtypes="string")
    frame = pl.DataFrame(pl.from_arrow(loaded.to_arrow_with_errors()[0]))
    frame = frame.rename({c: c.strip() for c in frame.columns}).with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + header + 2).alias("source_row")
    )
    frame = frame.select("source_row", *[c for c in frame.columns if c != "source_row"])
    frame = frame.filter(~pl.all_horizontal(pl.exclude("source_row").is_null()))
    notes.append(
        Message(
            N_(
                "{name} is a formatted report: its header is row {row}; the {count} row(s) "
                "above it (the report's title, date and filters) were skipped. Export 'Details "
                "Only' (CSV) for a plain table."
            ),
            name=str(file.name),
            row=header + 1,
            count=header,
        )
    )
    return frame


def _find_files(path: Path) -> tuple[dict[str, Path], dict[Path, int]]:
    """Object -> file, and the header row of a formatted report (``_header_row``)."""
    if path.is_file():
        if path.suffix.lower() not in (".csv", ".parquet", *WORKBOOK_SUFFIXES):
            raise DataError(
                problem=f"{path.name} is not a file the kit reads (.csv, .parquet or a workbook)",
                fix="give the folder holding Opportunity.csv, or the Opportunity file itself",
                file=str(path),
            )
        named = object_of(path)
        if named is not None and named != "opportunity":
            raise DataError(
                problem=f"{path.name} is a Salesforce {path.stem} table, not the opportunities",
                fix="give the folder holding Opportunity.csv and the other objects (or the "
                "Opportunity file, or a report export)",
                file=str(path),
            )
        header = _header_row(path) if path.suffix.lower() in WORKBOOK_SUFFIXES else None
        return {"opportunity": path}, ({path: header} if header else {})
    if not path.is_dir():
        raise DataError(
            problem="the data folder does not exist",
            fix="pass the folder holding Opportunity.csv (and OpportunityHistory.csv, ...)",
            file=str(path),
        )
    found: dict[str, Path] = {}
    readable = (".csv", ".parquet", *WORKBOOK_SUFFIXES)
    candidates = sorted(p for p in path.iterdir() if p.suffix.lower() in readable)
    for file in candidates:
        name = object_of(file)
        if name is not None and name not in found:
            found[name] = file
    titled: dict[Path, int] = {}
    unreadable: list[Path] = []  # workbooks whose header row 1 could not be read
    corrupt: dict[Path, str] = {}  # workbooks that cannot be opened at all -> why
    seen: dict[Path, list[str]] = {}  # files read, and their headers
    errors: list[DataError] = []
    if "opportunity" not in found:  # a report export: any file with a stage and an amount
        for file in candidates:
            try:
                names = read_export_file(file, []).head(0).columns
            except DataError as exc:
                names = []
                if file.suffix.lower() in WORKBOOK_SUFFIXES:
                    why = _unopenable(file)
                    if why is None:
                        unreadable.append(file)
                    else:
                        corrupt[file] = why
                        continue
                errors.append(exc)
            else:
                seen[file] = [c for c in names if c != "source_row"]
            keys = {squash(c) for c in names}
            if {"stage", "stagename"} & keys and "amount" in keys:
                found["opportunity"] = file
                break
            row = _header_row(file) if file.suffix.lower() in WORKBOOK_SUFFIXES else None
            if row:  # a formatted report: title rows above the header
                found["opportunity"] = file
                titled[file] = row
                break
    if "opportunity" not in found:
        workbooks = [f.name for f in unreadable]
        if corrupt and not workbooks and not seen:
            broken, why = next(iter(corrupt.items()))
            raise DataError(
                problem=f"no Opportunity file found: {broken.name} cannot be opened as a "
                f"workbook ({why}); the file is damaged (a download cut short, a copy "
                "interrupted) or is not an Excel file",
                fix=f"download or export {broken.name} again (or export the report as CSV), "
                "then load again",
                file=str(broken),
                examples=[f"files found: {', '.join(p.name for p in candidates)}"],
            )
        if errors and not workbooks and not seen:
            raise errors[0]  # (a CSV that cannot be read: its own error says why)
        if seen and not workbooks:
            raise _no_stage_or_amount(path, seen, corrupt)
        raise DataError(
            problem="no Opportunity file found"
            + (
                f" ({', '.join(workbooks)} looks like a formatted report: its header is not "
                f"on row 1, nor a row with Stage and Amount in its first {_TITLE_ROWS} rows)"
                if workbooks
                else ""
            ),
            fix="put Opportunity.csv (Data Export, Data Loader or Fivetran's opportunity "
            "table) in the folder; OpportunityHistory, OpportunityStage, User, UserRole, "
            "Lead, Task and Event are used when present"
            + (
                "; for a report, export it as 'Details Only' (with the Stage and Amount columns)"
                if workbooks
                else ""
            ),
            file=str(path),
            examples=[f"files found: {', '.join(p.name for p in candidates) or 'none'}"],
        )
    return found, titled


def _unopenable(file: Path) -> str | None:
    """Why the workbook ``file`` cannot be opened at all (not a zip, cut short), else None."""
    import fastexcel

    try:
        fastexcel.read_excel(file).load_sheet(0, header_row=None, dtypes="string", n_rows=1)
    except (fastexcel.FastExcelError, OSError) as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def _no_stage_or_amount(
    path: Path, seen: dict[Path, list[str]], corrupt: dict[Path, str]
) -> DataError:
    """The error for a folder whose readable files have no Stage and Amount columns.

    Names the headers of each file read: a report from an org or a user working in another
    language has translated column labels (``Étape``, ``Montant``), which no Salesforce name
    matches; a mapping reads them, and an export with the API names needs none.
    """
    shown = [
        f"{file.name}: {', '.join(names[:10])}" + (", ..." if len(names) > 10 else "")
        for file, names in list(seen.items())[:3]
    ]
    shown += [f"{file.name}: cannot be opened ({why})" for file, why in corrupt.items()]
    first = next(iter(seen))
    return DataError(
        problem="no Opportunity file found: no file has a Stage (StageName) and an Amount "
        "column; a report from an org or a user working in another language than English has "
        "its column names translated, and the kit does not know them",
        fix=f"load such a report through a mapping: `pipeline-kit inspect {first.name} --out "
        f"mapping.toml`, check the draft, then pk.load('{first.name}', mapping='mapping.toml'); "
        "or export with the API names (Data Loader or Data Export: Opportunity.csv with "
        "StageName, Amount, CloseDate)",
        file=str(path),
        examples=[f"columns found: {line}" for line in shown],
    )


class _Reader:
    """Reads the object files once, keeping notes and set-aside rows."""

    def __init__(self, files: dict[str, Path], date_order: Literal["month", "day"]):
        self.files = files
        self.date_order = date_order
        self.notes: list[str] = []
        self.log = SetAsideLog()  # rows set aside, with their reasons
        self.frames: dict[str, pl.DataFrame] = {}
        self.titled: dict[Path, int] = {}  # formatted report -> its header row (from 0)

    def read(self, obj: str, table: str | None) -> pl.DataFrame | None:
        """The object's rows, current and not deleted.

        The others are set aside for ``table``; a lookup file such as User (``table=None``)
        just drops them.
        """
        if obj not in self.files:
            return None
        if obj in self.frames:  # read once: its set-aside rows are counted once
            return self.frames[obj]
        file = self.files[obj]
        if file in self.titled:
            frame = _read_titled_report(file, self.titled[file], self.notes)
        else:
            frame = read_export_file(file, self.notes)
        label = str(file)
        frame, aside = without_repeated_headers(frame, table=table, file=label, notes=self.notes)
        self.log.add(aside)
        active = column(frame, "_fivetran_active")
        # Fivetran History Mode's opportunity_history *is* the versions: all of them are used
        versions = obj == "opportunityhistory" and column(frame, "_fivetran_start") is not None
        if active is not None and not versions:
            frame = self._aside(
                frame, ~parse_bool(pl.col(active), True), table, label, "old_history_mode_version"
            )
        deleted = [c for c in (column(frame, "IsDeleted"), column(frame, "_fivetran_deleted")) if c]
        if deleted:
            mask = pl.any_horizontal(
                [parse_bool(pl.col(c), False).fill_null(False) for c in deleted]
            )
            frame = self._aside(frame, mask, table, label, "deleted_in_crm")
        ids = [
            c
            for c in frame.columns
            if c != "source_row"
            and frame.schema[c] == pl.String
            and (squash(c) == "id" or squash(c).endswith("id"))
        ]
        frame = frame.with_columns(
            pl.when(pl.col(c).str.strip_chars().is_in([NULL_ID, NULL_ID[:15], ""]))
            .then(None)
            .otherwise(pl.col(c).str.strip_chars())
            .alias(c)
            for c in ids
        )
        self.frames[obj] = frame
        return frame

    def _aside(
        self,
        frame: pl.DataFrame,
        mask: pl.Expr,
        table: str | None,
        file: str,
        reason: str,
        kind: Literal["excluded", "quarantined"] = "excluded",
    ) -> pl.DataFrame:
        return self.log.take(frame, mask, table=table, file=file, reason=reason, kind=kind)

    def dates(self, frame: pl.DataFrame, obj: str, *aliases: str) -> pl.DataFrame:
        cols = [column(frame, a) for a in aliases]
        return normalise_dates(
            frame,
            [c for c in cols if c],
            self.notes,
            file=str(self.files[obj]),
            prefer=self.date_order,
        )


def _col(frame: pl.DataFrame, *aliases: str) -> pl.Expr:
    name = column(frame, *aliases)
    return pl.col(name) if name is not None else pl.lit(None, pl.String)


def _id15(expr: pl.Expr) -> pl.Expr:
    """Salesforce ids on 15 characters (an 18-character id is the 15 plus a checksum)."""
    return (
        pl.when(expr.str.contains(r"^[0-9A-Za-z]{18}$")).then(expr.str.slice(0, 15)).otherwise(expr)
    )


def read_salesforce(
    path: Path,
    *,
    team: str = "role",
    reporting_currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    date_order: Literal["month", "day"] = "month",
    columns: Mapping[str, str] | None = None,
    decimal: str | None = None,
) -> RawDataset:
    """Read a folder of Salesforce object files into canonical raw tables (module docstring).

    ``team``: ``"role"`` (the owner's role, default), ``"parent_role"``, or an Opportunity
    column. ``reporting_currency``: the currency amounts are reported in (default: the
    corporate one of CurrencyType.csv); ``rates`` (units of a currency per reporting unit)
    when the org's CurrencyType file is not in the folder. ``date_order`` settles ``02/03/24``
    when no value does. ``columns`` maps canonical deal columns to Opportunity columns the
    adapter would not find itself (``{"lost_reason": "Why_Lost__c"}``). ``decimal``: ``","``
    reads amounts written ``1.234,50`` (a report saved by a spreadsheet set to German or
    French); unset, they are read so only when no value reads otherwise (noted); ``"."``
    never.
    """
    check_decimal(decimal)
    files, titled = _find_files(path)
    r = _Reader(files, date_order)
    r.titled = titled
    if path.is_dir() and object_of(files["opportunity"]) is None:
        # a report export: the folder's other reports are not read, which was not said
        readable = (".csv", ".parquet", *WORKBOOK_SUFFIXES)
        others = sorted(
            p.name
            for p in path.iterdir()
            if p.suffix.lower() in readable and p not in files.values() and object_of(p) is None
        )
        if others:
            r.notes.append(
                Message(
                    N_(
                        "{files}: not read: of a folder of report exports, only the one with "
                        "a stage and an amount ({report}) is read, as the opportunities. A "
                        "report of stage changes (Opportunity History: To Stage, Edit Date) "
                        "loads as the stage history through a mapping's [stage_history] "
                        "section (`pipeline-kit inspect` drafts the rest)."
                    ),
                    files=", ".join(others),
                    report=files["opportunity"].name,
                )
            )
    overrides = {k: v for k, v in (columns or {}).items()}
    opp = r.read("opportunity", "deals")
    assert opp is not None
    opp_file = str(files["opportunity"])

    # report exports: footer rows and a missing id
    id_col = column(opp, "Id", "Opportunity ID", "OpportunityId")
    if id_col is None or column(opp, "IsDeleted") is None:
        opp = r._aside(opp, _footer_rows(opp, id_col), "deals", opp_file, "report_footer")
    if id_col is None:
        r.notes.append(
            Message(
                N_(
                    "{name} has no opportunity Id (a report export?): deals are numbered by "
                    "their line in the file, so the same deal in two exports cannot be "
                    "matched and duplicates cannot be detected."
                ),
                name=str(Path(opp_file).name),
            )
        )
        opp = opp.with_columns(("line-" + pl.col("source_row").cast(pl.String)).alias("__id"))
        id_col = "__id"

    # every file is read before ids are compared: whether they mix 15- and 18-character
    # forms (an OpportunityHistory in 15, an Opportunity in 18) decides how all joins are made
    for obj, table in READ_FIRST.items():
        r.read(obj, table)
    mixed_ids = _mixed_id_lengths(r.frames)
    if mixed_ids:
        r.notes.append(
            Message(
                N_(
                    "The files mix 15- and 18-character Salesforce ids: ids are compared and "
                    "shown on their first 15 characters (the 18-character form only adds a "
                    "checksum)."
                )
            )
        )
    norm = _id15 if mixed_ids else (lambda e: e)

    # users and roles -> owner names and teams
    users = r.read("user", None)
    roles = r.read("userrole", None)
    owner_id = column(opp, "OwnerId", "Owner ID")
    owner_label = column(opp, "Opportunity Owner", "Owner", "Owner Name", "Owner Full Name")
    lookup = _user_lookup(users, roles, norm)

    numbers = [
        header
        for name in (overrides.get("amount") or "Amount", "Probability", "Probability (%)")
        if (header := column(opp, name))
    ]
    opp, _ = read_decimal_commas(opp, numbers, Path(opp_file).name, r.notes, decimal)
    opp = r.dates(
        opp,
        "opportunity",
        "CreatedDate",
        "Created Date",
        "CloseDate",
        "Close Date",
        *(
            name
            for k in ("created_at", "closed_at", "expected_close")
            if (name := overrides.get(k))
        ),
    )
    history, closing_day = _stage_history(r, norm, opp_file)
    stages = _stages(r)

    # status
    is_won = column(opp, "IsWon", "Won")
    is_closed = column(opp, "IsClosed", "Closed")
    stage_col = overrides.get("stage") or column(opp, "StageName", "Stage", "Opportunity Stage")
    if stage_col is None:
        name = Path(opp_file).name
        found = [c for c in opp.columns if c != "source_row" and not c.startswith("__")]
        raise DataError(
            problem="no StageName column (nor Stage); a report from an org or a user working "
            "in another language than English has its column names translated, and the kit "
            "does not know them",
            fix="export Opportunity.StageName (or a report with the Stage column); load a "
            f"report in another language through a mapping: `pipeline-kit inspect {name} "
            f"--out mapping.toml`, check the draft, then pk.load('{name}', "
            "mapping='mapping.toml')",
            file=opp_file,
            column="StageName",
            examples=[
                "columns found: " + ", ".join(found[:12]) + (", ..." if len(found) > 12 else "")
            ],
        )
    stage = pl.col(stage_col).str.strip_chars()
    status: pl.Expr
    if is_won is not None and is_closed is not None:
        won = parse_bool(pl.col(is_won), False)
        closed = parse_bool(pl.col(is_closed), False)
        status = (
            pl.when(won)
            .then(pl.lit("won"))
            .when(closed)
            .then(pl.lit("lost"))
            .otherwise(pl.lit("open"))
        )
    elif stages is not None:
        flags = stages.select(
            pl.col("stage").alias("__stage"),
            pl.col("is_won").alias("__w"),
            pl.col("is_lost").alias("__l"),
        )
        opp = opp.with_columns(stage.alias("__stage")).join(flags, on="__stage", how="left")
        status = (
            pl.when(pl.col("__w") == "true")
            .then(pl.lit("won"))
            .when(pl.col("__l") == "true")
            .then(pl.lit("lost"))
            .otherwise(pl.lit("open"))
        )
        r.notes.append(
            Message(N_("No IsWon/IsClosed columns: status taken from OpportunityStage's flags."))
        )
    else:
        low = stage.str.to_lowercase()
        status = (
            pl.when(low.str.contains(r"closed\s*won|^won$"))
            .then(pl.lit("won"))
            .when(low.str.contains(r"closed\s*lost|^lost$"))
            .then(pl.lit("lost"))
            .otherwise(pl.lit("open"))
        )
        r.notes.append(
            Message(
                N_(
                    "No IsWon/IsClosed columns and no OpportunityStage file: a stage named "
                    "'Closed Won' (or 'Won') is won, 'Closed Lost' (or 'Lost') is lost, any "
                    "other stage is open. Export IsWon and IsClosed if your closed stages "
                    "are named otherwise."
                )
            )
        )

    # team
    team_expr, team_note = _team(opp, team, owner_id, lookup, norm)
    r.notes.append(team_note)
    if owner_id is not None and lookup is not None:
        opp = opp.join(
            lookup.select(
                pl.col("user_id").alias("__owner_key"),
                pl.col("name").alias("__owner"),
                pl.col("role").alias("__role"),
                pl.col("parent_role").alias("__parent"),
            ),
            left_on=norm(pl.col(owner_id)),
            right_on="__owner_key",
            how="left",
        )
        owner = pl.coalesce(pl.col("__owner"), pl.col(owner_id))
        unnamed = opp.filter(pl.col("__owner").is_null() & pl.col(owner_id).is_not_null()).height
        if unnamed:
            r.notes.append(
                Message(
                    N_(
                        "{unnamed} opportunities have an owner missing from the User file: shown "
                        "by their owner id."
                    ),
                    unnamed=unnamed,
                )
            )
    elif owner_label is not None:
        owner = pl.col(owner_label)
    elif owner_id is not None:
        owner = pl.col(owner_id)
        r.notes.append(
            Message(
                N_(
                    "No User file: owners are shown by their Salesforce user id. Add "
                    "User.csv for names."
                )
            )
        )
    else:
        owner = pl.lit("(unknown)")
        r.notes.append(
            Message(
                N_(
                    "No owner column (OwnerId or Opportunity Owner): every deal's owner "
                    "reads '(unknown)'; rep-level figures are not available."
                )
            )
        )

    # closing day: the day the closing stage was entered, else CloseDate
    close_col = overrides.get("closed_at") or column(opp, "CloseDate", "Close Date")
    created_col = overrides.get("created_at") or column(opp, "CreatedDate", "Created Date")
    if closing_day is not None:
        opp = opp.join(
            closing_day.rename({"deal_id": "__deal", "stage": "__closing_stage"}),
            left_on=[norm(pl.col(id_col)), pl.col(stage_col).str.strip_chars()],
            right_on=["__deal", "__closing_stage"],
            how="left",
        )
        closed_at = pl.coalesce(pl.col("__closed_on"), _col(opp, close_col or "CloseDate"))
    else:
        closed_at = _col(opp, close_col or "CloseDate")
    if status is not None and close_col is not None:
        r.notes.append(
            Message(
                N_(
                    "closed_at is the day the closing stage was entered in "
                    "OpportunityHistory where there is one, else CloseDate (which users set "
                    "by hand); CloseDate of open deals is expected_close."
                )
            )
            if closing_day is not None
            else Message(
                N_(
                    "closed_at is CloseDate for closed deals (no usable OpportunityHistory: "
                    "CloseDate is set by users, usually on the day of closing); CloseDate of "
                    "open deals is expected_close."
                )
            )
        )

    probability = column(opp, "Probability", "Probability (%)")
    record_type = column(opp, "RecordTypeId", "Record Type ID")
    record_types = r.read("recordtype", None)
    account_col = column(opp, "AccountId", "Account ID", "Account Name")
    accounts = r.read("account", None)

    # extra lookups: pipeline (record type) and industry (account)
    if record_type is not None and record_types is not None:
        rt = record_types.select(
            pl.col(require_column(record_types, str(r.files["recordtype"]), "Id")).alias("__rt"),
            _col(record_types, "Name", "DeveloperName").alias("__pipeline"),
        )
        opp = opp.join(
            rt, left_on=norm(pl.col(record_type)), right_on=norm(pl.col("__rt")), how="left"
        )
        pipeline = pl.coalesce(pl.col("__pipeline"), pl.col(record_type))
    else:
        pipeline = _col(opp, "RecordTypeId", "Record Type", "Opportunity Record Type")
    if account_col is not None and accounts is not None and column(accounts, "Industry"):
        acc = accounts.select(
            pl.col(require_column(accounts, str(r.files["account"]), "Id")).alias("__acc"),
            _col(accounts, "Industry").alias("__industry"),
        )
        opp = opp.join(
            acc, left_on=norm(pl.col(account_col)), right_on=norm(pl.col("__acc")), how="left"
        )
        industry = pl.col("__industry")
    else:
        industry = _col(opp, "Industry")

    lost = overrides.get("lost_reason") or column(opp, *LOST_REASON)
    competitor = overrides.get("competitor") or column(opp, *COMPETITOR)
    status_col = pl.col("__status")
    opp = opp.with_columns(status.alias("__status"))
    deals = opp.select(
        "source_row",
        norm(pl.col(id_col)).alias("deal_id"),
        owner.alias("owner"),
        team_expr.alias("team"),
        _col(opp, overrides.get("amount") or "Amount").alias("amount"),
        _col(opp, created_col or "CreatedDate").alias("created_at"),
        stage.alias("stage"),
        status_col.alias("status"),
        pl.when(status_col != "open").then(closed_at).alias("closed_at"),
        pl.when(status_col == "open")
        .then(_col(opp, close_col or "CloseDate"))
        .alias("expected_close"),
        (norm(pl.col(account_col)) if account_col else pl.lit(None, pl.String)).alias("account_id"),
        _col(opp, overrides.get("deal_type") or "Type").alias("deal_type"),
        _col(opp, overrides.get("lead_source") or "LeadSource", "Lead Source").alias("lead_source"),
        industry.alias("industry"),
        (
            pl.col(probability)
            .str.replace("%", "")
            .str.strip_chars()
            .cast(pl.Float64, strict=False)
            / 100
        )
        .round(6)
        .cast(pl.String)
        .alias("probability")
        if probability
        else pl.lit(None, pl.String).alias("probability"),
        (pl.col(lost) if lost else pl.lit(None, pl.String)).alias("lost_reason"),
        (pl.col(competitor) if competitor else pl.lit(None, pl.String)).alias("competitor"),
        pipeline.alias("pipeline"),
        _col(opp, "ForecastCategoryName", "Forecast Category").alias("forecast_category"),
        _col(opp, "Name", "Opportunity Name").alias("deal_name"),
        _col(opp, "CurrencyIsoCode", "Opportunity Currency", "Currency").alias("__currency"),
        _col(opp, "Amount (converted)").alias("__converted"),
        _col(opp, "Amount (converted) Currency").alias("__converted_currency"),
    )
    if probability is not None:
        r.notes.append(
            Message(
                N_(
                    "deals.probability is each deal's own Probability (editable by reps, "
                    "divided by 100); stages.probability is the stage default "
                    "(OpportunityStage.DefaultProbability)."
                )
            )
        )
    if lost:
        r.notes.append(
            Message(N_("lost_reason read from the custom field {lost}."), lost=str(lost))
        )
    _check_import_dates(deals, r.notes, opp_file)

    use_converted = not overrides.get("amount") and column(opp, "Amount (converted)")
    converted = (
        _converted_amounts(deals, r, reporting_currency, opp_file) if use_converted else None
    )
    if converted is not None:
        deals, aside = converted
    else:
        deals, aside = _convert_currency(
            deals.drop("__converted", "__converted_currency"),
            r,
            reporting_currency,
            rates,
            opp_file,
        )
    if aside.height:
        r.log.add(aside)

    tables = {"deals": RawTable("deals", deals, opp_file)}
    if history is not None:
        tables["stage_history"] = RawTable(
            "stage_history", history, str(files["opportunityhistory"])
        )
    if stages is not None:
        tables["stages"] = RawTable("stages", stages, str(files["opportunitystage"]))
    leads = _leads(r, lookup, norm)
    if leads is not None:
        tables["leads"] = RawTable("leads", leads, str(files["lead"]))
    activities = _activities(r, lookup, norm)
    if activities is not None:
        tables["activities"] = activities
    used = [f for f in files.values()]
    return RawDataset(
        source="salesforce",
        path=path,
        tables=tables,
        fingerprint=fingerprint(used),
        notes=[n for n in r.notes if n],
        setaside=r.log.frames,
        rule_messages=RULE_MESSAGES,
        hints={
            ("deals", "closed_not_before_created"): N_(
                "In Salesforce exports this usually means CreatedDate is the day the "
                "records were imported; give columns={'created_at': '<real creation date "
                "column>'} if the export has one"
            ),
        },
    )


# ----------------------------------------------------------------------------- pieces


def _footer_rows(opp: pl.DataFrame, id_col: str | None) -> pl.Expr:
    """Rows of a report export's footer.

    A first cell such as ``Total``, ``Confidential Information - Do Not Distribute``,
    ``Copyright ...`` or ``Generated By:`` (without an id), and the blank or one-cell lines
    around them at the end of the file (the organisation's name, empty lines).
    """
    cols = [c for c in opp.columns if c != "source_row"]
    empty = {
        c: pl.col(c).cast(pl.String).str.strip_chars().replace("", None).is_null() for c in cols
    }
    # (the id column may be the first one, which then holds the footer's text itself)
    no_id = empty[id_col] if id_col and id_col != cols[0] else pl.lit(True)
    lonely = pl.all_horizontal([e for c, e in empty.items() if c != cols[0]] + [no_id])
    footer = pl.col(cols[0]).cast(pl.String).str.contains(FOOTER) & no_id
    # rows from which every row to the end of the file is a footer line or a lonely cell
    trailing = (footer | lonely).cast(pl.Int8).reverse().cum_min().reverse().eq(1)
    return footer | (trailing & lonely)


def _mixed_id_lengths(frames: dict[str, pl.DataFrame]) -> bool:
    """True when the id columns of the files hold both 15- and 18-character Salesforce ids."""
    lengths: set[int] = set()
    for frame in frames.values():
        for c in frame.columns:
            if c == "source_row" or frame.schema[c] != pl.String:
                continue
            if squash(c) == "id" or squash(c).endswith("id"):
                ids = frame[c].drop_nulls().filter(frame[c].drop_nulls().str.contains(SF_ID))
                lengths |= set(ids.str.len_chars().unique().to_list())
    return {15, 18} <= lengths


def _user_lookup(
    users: pl.DataFrame | None, roles: pl.DataFrame | None, norm
) -> pl.DataFrame | None:
    """user_id, name, role, parent_role (ids through ``norm``, as the keys joined to them)."""
    user_id = column(users, "Id") if users is not None else None
    if users is None or user_id is None:
        return None
    name = column(users, "Name")
    full = (
        pl.col(name)
        if name
        else pl.concat_str(
            [_col(users, "FirstName"), _col(users, "LastName")], separator=" ", ignore_nulls=True
        )
    )
    frame = users.select(
        norm(pl.col(user_id)).alias("user_id"),
        pl.coalesce(full.replace("", None), pl.col(user_id)).alias("name"),
        norm(_col(users, "UserRoleId")).alias("role_id"),
    )
    role_id = column(roles, "Id") if roles is not None else None
    if roles is not None and role_id is not None:
        role = roles.select(
            norm(pl.col(role_id)).alias("role_id"),
            _col(roles, "Name").alias("role"),
            norm(_col(roles, "ParentRoleId")).alias("parent_id"),
        )
        parent = role.select(
            pl.col("role_id").alias("parent_id"), pl.col("role").alias("parent_role")
        )
        frame = frame.join(role, on="role_id", how="left").join(parent, on="parent_id", how="left")
    else:
        frame = frame.with_columns(
            pl.lit(None, pl.String).alias("role"), pl.lit(None, pl.String).alias("parent_role")
        )
    return frame.select("user_id", "name", "role", "parent_role").unique("user_id", keep="first")


def _team(
    opp: pl.DataFrame, team: str, owner_id: str | None, lookup: pl.DataFrame | None, norm
) -> tuple[pl.Expr, str]:
    if team in ("role", "parent_role"):
        has_roles = lookup is not None and lookup[team].drop_nulls().len() > 0
        if owner_id is not None and has_roles:
            col = "__role" if team == "role" else "__parent"
            return (
                pl.col(col).fill_null("(no role)"),
                Message(
                    N_(
                        "team = the opportunity owner's role (User -> UserRole); owners without "
                        "a role are in team '(no role)'. Pass team=<Opportunity column> to "
                        "group otherwise."
                    )
                    if team == "role"
                    else N_(
                        "team = the opportunity owner's parent role (User -> UserRole); owners "
                        "without a role are in team '(no role)'. Pass team=<Opportunity column> "
                        "to group otherwise."
                    )
                ),
            )
        why = (
            N_("No User and UserRole files")
            if lookup is None
            else N_("No owner has a role in the User and UserRole files")
            if team == "role"
            else N_("No owner has a parent role in the User and UserRole files")
        )
        return (
            pl.lit("All"),
            Message(
                N_(
                    "{why}: every deal is in one team 'All'. Add User.csv and UserRole.csv, or "
                    "pass team=<Opportunity column> (e.g. a region field)."
                ),
                why=Message(why),
            ),
        )
    found = column(opp, team)
    if found is None:
        raise DataError(
            problem=f"team={team!r} is neither 'role', 'parent_role' nor an Opportunity column",
            fix="pass team='role', team='parent_role' or the name of an Opportunity column",
            file=None,
            examples=["columns: " + ", ".join(c for c in opp.columns if c != "source_row")],
        )
    return pl.col(found).fill_null("(none)"), Message(
        N_("team = the Opportunity column {column}."), column=found
    )


def _stage_history(
    r: _Reader, norm, opp_file: str
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(stage_history raw table, deal -> day the closing stage was entered)."""
    hist = r.read("opportunityhistory", "stage_history")
    if hist is None:
        return None, None
    label = str(r.files["opportunityhistory"])
    history_mode = column(hist, "_fivetran_start") is not None
    deal = column(hist, "OpportunityId", "Opportunity ID") or (
        column(hist, "Id") if history_mode else None
    )
    stage = column(hist, "StageName", "To Stage", "Stage")
    when = (
        column(hist, "_fivetran_start")
        if history_mode
        else column(hist, "CreatedDate", "Created Date", "Last Modified")
    )
    if deal is None or stage is None or when is None:
        raise DataError(
            problem="OpportunityHistory lacks OpportunityId, StageName or CreatedDate",
            fix="export those columns of OpportunityHistory (or leave the file out)",
            file=label,
            examples=["columns: " + ", ".join(c for c in hist.columns if c != "source_row")],
        )
    hist = normalise_dates(hist, [when], r.notes, file=label, prefer=r.date_order)
    frame = hist.select(
        "source_row",
        norm(pl.col(deal)).alias("deal_id"),
        pl.col(stage).str.strip_chars().alias("stage"),
        pl.col(when).alias("entered_at"),
        _col(hist, "IsWon", "is_won").alias("__won"),
    )
    # saves that do not change the stage are not stage entries
    frame = frame.sort("deal_id", "entered_at", "source_row").with_columns(
        pl.col("stage").shift(1).over("deal_id").alias("__previous")
    )
    frame = r._aside(
        frame,
        pl.col("__previous").is_not_null() & pl.col("__previous").eq(pl.col("stage")),
        "stage_history",
        label,
        "not_a_stage_change",
    )
    frame = r._aside(
        frame,
        pl.struct("deal_id", "stage", pl.col("entered_at").str.slice(0, 10))
        .is_first_distinct()
        .not_(),
        "stage_history",
        label,
        "same_stage_same_day",
    )
    if history_mode:
        r.notes.append(
            Message(
                N_(
                    "{name} is Fivetran History Mode (a copy of Opportunity per version): "
                    "stage entries are the versions where stage_name changed, at "
                    "_fivetran_start; history before History Mode was switched on is not in "
                    "it."
                ),
                name=str(Path(label).name),
            )
        )
    # a history dated at an import: most rows share one timestamp
    if frame.height >= 10:
        top = frame.group_by("entered_at").len().sort("len", descending=True).row(0)
        if top[1] >= 0.5 * frame.height:
            r.notes.append(
                Message(
                    N_(
                        "{name}: {value} of {height} stage entries share the timestamp {value2}: "
                        "the history was dated when the records were imported, so it is not used "
                        "(stage-level figures are approximate)."
                    ),
                    name=str(Path(label).name),
                    value=top[1],
                    height=frame.height,
                    value2=str(top[0]),
                )
            )
            r._aside(
                frame.drop("__previous", "__won"),
                pl.lit(True),
                "stage_history",
                label,
                "history_dated_at_import",
            )
            return None, None
    frame = frame.drop("__previous", "__won")
    # the day each deal last entered each stage: for a closed deal, its closing day
    closing = frame.group_by("deal_id", "stage").agg(
        pl.col("entered_at").max().alias("__closed_on")
    )
    return frame.sort("source_row"), closing


def _stages(r: _Reader) -> pl.DataFrame | None:
    st = r.read("opportunitystage", "stages")
    if st is None:
        return None
    label_col = column(st, "MasterLabel", "ApiName", "Name")
    if label_col is None:
        raise DataError(
            problem="OpportunityStage has no MasterLabel",
            fix="export MasterLabel, SortOrder, DefaultProbability, IsWon and IsClosed",
            file=str(r.files["opportunitystage"]),
        )
    won = parse_bool(_col(st, "IsWon"), False)
    closed = parse_bool(_col(st, "IsClosed"), False)
    prob = (_col(st, "DefaultProbability").cast(pl.Float64, strict=False) / 100).round(6)
    return st.select(
        "source_row",
        pl.col(label_col).str.strip_chars().alias("stage"),
        _col(st, "SortOrder").alias("order"),
        prob.cast(pl.String).alias("probability"),
        pl.when(won).then(pl.lit("true")).otherwise(pl.lit("false")).alias("is_won"),
        pl.when(closed & ~won).then(pl.lit("true")).otherwise(pl.lit("false")).alias("is_lost"),
        _col(st, "IsActive").alias("is_active"),
    )


def _check_import_dates(deals: pl.DataFrame, notes: list[str], file: str) -> None:
    created = deals["created_at"].drop_nulls().str.slice(0, 10)
    if created.len() >= 10:
        top = created.value_counts(sort=True).row(0)
        if top[1] >= 0.8 * created.len():
            notes.append(
                Message(
                    N_(
                        "{name}: {value} of {value2} opportunities were created on {value3}: "
                        "probably the day they were imported, not the day the deals started. "
                        "Cycle lengths are then meaningless and closed deals dated earlier are "
                        "quarantined; give columns={{'created_at': '<column>'}} if the export "
                        "has the real creation date."
                    ),
                    name=str(Path(file).name),
                    value=top[1],
                    value2=created.len(),
                    value3=str(top[0]),
                )
            )


def _converted_amounts(
    deals: pl.DataFrame, r: _Reader, reporting: str | None, file: str
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """A report export's ``Amount (converted)`` as the amount, or None to convert ``Amount``.

    A report from a multi-currency org writes each deal's own ``Amount`` (``EUR 1,000.50``)
    and ``Amount (converted)`` in the org's corporate currency (``USD 1,200.60``, its code in
    ``Amount (converted) Currency`` or in the value): the converted one is already in one
    currency, with Salesforce's own rates. The deal's own amount and currency are kept in
    ``amount_original`` and ``currency``. A code written in a value must agree with its
    currency column, else the row is quarantined (``amount_currency_differs``). Not used (None,
    with a note) when the converted amounts are in several currencies or not in
    ``reporting``.
    """
    conv_code = pl.coalesce(
        pl.col("__converted_currency").str.strip_chars().str.to_uppercase().replace("", None),
        amount_code(pl.col("__converted")),
    )
    codes = sorted(deals.select(conv_code.drop_nulls().unique())["__converted_currency"])
    if len(codes) > 1 or (reporting and codes and codes != [reporting.upper()]):
        r.notes.append(
            Message(
                N_(
                    "{name}: 'Amount (converted)' is in {names}, not in one reporting "
                    "currency{value}: Amount is converted instead."
                ),
                name=str(Path(file).name),
                names=str(", ".join(codes)),
                value=str(f" {reporting.upper()}" if reporting else ""),
            )
        )
        return None
    own = pl.col("__currency").str.strip_chars().str.to_uppercase().replace("", None)
    written = amount_code(pl.col("amount"))
    deals, aside = set_aside(
        deals,
        (written.is_not_null() & own.is_not_null() & written.ne(own))
        | (
            amount_code(pl.col("__converted")).is_not_null()
            & pl.col("__converted_currency").is_not_null()
            & amount_code(pl.col("__converted")).ne(
                pl.col("__converted_currency").str.strip_chars().str.to_uppercase()
            )
        ),
        table="deals",
        file=file,
        kind="quarantined",
        reason="amount_currency_differs",
    )
    deals = deals.with_columns(
        pl.col("__converted").alias("amount"),
        pl.col("amount").alias("amount_original"),
        pl.coalesce(own, written).alias("currency"),
    ).drop("__currency", "__converted", "__converted_currency")
    if codes:
        r.notes.append(
            Message(
                N_(
                    "{name}: amounts are the report's 'Amount (converted)', in {value} (the "
                    "org's corporate currency, converted by Salesforce); each deal's own amount "
                    "and currency are kept in amount_original and currency."
                ),
                name=str(Path(file).name),
                value=str(codes[0]),
            )
        )
    else:
        r.notes.append(
            Message(
                N_(
                    "{name}: amounts are the report's 'Amount (converted)', in the org's "
                    "corporate currency (the export does not name it); each deal's own amount "
                    "and currency are kept in amount_original and currency."
                ),
                name=str(Path(file).name),
            )
        )
    return deals, aside


def _convert_currency(
    deals: pl.DataFrame,
    r: _Reader,
    reporting: str | None,
    rates: Mapping[str, float] | None,
    file: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Amounts in one currency: dated rates by close day, else CurrencyType, else ``rates``.

    Salesforce's rates are units of a currency per unit of the corporate currency
    (CurrencyType.IsCorporate). A ``reporting`` currency other than the corporate one is
    reached by dividing every rate by the reporting currency's own.
    """
    codes = sorted({c.upper() for c in deals["__currency"].drop_nulls().to_list() if c})
    dated = r.read("datedconversionrate", None)
    static = r.read("currencytype", None)
    base = reporting.upper() if reporting else None  # the currency the rates are quoted in
    static_rates = {k.upper(): float(v) for k, v in rates.items()} if rates else None
    if static is not None and static_rates is None:
        iso = column(static, "IsoCode")
        rate = column(static, "ConversionRate")
        if iso and rate:
            pairs = static.select(
                pl.col(iso).str.strip_chars().str.to_uppercase(),
                plain_number(pl.col(rate)),
            ).filter(pl.col(rate) > 0)
            static_rates = dict(pairs.iter_rows())
            corp = column(static, "IsCorporate")
            rows = static.filter(parse_bool(pl.col(corp), False)) if corp else static.clear()
            if rows.height:
                base = rows[iso][0].strip().upper()
    target = reporting.upper() if reporting else base
    # convert when several currencies are present, or one that is not the reporting one
    convert = len(codes) > 1 or (len(codes) == 1 and target is not None and codes[0] != target)
    if convert and dated is not None and column(dated, "IsoCode"):
        return _dated_conversion(deals, dated, r, base, target, static_rates, file)
    if static_rates and base and target != base and target in static_rates:
        static_rates = {k: v / static_rates[target] for k, v in static_rates.items()}
    if static_rates and target:
        static_rates.setdefault(target, 1.0)
    out, aside = to_reporting_currency(
        deals,
        amount="amount",
        currency="__currency",
        rates=static_rates if convert else None,
        reporting=target,
        table="deals",
        file=file,
        notes=r.notes,
    )
    return out, aside


def _dated_conversion(
    deals: pl.DataFrame,
    dated: pl.DataFrame,
    r: _Reader,
    base: str | None,
    target: str | None,
    static_rates: dict[str, float] | None,
    file: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """DatedConversionRate: the rate whose period holds the deal's close day.

    A period runs from its StartDate up to the next StartDate; CurrencyType's rate applies
    when no period does; 1 for the corporate currency, which needs no rate of its own.
    """
    label = str(r.files["datedconversionrate"])
    iso_code = require_column(dated, label, "IsoCode")
    start_date = require_column(dated, label, "StartDate")
    conversion_rate = require_column(dated, label, "ConversionRate")
    dated = normalise_dates(dated, [start_date], r.notes, file=label, prefer=r.date_order)
    table = (
        dated.select(
            pl.col(iso_code).str.strip_chars().str.to_uppercase().alias("__code"),
            pl.col(start_date).str.slice(0, 10).str.to_date(strict=False).alias("__from"),
            pl.col(conversion_rate).cast(pl.Float64, strict=False).alias("__r"),
        )
        .drop_nulls()
        .filter(pl.col("__r") > 0)
        .sort("__code", "__from")
    )
    static = static_rates or {}
    if base:
        static = {**static, base: 1.0} if base not in static else static

    def rate_on_day(frame: pl.DataFrame, code: pl.Expr, name: str) -> pl.DataFrame:
        keyed = frame.with_columns(code.alias("__code")).with_row_index("__i")
        joined = (
            keyed.sort("__code", "__day")
            .join_asof(
                table,
                left_on="__day",
                right_on="__from",
                by="__code",
                strategy="backward",
                check_sortedness=False,
            )
            .sort("__i")
        )
        fallback = pl.col("__code").replace_strict(static, default=None, return_dtype=pl.Float64)
        return joined.with_columns(pl.coalesce("__r", fallback).alias(name)).drop(
            "__i", "__code", "__from", "__r"
        )

    day = pl.coalesce(pl.col("closed_at"), pl.col("expected_close"), pl.col("created_at"))
    keyed = deals.with_columns(
        pl.col("__currency").str.strip_chars().str.to_uppercase().alias("currency"),
        day.str.slice(0, 10).str.to_date(strict=False).alias("__day"),
        pl.col("amount").alias("amount_original"),
    ).drop("__currency")
    keyed = rate_on_day(keyed, pl.col("currency"), "__rate")
    if target and target != base:  # rates quoted in the corporate currency, reported in another
        keyed = rate_on_day(keyed, pl.lit(target), "__target")
        keyed = keyed.with_columns(pl.col("__rate") / pl.col("__target")).drop("__target")
    kept, aside = set_aside(
        keyed.drop("__day"),
        pl.col("__rate").is_null() & pl.col("amount").is_not_null(),
        table="deals",
        file=file,
        kind="quarantined",
        reason="currency_without_rate",
    )
    converted = plain_number(pl.col("amount"), money=True) / pl.col("__rate")
    kept = kept.with_columns(
        pl.when(converted.is_not_null())
        .then(converted.round(6).cast(pl.String))
        .otherwise(pl.col("amount"))
        .alias("amount")
    ).drop("__rate")
    r.notes.append(
        Message(
            N_(
                "Amounts converted to {value} with the dated exchange rates "
                "(DatedConversionRate) in force on each deal's close day (expected close "
                "for open deals; CurrencyType's rate where no dated rate covers the "
                "day); amount_original and currency keep the deal's own."
            ),
            value=str(target or "the corporate currency"),
        )
    )
    return kept, aside


def _leads(r: _Reader, lookup: pl.DataFrame | None, norm) -> pl.DataFrame | None:
    leads = r.read("lead", "leads")
    if leads is None:
        return None
    created = column(leads, "CreatedDate", "Created Date")
    if created is None:
        r.notes.append(
            Message(
                N_(
                    "{name} has no CreatedDate: leads cannot be placed in time and are not "
                    "used. Export Lead.CreatedDate to analyse them."
                ),
                name=str(r.files["lead"].name),
            )
        )
        r._aside(leads, pl.lit(True), "leads", str(r.files["lead"]), "lead_without_created_date")
        return None
    leads = r.dates(leads, "lead", "CreatedDate", "ConvertedDate")
    owner = column(leads, "OwnerId")
    source = _col(leads, "LeadSource", "Lead Source")
    no_source = leads.select(source.is_null().sum()).item()
    if no_source:
        r.notes.append(
            Message(
                N_("{no_source} leads have no LeadSource: their source reads '(not given)'."),
                no_source=no_source,
            )
        )
    if owner is not None and lookup is not None:
        leads = leads.join(
            lookup.select(
                pl.col("user_id").alias("__o"),
                pl.col("name").alias("__owner"),
                pl.col("role").alias("__team"),
            ),
            left_on=norm(pl.col(owner)),
            right_on="__o",
            how="left",
        )
        queued = leads.filter(pl.col(owner).str.starts_with("00G")).height
        if queued:
            r.notes.append(
                Message(
                    N_("{queued} leads are owned by a queue (00G... ids), not a person."),
                    queued=queued,
                )
            )
    converted = parse_bool(_col(leads, "IsConverted"), False)
    # ConvertedDate is a day without a time (in the converting user's time zone), CreatedDate
    # a UTC time: a lead converted on the day it was created (or, by time zone, the day
    # before) is placed at its creation time rather than before it
    when = _col(leads, "ConvertedDate")
    same_day = (
        when.str.slice(10).str.strip_chars().is_in(["", "00:00:00"])
        & (
            when.str.slice(0, 10).str.to_date(strict=False)
            - pl.col(created).str.slice(0, 10).str.to_date(strict=False)
        )
        .dt.total_days()
        .is_in([0, -1])
    ).fill_null(False)
    placed = leads.select(same_day.sum()).item()
    if placed:
        r.notes.append(
            Message(
                N_(
                    "{placed} leads were converted on the day they were created: "
                    "ConvertedDate has no time, so converted_at is their creation time."
                ),
                placed=placed,
            )
        )
    return leads.select(
        "source_row",
        norm(_col(leads, "Id")).alias("lead_id"),
        pl.col(created).alias("created_at"),
        source.fill_null("(not given)").alias("source"),
        (
            pl.coalesce("__owner", owner) if "__owner" in leads.columns else _col(leads, "OwnerId")
        ).alias("owner"),
        (pl.col("__team") if "__team" in leads.columns else pl.lit(None, pl.String)).alias("team"),
        pl.when(converted | when.is_not_null())
        .then(pl.when(same_day).then(pl.col(created)).otherwise(when))
        .alias("converted_at"),
        norm(_col(leads, "ConvertedOpportunityId")).alias("deal_id"),
        _col(leads, "Status").alias("lead_status"),
    )


def _activities(r: _Reader, lookup: pl.DataFrame | None, norm) -> RawTable | None:
    parts = []
    labels = []
    for obj in ("task", "event"):
        frame = r.read(obj, "activities")
        if frame is None:
            continue
        labels.append(str(r.files[obj]))
        frame = r.dates(
            frame, obj, "CompletedDateTime", "ActivityDateTime", "ActivityDate", "CreatedDate"
        )
        kind = (
            pl.coalesce(_col(frame, "TaskSubtype"), _col(frame, "Type")).str.to_lowercase()
            if obj == "task"
            else pl.lit("meeting")
        )
        what = _col(frame, "WhatId")
        who = _col(frame, "WhoId")
        owner = _col(frame, "OwnerId")
        if lookup is not None:
            frame = frame.join(
                lookup.select(pl.col("user_id").alias("__o"), pl.col("name").alias("__owner")),
                left_on=norm(owner),
                right_on="__o",
                how="left",
            )
            owner = pl.coalesce(pl.col("__owner"), owner)
        parts.append(
            frame.select(
                "source_row",
                _col(frame, "Id").alias("activity_id"),
                owner.alias("owner"),
                kind.alias("type"),
                pl.coalesce(
                    _col(frame, "CompletedDateTime"),
                    _col(frame, "ActivityDateTime"),
                    _col(frame, "ActivityDate"),
                    _col(frame, "CreatedDate"),
                ).alias("occurred_at"),
                pl.when(what.str.starts_with("006")).then(norm(what)).alias("deal_id"),
                pl.when(who.str.starts_with("00Q")).then(norm(who)).alias("lead_id"),
                pl.lit(obj.capitalize()).alias("object"),
            )
        )
    if not parts:
        return None
    if len(parts) == 2:  # one table from two files: rows keep their own file's line numbers
        r.notes.append(
            Message(
                N_(
                    "activities come from Task and Event; their line numbers refer to "
                    "Task.csv for tasks and Event.csv for events (see the object column)."
                )
            )
        )
    return RawTable("activities", pl.concat(parts, how="vertical"), " + ".join(labels))
