"""Maven Analytics "CRM Sales Opportunities" export (``source="maven"``).

Files: ``sales_pipeline.csv`` (one row per opportunity), ``sales_teams.csv`` (agent -> manager,
regional office), ``products.csv`` and, optionally, ``accounts.csv``. Mapping:

========================  ====================================================================
canonical                 Maven
========================  ====================================================================
deal_id                   opportunity_id
owner / team / manager    sales_agent / regional_office / manager (from sales_teams.csv)
status, stage             deal_stage: Won -> won, Lost -> lost, Prospecting / Engaging /
                          In_Progress -> open (stage names compared without case, spaces or _)
created_at                engage_date (the day the deal entered "Engaging"); in the older
                          export ``created_on`` (the day the deal was created)
closed_at                 close_date
amount                    close_value for won deals; the product's list price (products.csv
                          sales_price) for open and lost deals, whose close_value is empty or 0
industry                  accounts.csv sector
stage_history             engage_date variant: Engaging at engage_date, Won/Lost at
                          close_date. created_on variant: an open deal in its current stage
                          from created_on, a closed deal in the first stage from created_on,
                          then Won/Lost at close_date. Approximate either way: the export
                          has only the current stage.
========================  ====================================================================

Column names are matched without case, spaces or underscores (``Deal Stage`` reads as
``deal_stage``). Required: opportunity_id, sales_agent, product, deal_stage, engage_date (or
created_on), close_date, close_value; sales_agent and regional_office in sales_teams.csv;
product and sales_price in products.csv. Optional, with a note when absent: the account
column, accounts.csv itself, its sector column, the manager column. US dates (``3/1/2017``)
are read month first.

Known warts, handled here and reported in the dataset notes, never by editing the files:
product ``GTXPro`` in the pipeline vs ``GTX Pro`` in products.csv (matched on the name without
spaces or case); sector ``technolgy`` (read as ``technology``); Prospecting deals with no
engage_date (quarantined: they cannot be placed in time); deals without an account.

The lookup files are reduced to one row per key before they are joined, so a join never
multiplies deals: rows repeating a key with the same values are read once (a note says so);
an agent listed with two managers or offices leaves the team of their deals unknown (those
deals are quarantined, ``sales_agent_in_several_teams``); a product listed with two prices
leaves the amount of its open and lost deals unknown (quarantined,
``product_price_ambiguous``); an account listed with two sectors leaves its industry unknown
(a note). A deal_stage that is not a Maven stage is quarantined (``deal_stage_unknown``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline_kit.adapters._tools import (
    column,
    normalise_dates,
    read_export_file,
    set_aside,
    squash,
)
from pipeline_kit.adapters.base import RawDataset, RawTable, fingerprint
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = ["read_maven"]

# internal name -> (names the column is exported under, first = the current export's; required)
Columns = dict[str, tuple[tuple[str, ...], bool]]
FILES: dict[str, Columns] = {
    "sales_pipeline": {
        "opportunity_id": (("opportunity_id",), True),
        "sales_agent": (("sales_agent",), True),
        "product": (("product",), True),
        "account": (("account",), False),
        "deal_stage": (("deal_stage",), True),
        "created": (("engage_date", "created_on"), True),
        "close_date": (("close_date",), True),
        "close_value": (("close_value",), True),
    },
    "sales_teams": {
        "sales_agent": (("sales_agent",), True),
        "manager": (("manager",), False),
        "regional_office": (("regional_office",), True),
    },
    "products": {
        "product": (("product",), True),
        "sales_price": (("sales_price",), True),
    },
    "accounts": {
        "account": (("account",), True),
        "sector": (("sector",), False),
    },
}
OPTIONAL_FILES = {"accounts"}

# every stage of either variant, in pipeline order (a variant uses the ones its deals are in)
STAGE_ORDER = ["Prospecting", "Engaging", "In_Progress", "Won", "Lost"]
WON, LOST = "Won", "Lost"
SECTOR_TYPOS = {"technolgy": "technology"}

RULE_MESSAGES = {
    "deal_stage_unknown": (
        N_(
            "deal_stage is empty or not a Maven stage (Prospecting, Engaging, In_Progress, Won, "
            "Lost), so the deal cannot be called open, won or lost"
        ),
        N_("correct deal_stage in sales_pipeline.csv"),
    ),
    "sales_agent_in_several_teams": (
        N_(
            "the deal's sales agent is listed more than once in sales_teams.csv with a "
            "different manager or regional office, so the deal's team is unknown"
        ),
        N_("keep one row per sales_agent in sales_teams.csv"),
    ),
    "product_price_ambiguous": (
        N_(
            "the deal is open or lost, so its amount is the product's list price, but "
            "products.csv lists the product more than once with different sales_price values"
        ),
        N_("keep one row per product in products.csv"),
    ),
}


def _missing_file(path: Path, name: str) -> DataError:
    needed = ", ".join(f"{f}.csv" for f in FILES if f not in OPTIONAL_FILES)
    return DataError(
        problem=f"{name}.csv is missing",
        fix=f"put the Maven files ({needed}, and accounts.csv if you have it) in one folder",
        file=str(path),
    )


def _read(path: Path, name: str, notes: list[str]) -> tuple[Path, pl.DataFrame, dict[str, str]]:
    """(file, frame with the internal column names, internal name -> header as written).

    Every internal column is present (an optional one missing from the file is all empty);
    values are stripped and empty cells are null.
    """
    file = path / f"{name}.csv"
    if not file.exists():
        raise _missing_file(path, name)
    frame = read_export_file(file, notes)
    spec = FILES[name]
    found = {key: column(frame, *aliases) for key, (aliases, _) in spec.items()}
    missing = [
        " or ".join(aliases)
        for key, (aliases, required) in spec.items()
        if required and not found[key]
    ]
    if missing:
        raise DataError(
            problem=f"column(s) {', '.join(missing)} missing: not a Maven CRM export?",
            fix="use the unmodified Maven files, or convert the data to the canonical tables",
            file=str(file),
            column=missing[0].split(" or ")[0],
            examples=[f"columns found: {', '.join(c for c in frame.columns if c != 'source_row')}"],
        )
    frame = frame.select(
        "source_row",
        *[
            (pl.col(header) if (header := found[key]) else pl.lit(None, pl.String)).alias(key)
            for key in spec
        ],
    )
    text = [c for c in frame.columns if c != "source_row"]
    frame = frame.with_columns(pl.col(text).cast(pl.String).str.strip_chars().replace("", None))
    return file, frame, {key: header for key, header in found.items() if header}


def _one_row_per_key(
    frame: pl.DataFrame, key: str, keep: list[str], must_agree: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A lookup with one row per ``key`` (so that a join never multiplies rows).

    Returns (lookup, repeated, conflicting): the lookup holds each column of ``keep`` as its
    first non-empty value and ``_conflict``, true when the non-empty values of a column of
    ``must_agree`` differ between the rows of the key; ``repeated`` and ``conflicting`` list
    the keys given on several rows (without / with a disagreement) and their lines.
    """
    frame = frame.filter(pl.col(key).is_not_null())
    grouped = frame.group_by(key, maintain_order=True).agg(
        pl.col("source_row").alias("lines"),
        *[pl.col(c).drop_nulls().first() for c in keep],
        *[pl.col(c).drop_nulls().n_unique().alias(f"_n_{c}") for c in must_agree],
    )
    conflict = pl.any_horizontal(pl.col(f"_n_{c}") > 1 for c in must_agree)
    grouped = grouped.with_columns(conflict.alias("_conflict"))
    several = grouped.filter(pl.col("lines").list.len() > 1).select(key, "lines", "_conflict")
    return (
        grouped.select(key, *keep, "_conflict"),
        several.filter(~pl.col("_conflict")).drop("_conflict"),
        several.filter(pl.col("_conflict")).drop("_conflict"),
    )


