"""Salesforce exports (``source="salesforce"``): a folder of object CSVs as users get them.

Understood shapes, told apart by their headers (names are compared after
:func:`~pipeline_kit.adapters._tools.squash`, so ``StageName``, ``stage_name`` and ``stagename``
are one column): the weekly Data Export and Data Loader / Bulk API files (``Opportunity.csv``,
UTF-8 with BOM, ``2024-01-22T16:14:25.000+0000``, booleans ``1``/blank), files that went through
Excel (``MM/DD/YY`` dates, ``TRUE``/``FALSE``), Fivetran's snake_case tables
(``sf_opportunity_data.csv``, ``_fivetran_deleted``, History Mode ``_fivetran_start``), Stitch's
lower-case names, and a report export ("Details Only" CSV with field labels and footer rows).

==========================  ===================================================================
canonical                   Salesforce
==========================  ===================================================================
deals.deal_id               Opportunity.Id (15- and 18-character ids compared on 15 when
                            the files mix them)
deals.owner                 User.Name (or FirstName LastName) of Opportunity.OwnerId; the id
                            when there is no User file
deals.team                  ``team="role"``: UserRole.Name of the owner's role;
                            ``"parent_role"``: the role above it; or any Opportunity column
                            (``team="Region__c"``); one team "All" when none is available
deals.amount                Amount, converted to one reporting currency with DatedConversionRate
                            (by close date) or CurrencyType when CurrencyIsoCode varies
deals.created_at            CreatedDate (UTC)
deals.stage / status        StageName; IsWon -> won, IsClosed and not IsWon -> lost, else open
                            (from OpportunityStage, or the stage names, when the flags are absent)
deals.closed_at             day the closing stage was entered (OpportunityHistory), else CloseDate
deals.expected_close        CloseDate of open deals
deals.probability           the deal's own Probability / 100 (stages.probability holds the
                            stage default: OpportunityStage.DefaultProbability / 100)
deals.pipeline (extra)      RecordType.Name (sales process) of RecordTypeId
deals.lost_reason,          custom fields found by name (Loss_Reason__c, LossReason__c,
competitor                  MainCompetitors__c, Competitor__c, ...) or ``columns={...}``
stage_history               OpportunityHistory rows whose StageName differs from the deal's
                            previous row (other rows are saves of amount or close date:
                            excluded as ``not_a_stage_change``); Fivetran History Mode: the
                            versions where stage_name changed, entered at _fivetran_start
stages                      OpportunityStage: MasterLabel, SortOrder, DefaultProbability, IsWon,
                            IsClosed; derived by the loader from the deals when absent
leads                       Lead: Id, CreatedDate, LeadSource, OwnerId, ConvertedDate,
                            ConvertedOpportunityId
activities                  Task and Event: Id, OwnerId, TaskSubtype/Type ('meeting' for an
                            Event), CompletedDateTime/ActivityDateTime/ActivityDate/CreatedDate,
                            WhatId (006... = deal), WhoId (00Q... = lead)
==========================  ===================================================================

Rows left out by design are counted as *excluded* with their reason: deleted rows (``IsDeleted``,
``_fivetran_deleted``), old History Mode versions, history rows that are not stage changes,
report footer rows. Opportunity history dated at an import (most rows sharing one timestamp) is
not used: the loader derives a minimal history and marks stage figures approximate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import polars as pl

from pipeline_kit.adapters._tools import (
    CURRENCY_MESSAGES,
    column,
    normalise_dates,
    parse_bool,
    read_export_file,
    set_aside,
    squash,
    to_reporting_currency,
)
from pipeline_kit.adapters.base import RawDataset, RawTable, fingerprint
from pipeline_kit.errors import DataError

__all__ = ["read_salesforce"]

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
FOOTER = r"(?i)^\s*(total|grand total|confidential information|copyright|generated by)"
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
        "the record is deleted in Salesforce (IsDeleted or _fivetran_deleted)",
        "nothing to do: deleted records are left out of every figure",
    ),
    "old_history_mode_version": (
        "an earlier version of the record (Fivetran History Mode, _fivetran_active false)",
        "nothing to do: the current version is used",
    ),
    "not_a_stage_change": (
        "a history row that does not change the stage (a save of amount, close date, ...)",
        "nothing to do: only stage changes are stage entries",
    ),
    "same_stage_same_day": (
        "the deal entered this stage again on a day it already entered it",
        "nothing to do: the first entry of the day is kept",
    ),
    "report_footer": (
        "a report footer or total row, not a record",
        "nothing to do",
    ),
    "history_dated_at_import": (
        "the stage history is dated at an import: most rows share one timestamp",
        "export OpportunityHistory from the org where the deals were worked; stage-level "
        "figures use a minimal history derived from the deals meanwhile",
    ),
    "lead_without_created_date": (
        "a lead without a creation date",
        "export Lead.CreatedDate",
    ),
    **CURRENCY_MESSAGES,
}


def _object_of(path: Path) -> str | None:
    stem = squash(path.stem)
    candidates = {stem, stem.removesuffix("data")}
    for prefix in ("salesforce", "sf"):
        candidates |= {c.removeprefix(prefix) for c in list(candidates)}
    for name, stems in OBJECTS.items():
        if stems & candidates:
            return name
    return None


_ALL_STEMS = {s for stems in OBJECTS.values() for s in stems}


def _find_files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {"opportunity": path}
    if not path.is_dir():
        raise DataError(
            problem="the data folder does not exist",
            fix="pass the folder holding Opportunity.csv (and OpportunityHistory.csv, ...)",
            file=str(path),
        )
    found: dict[str, Path] = {}
    candidates = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
    for file in candidates:
        name = _object_of(file)
        if name is not None and name not in found:
            found[name] = file
    if "opportunity" not in found:  # a report export: any file with a stage and an amount
        for file in candidates:
            header = read_export_file(file, []).head(0).columns
            keys = {squash(c) for c in header}
            if {"stage", "stagename"} & keys and "amount" in keys:
                found["opportunity"] = file
                break
    if "opportunity" not in found:
        raise DataError(
            problem="no Opportunity file found",
            fix="put Opportunity.csv (Data Export, Data Loader or Fivetran's opportunity "
            "table) in the folder; OpportunityHistory, OpportunityStage, User, UserRole, "
            "Lead, Task and Event are used when present",
            file=str(path),
            examples=[f"files found: {', '.join(p.name for p in candidates) or 'none'}"],
        )
    return found


class _Reader:
    """Reads the object files once, keeping notes and set-aside rows."""

    def __init__(self, files: dict[str, Path], date_order: Literal["month", "day"]):
        self.files = files
        self.date_order = date_order
        self.notes: list[str] = []
        self.setaside: list[pl.DataFrame] = []
        self.frames: dict[str, pl.DataFrame] = {}

    def read(self, obj: str, table: str | None) -> pl.DataFrame | None:
        """The object's rows, current and not deleted (others set aside for ``table``; a
        lookup file such as User, ``table=None``, just drops them)."""
        if obj not in self.files:
            return None
        file = self.files[obj]
        frame = read_export_file(file, self.notes)
        label = str(file)
        active = column(frame, "_fivetran_active")
        if active is not None:
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
        kept, aside = set_aside(frame, mask, table=table or "", file=file, kind=kind, reason=reason)
        if aside.height and table is not None:
            self.setaside.append(aside)
        return kept

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
) -> RawDataset:
    """Read a folder of Salesforce object files into canonical raw tables (module docstring).

    ``team``: ``"role"`` (the owner's role, default), ``"parent_role"``, or an Opportunity
    column. ``reporting_currency`` / ``rates`` (units of a currency per reporting unit) when
    the org's CurrencyType file is not in the folder. ``date_order`` settles ``02/03/24``
    when no value does. ``columns`` maps canonical deal columns to Opportunity columns the
    adapter would not find itself (``{"lost_reason": "Why_Lost__c"}``).
    """
    files = _find_files(path)
    r = _Reader(files, date_order)
    overrides = {k: v for k, v in (columns or {}).items()}
    opp = r.read("opportunity", "deals")
    assert opp is not None
    opp_file = str(files["opportunity"])

    # report exports: footer rows and a missing id
    id_col = column(opp, "Id", "Opportunity ID", "OpportunityId")
    first = next(c for c in opp.columns if c != "source_row")
    if id_col is None or column(opp, "IsDeleted") is None:
        opp = r._aside(
            opp,
            pl.col(first).cast(pl.String).str.contains(FOOTER)
            & (pl.col(id_col).is_null() if id_col else pl.lit(True)),
            "deals",
            opp_file,
            "report_footer",
        )
    if id_col is None:
        r.notes.append(
            f"{Path(opp_file).name} has no opportunity Id (a report export?): deals are "
            "numbered by their line in the file, so the same deal in two exports cannot be "
            "matched and duplicates cannot be detected."
        )
        opp = opp.with_columns(("line-" + pl.col("source_row").cast(pl.String)).alias("__id"))
        id_col = "__id"

    # users and roles -> owner names and teams
    users = r.read("user", None)
    roles = r.read("userrole", None)
    owner_id = column(opp, "OwnerId", "Owner ID")
    owner_label = column(opp, "Opportunity Owner", "Owner", "Owner Name", "Owner Full Name")
    lookup = _user_lookup(users, roles)
    mixed_ids = _mixed_id_lengths(opp, id_col, r.frames)
    if mixed_ids:
        r.notes.append(
            "The files mix 15- and 18-character Salesforce ids: ids are compared on their "
            "first 15 characters (the 18-character form only adds a checksum)."
        )
    norm = _id15 if mixed_ids else (lambda e: e)

    opp = r.dates(
        opp,
        "opportunity",
        "CreatedDate",
        "Created Date",
        "CloseDate",
        "Close Date",
        *(
            overrides.get(k)
            for k in ("created_at", "closed_at", "expected_close")
            if overrides.get(k)
        ),
    )
    history, closing_day = _stage_history(r, norm, opp_file)
    stages = _stages(r)

    # status
    is_won = column(opp, "IsWon", "Won")
    is_closed = column(opp, "IsClosed", "Closed")
    stage_col = overrides.get("stage") or column(opp, "StageName", "Stage", "Opportunity Stage")
    if stage_col is None:
        raise DataError(
            problem="no StageName column",
            fix="export Opportunity.StageName (or a report with the Stage column)",
            file=opp_file,
            column="StageName",
        )
    stage = pl.col(stage_col).str.strip_chars()
    if is_won is not None and is_closed is not None:
        won = parse_bool(pl.col(is_won), False)
        closed = parse_bool(pl.col(is_closed), False)
        status = pl.when(won).then(pl.lit("won")).when(closed).then(pl.lit("lost"))
        status = status.otherwise(pl.lit("open"))
    elif stages is not None:
        flags = stages.select(
            pl.col("stage").alias("__stage"),
            pl.col("is_won").alias("__w"),
            pl.col("is_lost").alias("__l"),
        )
        opp = opp.with_columns(stage.alias("__stage")).join(flags, on="__stage", how="left")
        status = pl.when(pl.col("__w") == "true").then(pl.lit("won"))
        status = status.when(pl.col("__l") == "true").then(pl.lit("lost")).otherwise(pl.lit("open"))
        r.notes.append("No IsWon/IsClosed columns: status taken from OpportunityStage's flags.")
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
            "No IsWon/IsClosed columns and no OpportunityStage file: a stage named "
            "'Closed Won' (or 'Won') is won, 'Closed Lost' (or 'Lost') is lost, any other "
            "stage is open. Export IsWon and IsClosed if your closed stages are named otherwise."
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
                f"{unnamed:,} opportunities have an owner missing from the User file: "
                "shown by their owner id."
            )
    elif owner_label is not None:
        owner = pl.col(owner_label)
    elif owner_id is not None:
        owner = pl.col(owner_id)
        r.notes.append(
            "No User file: owners are shown by their Salesforce user id. Add User.csv for names."
        )
    else:
        owner = pl.lit("(unknown)")
        r.notes.append(
            "No owner column (OwnerId or Opportunity Owner): every deal's owner reads "
            "'(unknown)'; rep-level figures are not available."
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
            "closed_at is the day the closing stage was entered in OpportunityHistory where "
            "there is one, else CloseDate (which users set by hand); CloseDate of open deals "
            "is expected_close."
            if closing_day is not None
            else "closed_at is CloseDate for closed deals (no usable OpportunityHistory: CloseDate "
            "is set by users, usually on the day of closing); CloseDate of open deals is "
            "expected_close."
        )

    probability = column(opp, "Probability", "Probability (%)")
    record_type = column(opp, "RecordTypeId", "Record Type ID")
    record_types = r.read("recordtype", None)
    account_col = column(opp, "AccountId", "Account ID", "Account Name")
    accounts = r.read("account", None)

    # extra lookups: pipeline (record type) and industry (account)
    if record_type is not None and record_types is not None:
        rt = record_types.select(
            pl.col(column(record_types, "Id")).alias("__rt"),
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
            pl.col(column(accounts, "Id")).alias("__acc"),
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
    )
    if probability is not None:
        r.notes.append(
            "deals.probability is each deal's own Probability (editable by reps, divided by "
            "100); stages.probability is the stage default (OpportunityStage.DefaultProbability)."
        )
    if lost:
        r.notes.append(f"lost_reason read from the custom field {lost}.")
    _check_import_dates(deals, r.notes, opp_file)

    deals, aside = _convert_currency(deals, r, reporting_currency, rates, opp_file)
    if aside.height:
        r.setaside.append(aside)

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
        setaside=r.setaside,
        rule_messages=RULE_MESSAGES,
        hints={
            ("deals", "closed_not_before_created"): "In Salesforce exports this usually means "
            "CreatedDate is the day the records were imported; give columns={'created_at': "
            "'<real creation date column>'} if the export has one",
        },
    )


# ----------------------------------------------------------------------------- pieces


def _mixed_id_lengths(opp: pl.DataFrame, id_col: str, frames: dict[str, pl.DataFrame]) -> bool:
    lengths = set(opp[id_col].drop_nulls().str.len_chars().unique().to_list())
    for frame in frames.values():
        c = column(frame, "OpportunityId", "Id")
        if c is not None and frame.schema[c] == pl.String:
            lengths |= set(frame[c].drop_nulls().str.len_chars().unique().to_list())
    return {15, 18} <= lengths


def _user_lookup(users: pl.DataFrame | None, roles: pl.DataFrame | None) -> pl.DataFrame | None:
    """user_id, name, role, parent_role."""
    if users is None or column(users, "Id") is None:
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
        pl.col(column(users, "Id")).alias("user_id"),
        pl.coalesce(full.replace("", None), pl.col(column(users, "Id"))).alias("name"),
        _col(users, "UserRoleId").alias("role_id"),
    )
    if roles is not None and column(roles, "Id") is not None:
        role = roles.select(
            pl.col(column(roles, "Id")).alias("role_id"),
            _col(roles, "Name").alias("role"),
            _col(roles, "ParentRoleId").alias("parent_id"),
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
                f"team = the opportunity owner's {'role' if team == 'role' else 'parent role'}"
                " (User -> UserRole); owners without a role are in team '(no role)'. "
                "Pass team=<Opportunity column> to group otherwise.",
            )
        why = (
            "No User and UserRole files"
            if lookup is None
            else "No owner has a role found in the UserRole file"
        )
        return (
            pl.lit("All"),
            f"{why}: every deal is in one team 'All'. Add User.csv and UserRole.csv, or pass "
            "team=<Opportunity column> (e.g. a region field).",
        )
    found = column(opp, team)
    if found is None:
        raise DataError(
            problem=f"team={team!r} is neither 'role', 'parent_role' nor an Opportunity column",
            fix="pass team='role', team='parent_role' or the name of an Opportunity column",
            file=None,
            examples=["columns: " + ", ".join(c for c in opp.columns if c != "source_row")],
        )
    return pl.col(found).fill_null("(none)"), f"team = the Opportunity column {found}."


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
            f"{Path(label).name} is Fivetran History Mode (a copy of Opportunity per version): "
            "stage entries are the versions where stage_name changed, at _fivetran_start; "
            "history before History Mode was switched on is not in it."
        )
    # a history dated at an import: most rows share one timestamp
    if frame.height >= 10:
        top = frame.group_by("entered_at").len().sort("len", descending=True).row(0)
        if top[1] >= 0.5 * frame.height:
            r.notes.append(
                f"{Path(label).name}: {top[1]:,} of {frame.height:,} stage entries share the "
                f"timestamp {top[0]}: the history was dated when the records were imported, "
                "so it is not used (stage-level figures are approximate)."
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
    prob = _col(st, "DefaultProbability").cast(pl.Float64, strict=False) / 100
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
                f"{Path(file).name}: {top[1]:,} of {created.len():,} opportunities were created "
                f"on {top[0]}: probably the day they were imported, not the day the deals "
                "started. Cycle lengths are then meaningless and closed deals dated earlier "
                "are quarantined; give columns={'created_at': '<column>'} if the export has "
                "the real creation date."
            )


def _convert_currency(
    deals: pl.DataFrame,
    r: _Reader,
    reporting: str | None,
    rates: Mapping[str, float] | None,
    file: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Amounts in one currency: dated rates by close day, else CurrencyType, else ``rates``."""
    codes = deals["__currency"].drop_nulls().unique().to_list()
    dated = r.read("datedconversionrate", None)
    static = r.read("currencytype", None)
    corporate = reporting
    static_rates = dict(rates) if rates else None
    if static is not None and static_rates is None:
        iso = column(static, "IsoCode")
        rate = column(static, "ConversionRate")
        if iso and rate:
            static_rates = {k: float(v) for k, v in static.select(iso, rate).iter_rows() if k and v}
            corp = column(static, "IsCorporate")
            if corp and corporate is None:
                rows = static.filter(parse_bool(pl.col(corp), False))
                corporate = rows[iso][0] if rows.height else None
    if len(codes) > 1 and dated is not None and column(dated, "IsoCode"):
        return _dated_conversion(deals, dated, r, corporate, static_rates, file)
    out, aside = to_reporting_currency(
        deals,
        amount="amount",
        currency="__currency",
        rates=static_rates if len(codes) > 1 else None,
        reporting=corporate,
        table="deals",
        file=file,
        notes=r.notes,
    )
    return out, aside


def _dated_conversion(deals, dated, r, corporate, static_rates, file):
    label = str(r.files["datedconversionrate"])
    dated = normalise_dates(
        dated, [column(dated, "StartDate")], r.notes, file=label, prefer=r.date_order
    )
    table = (
        dated.select(
            pl.col(column(dated, "IsoCode")).str.to_uppercase().alias("currency"),
            pl.col(column(dated, "StartDate"))
            .str.slice(0, 10)
            .str.to_date(strict=False)
            .alias("__from"),
            pl.col(column(dated, "ConversionRate")).cast(pl.Float64, strict=False).alias("__rate"),
        )
        .drop_nulls()
        .sort("__from")
    )
    day = pl.coalesce(pl.col("closed_at"), pl.col("expected_close"), pl.col("created_at"))
    keyed = deals.with_columns(
        pl.col("__currency").str.to_uppercase().alias("currency"),
        day.str.slice(0, 10).str.to_date(strict=False).alias("__day"),
        pl.col("amount").alias("amount_original"),
    )
    ordered = keyed.with_row_index("__i").sort("__day")
    joined = ordered.join_asof(
        table, left_on="__day", right_on="__from", by="currency", strategy="backward"
    ).sort("__i")
    if static_rates:
        fallback = pl.col("currency").replace_strict(
            static_rates, default=None, return_dtype=pl.Float64
        )
        joined = joined.with_columns(pl.coalesce("__rate", fallback).alias("__rate"))
    kept, aside = set_aside(
        joined.drop("__i", "__from", "__day", "__currency"),
        pl.col("__rate").is_null() & pl.col("amount").is_not_null(),
        table="deals",
        file=file,
        kind="quarantined",
        reason="currency_without_rate",
    )
    converted = pl.col("amount").cast(pl.Float64, strict=False) / pl.col("__rate")
    kept = kept.with_columns(
        pl.when(converted.is_not_null())
        .then(converted.round(6).cast(pl.String))
        .otherwise(pl.col("amount"))
        .alias("amount")
    ).drop("__rate")
    r.notes.append(
        f"Amounts converted to {corporate or 'the corporate currency'} with the dated "
        "exchange rates (DatedConversionRate) in force on each deal's close day (expected close "
        "for open deals); amount_original and currency keep the deal's own."
    )
    return kept, aside.drop("__rate", strict=False) if "__rate" in aside.columns else aside


def _leads(r: _Reader, lookup: pl.DataFrame | None, norm) -> pl.DataFrame | None:
    leads = r.read("lead", "leads")
    if leads is None:
        return None
    created = column(leads, "CreatedDate", "Created Date")
    if created is None:
        r.notes.append(
            f"{r.files['lead'].name} has no CreatedDate: leads cannot be placed in time and "
            "are not used. Export Lead.CreatedDate to analyse them."
        )
        r._aside(leads, pl.lit(True), "leads", str(r.files["lead"]), "lead_without_created_date")
        return None
    leads = r.dates(leads, "lead", "CreatedDate", "ConvertedDate")
    owner = column(leads, "OwnerId")
    source = _col(leads, "LeadSource", "Lead Source")
    no_source = leads.select(source.is_null().sum()).item()
    if no_source:
        r.notes.append(f"{no_source:,} leads have no LeadSource: their source reads '(not given)'.")
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
            r.notes.append(f"{queued:,} leads are owned by a queue (00G... ids), not a person.")
    converted = parse_bool(_col(leads, "IsConverted"), False)
    return leads.select(
        "source_row",
        _col(leads, "Id").alias("lead_id"),
        pl.col(created).alias("created_at"),
        source.fill_null("(not given)").alias("source"),
        (
            pl.coalesce("__owner", owner) if "__owner" in leads.columns else _col(leads, "OwnerId")
        ).alias("owner"),
        (pl.col("__team") if "__team" in leads.columns else pl.lit(None, pl.String)).alias("team"),
        pl.when(converted | _col(leads, "ConvertedDate").is_not_null())
        .then(_col(leads, "ConvertedDate"))
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
                pl.when(who.str.starts_with("00Q")).then(who).alias("lead_id"),
                pl.lit(obj.capitalize()).alias("object"),
            )
        )
    if not parts:
        return None
    if len(parts) == 2:  # one table from two files: rows keep their own file's line numbers
        r.notes.append(
            "activities come from Task and Event; their line numbers refer to "
            "Task.csv for tasks and Event.csv for events (see the object column)."
        )
    return RawTable("activities", pl.concat(parts, how="vertical"), " + ".join(labels))