def _listing(frame: pl.DataFrame, key: str) -> str:
    """``Ann (lines 2, 5); Bob (lines 3, 4)``."""
    return "; ".join(
        f"{k} (lines {', '.join(str(n) for n in lines)})"
        for k, lines in zip(frame[key], frame["lines"], strict=True)
    )


def _product_key(col: str) -> pl.Expr:
    return pl.col(col).str.replace_all(r"\s", "").str.to_lowercase()


def _stage_name(col: str) -> pl.Expr:
    """The Maven stage name (``in progress`` -> ``In_Progress``); null when not a stage."""
    return (
        pl.col(col)
        .str.to_lowercase()
        .str.replace_all(r"[^0-9a-z]", "")
        .replace_strict({squash(s): s for s in STAGE_ORDER}, default=None, return_dtype=pl.String)
    )


def read_maven(path: Path) -> RawDataset:  # no options
    """Read a Maven CRM export folder into canonical raw tables (see module docstring)."""
    notes: list[str] = []
    pipeline_file, pipeline, pipeline_found = _read(path, "sales_pipeline", notes)
    label = str(pipeline_file)
    created_on = squash(pipeline_found["created"]) != "engagedate"
    created_name = "created_on" if created_on else "engage_date"
    pipeline = pipeline.rename({"created": created_name})
    pipeline = normalise_dates(
        pipeline, [created_name, "close_date"], notes, file=label, prefer="month"
    )

    # ---- lookups, one row per key
    teams_file, teams_raw, teams_found = _read(path, "sales_teams", notes)
    teams, teams_repeated, teams_conflicting = _one_row_per_key(
        teams_raw, "sales_agent", ["manager", "regional_office"], ["manager", "regional_office"]
    )
    products_file, products_raw, _ = _read(path, "products", notes)
    products, products_repeated, products_conflicting = _one_row_per_key(
        products_raw.with_columns(
            _product_key("product").alias("_key"),
            pl.col("product").alias("_product"),
            pl.col("sales_price").alias("_list_price"),
            # prices compared as numbers (4821 and 4821.0 agree)
            pl.coalesce(
                pl.col("sales_price")
                .str.replace_all(r"[\s,$]", "")
                .cast(pl.Float64, strict=False)
                .cast(pl.String),
                pl.col("sales_price"),
            ).alias("_price"),
        ),
        "_key",
        ["_product", "_list_price"],
        ["_price"],
    )
    files = [pipeline_file, teams_file, products_file]
    has_accounts = (path / "accounts.csv").exists()
    if has_accounts:
        accounts_file, accounts_raw, accounts_found = _read(path, "accounts", notes)
        files.append(accounts_file)
    else:  # optional: only the industry comes from it
        accounts_raw = pl.DataFrame(
            schema={"source_row": pl.Int64, "account": pl.String, "sector": pl.String}
        )
        accounts_found = {}
    accounts, accounts_repeated, accounts_conflicting = _one_row_per_key(
        accounts_raw.with_columns(pl.col("sector").replace(SECTOR_TYPOS).alias("industry")),
        "account",
        ["industry"],
        ["industry"],
    )

    joined = (
        pipeline.with_columns(
            _stage_name("deal_stage").alias("_stage"), _product_key("product").alias("_key")
        )
        .join(
            teams.rename({"_conflict": "_team_conflict"}),
            on="sales_agent",
            how="left",
            validate="m:1",
        )
        .join(
            accounts.rename({"_conflict": "_account_conflict"}),
            on="account",
            how="left",
            validate="m:1",
        )
        .join(
            products.rename({"_conflict": "_price_conflict"}),
            on="_key",
            how="left",
            validate="m:1",
        )
        .sort("source_row")
    )
    assert joined.height == pipeline.height  # one deal per sales_pipeline row, always
    joined = joined.with_columns(
        pl.when(pl.col("_team_conflict").fill_null(False))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("manager", "regional_office")
    ).with_columns(
        pl.when(pl.col("_account_conflict").fill_null(False))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("industry"))
        .alias("industry"),
        pl.when(pl.col("_price_conflict").fill_null(False))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("_list_price"))
        .alias("_list_price"),
    )

    # ---- stages of this variant
    present = set(joined["_stage"].drop_nulls().to_list())
    middle = "In_Progress" if "In_Progress" in present and "Engaging" not in present else "Engaging"
    first_open = "Prospecting" if created_on and "Prospecting" in present else middle
    # the engage_date export documents Prospecting > Engaging > Won / Lost; the older export's
    # stages are the ones its deals are in
    always = {middle, first_open, WON, LOST} | (set() if created_on else {"Prospecting"})
    stage_names = [s for s in STAGE_ORDER if s in present or s in always]
    stages = pl.DataFrame(
        {
            "source_row": [i + 2 for i in range(len(stage_names))],
            "stage": stage_names,
            "order": [str(i + 1) for i in range(len(stage_names))],
            "is_won": [str(s == WON).lower() for s in stage_names],
            "is_lost": [str(s == LOST).lower() for s in stage_names],
        }
    )

    # ---- deals
    stage = pl.col("_stage")
    won = stage.eq(WON)
    deals = joined.select(
        "source_row",
        pl.col("opportunity_id").alias("deal_id"),
        pl.col("sales_agent").alias("owner"),
        pl.col("regional_office").alias("team"),
        "manager",
        pl.when(won).then(pl.col("close_value")).otherwise(pl.col("_list_price")).alias("amount"),
        pl.col(created_name).alias("created_at"),
        pl.coalesce(stage, pl.col("deal_stage")).alias("stage"),
        pl.when(stage.is_in([WON, LOST]))
        .then(stage.str.to_lowercase())
        .when(stage.is_not_null())
        .then(pl.lit("open"))
        .alias("status"),
        pl.col("close_date").alias("closed_at"),
        pl.col("account").alias("account_id"),
        "industry",
        pl.coalesce("_product", "product").alias("product"),
    )
    flagged = {
        "deal_stage_unknown": stage.is_null(),
        "sales_agent_in_several_teams": pl.col("_team_conflict").fill_null(False),
        "product_price_ambiguous": pl.col("_price_conflict").fill_null(False) & ~won,
    }
    setaside = []
    for reason, mask in flagged.items():  # one reason per deal: the first that applies
        rows = joined.filter(mask)["source_row"].implode()
        deals, aside = set_aside(
            deals,
            pl.col("source_row").is_in(rows),
            table="deals",
            file=label,
            kind="quarantined",
            reason=reason,
        )
        if aside.height:
            setaside.append(aside)

    # ---- stage history (from every row: the loader quarantines the rows of a deal it or
    # this adapter quarantined as deal_unknown)
    if created_on:
        entry = (
            pl.when(stage.is_in([WON, LOST]) | stage.is_null())
            .then(pl.lit(first_open))
            .otherwise(stage)
        )
    else:
        entry = pl.lit(middle)
    history = pl.concat(
        [
            joined.filter(pl.col(created_name).is_not_null()).select(
                "source_row",
                pl.col("opportunity_id").alias("deal_id"),
                entry.alias("stage"),
                pl.col(created_name).alias("entered_at"),
            ),
            joined.filter(pl.col("close_date").is_not_null()).select(
                "source_row",
                pl.col("opportunity_id").alias("deal_id"),
                pl.coalesce(stage, pl.col("deal_stage")).alias("stage"),
                pl.col("close_date").alias("entered_at"),
            ),
        ]
    ).sort("source_row", "entered_at")

    # ---- notes
    notes.insert(
        0,
        Message(
            N_(
                "Maven export: team = regional office (sales_teams.csv); `manager` and `owner` "
                "(sales agent) are available for by=."
            )
        ),
    )
    if created_on:
        notes.append(
            Message(
                N_(
                    "sales_pipeline.csv has {column} instead of engage_date (the older Maven "
                    "export): read as the day each deal was created. Stage history: an open "
                    "deal is in its current stage from that day, a closed deal in {stage} from "
                    "that day until its close_date."
                ),
                column=created_name,
                stage=first_open,
            )
        )
    if "In_Progress" in present:
        notes.append(
            Message(
                N_(
                    "deal_stage In_Progress (the older Maven export) is read as an open stage, "
                    "the last before Won/Lost."
                )
            )
        )
    renamed = (
        joined.filter(pl.col("_product").is_not_null() & pl.col("_product").ne(pl.col("product")))
        .group_by("product", "_product")
        .len()
        .sort("product")
    )
    for row in renamed.iter_rows(named=True):
        notes.append(
            Message(
                N_(
                    "Product {product} ({deals} deals) matched to {listed} in products.csv "
                    "(names compared without spaces/case)."
                ),
                product=repr(row["product"]),
                deals=row["len"],
                listed=repr(row["_product"]),
            )
        )
    products_named = products.select("_key", "_product")
    notes.extend(_lookup_notes(teams_repeated, teams_conflicting, "sales_teams"))
    notes.extend(
        _lookup_notes(
            products_repeated.join(products_named, on="_key", how="left"),
            products_conflicting.join(products_named, on="_key", how="left"),
            "products",
        )
    )
    notes.extend(_lookup_notes(accounts_repeated, accounts_conflicting, "accounts"))
    if "manager" not in teams_found:
        notes.append(
            Message(
                N_("sales_teams.csv has no manager column: the manager of every deal is unknown.")
            )
        )
    if "account" not in pipeline_found:
        notes.append(
            Message(
                N_("sales_pipeline.csv has no account column: account_id and industry are unknown.")
            )
        )
    elif not has_accounts:
        notes.append(Message(N_("No accounts.csv: the industry of every deal is unknown.")))
    elif "sector" not in accounts_found:
        notes.append(
            Message(N_("accounts.csv has no sector column: the industry of every deal is unknown."))
        )
    else:
        typos = accounts_raw.filter(pl.col("sector").is_in(list(SECTOR_TYPOS)))
        if typos.height:
            notes.append(
                Message(
                    N_("accounts.csv: sector {typos} read as {sectors} ({accounts} accounts)."),
                    typos=", ".join(repr(t) for t in SECTOR_TYPOS),
                    sectors=", ".join(repr(v) for v in SECTOR_TYPOS.values()),
                    accounts=typos.height,
                )
            )
    if "account" in pipeline_found:
        no_account = pipeline.filter(pl.col("account").is_null()).height
        if no_account:
            notes.append(
                Message(
                    N_("{deals} deals have no account: industry is unknown for them."),
                    deals=no_account,
                )
            )
        if has_accounts:
            unknown = sorted(
                set(pipeline["account"].drop_nulls()) - set(accounts["account"].to_list())
            )
            if unknown:
                notes.append(
                    Message(
                        N_(
                            "{accounts} account(s) of the pipeline are not in accounts.csv "
                            "(industry unknown for their deals): {names}"
                        ),
                        accounts=len(unknown),
                        names=", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "."),
                    )
                )
    notes.append(
        Message(
            N_(
                "Amounts: close_value for won deals; for open and lost deals (close_value empty "
                "or 0 in Maven) the product's list price from products.csv."
            )
        )
    )
    idle = sorted(set(teams["sales_agent"]) - set(pipeline["sales_agent"].drop_nulls()))
    if idle:
        notes.append(
            Message(
                N_("{agents} agents in sales_teams.csv have no deals: {names}."),
                agents=len(idle),
                names=", ".join(idle),
            )
        )

    if created_on:
        missing_created = Message(
            N_(
                "{column} is empty for these deals in sales_pipeline.csv, so they cannot be "
                "placed in time; they are counted here and left out of every figure"
            ),
            column=created_name,
        )
    else:
        missing_created = Message(
            N_(
                "In Maven exports, deals still in Prospecting have no engage_date, so they "
                "cannot be placed in time; they are counted here and left out of every figure"
            )
        )
    return RawDataset(
        source="maven",
        path=path,
        tables={
            "deals": RawTable("deals", deals, label),
            "stages": RawTable("stages", stages, f"{label} (stages defined by the adapter)"),
            "stage_history": RawTable("stage_history", history, f"{label} (stage dates)"),
        },
        fingerprint=fingerprint(files),
        notes=notes,
        hints={
            ("deals", "created_at|nullability"): missing_created,
            ("deals", "team|nullability"): Message(N_("add the agent to sales_teams.csv")),
            ("stage_history", "deal_unknown"): Message(
                N_(
                    "These are the stage dates of deals quarantined in the deals table (see the "
                    "reason given there)"
                )
            ),
        },
        stage_history_approximate=True,
        setaside=setaside,
        rule_messages=RULE_MESSAGES,
    )


def _lookup_notes(repeated: pl.DataFrame, conflicting: pl.DataFrame, name: str) -> list[str]:
    """Notes on the keys a lookup file gives on several rows."""
    key, what, differ, consequence = {
        "sales_teams": (
            "sales_agent",
            N_("agent(s)"),
            N_("a different manager or regional office"),
            N_("their deals are quarantined (team unknown: sales_agent_in_several_teams)"),
        ),
        "products": (
            "_product",
            N_("product(s)"),
            N_("different sales_price values"),
            N_(
                "their open and lost deals, whose amount is the list price, are quarantined "
                "(product_price_ambiguous); won deals keep their close_value"
            ),
        ),
        "accounts": (
            "account",
            N_("account(s)"),
            N_("different sectors"),
            N_("the industry of their deals is left unknown"),
        ),
    }[name]
    notes: list[str] = []
    if repeated.height:
        notes.append(
            Message(
                N_(
                    "{file} lists {rows} {what} on several rows that agree (or only fill each "
                    "other's blanks), read once: {listing}."
                ),
                file=f"{name}.csv",
                rows=repeated.height,
                what=Message(what),
                listing=_listing(repeated, key),
            )
        )
    if conflicting.height:
        notes.append(
            Message(
                N_("{file} lists {rows} {what} on several rows with {differ}: {listing}; {then}."),
                file=f"{name}.csv",
                rows=conflicting.height,
                what=Message(what),
                differ=Message(differ),
                listing=_listing(conflicting, key),
                then=Message(consequence),
            )
        )
    return notes
