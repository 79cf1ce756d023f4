"""Maven Analytics "CRM Sales Opportunities" export (``source="maven"``).

Files: ``sales_pipeline.csv`` (one row per opportunity), ``sales_teams.csv`` (agent -> manager,
regional office), ``accounts.csv``, ``products.csv``. Mapping:

========================  ====================================================================
canonical                 Maven
========================  ====================================================================
deal_id                   opportunity_id
owner / team / manager    sales_agent / regional_office / manager (from sales_teams.csv)
status, stage             deal_stage: Won -> won, Lost -> lost, Prospecting/Engaging -> open
created_at                engage_date (the day the deal entered "Engaging")
closed_at                 close_date
amount                    close_value for won deals; the product's list price (products.csv
                          sales_price) for open and lost deals, whose close_value is empty or 0
industry                  accounts.csv sector
stage_history             Engaging at engage_date, Won/Lost at close_date (approximate: the
                          day a deal entered Prospecting is not in the export)
========================  ====================================================================

Known warts, handled here and reported in the dataset notes, never by editing the files:
product ``GTXPro`` in the pipeline vs ``GTX Pro`` in products.csv (matched on the name without
spaces or case); sector ``technolgy`` (read as ``technology``); Prospecting deals with no
engage_date (quarantined: they cannot be placed in time); deals without an account.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline_kit.adapters.base import RawDataset, RawTable, fingerprint, read_table_file
from pipeline_kit.errors import DataError

__all__ = ["read_maven"]

FILES = {
    "sales_pipeline": [
        "opportunity_id",
        "sales_agent",
        "product",
        "account",
        "deal_stage",
        "engage_date",
        "close_date",
        "close_value",
    ],
    "sales_teams": ["sales_agent", "manager", "regional_office"],
    "accounts": ["account", "sector"],
    "products": ["product", "sales_price"],
}
STAGES = [
    ("Prospecting", 1, False, False),
    ("Engaging", 2, False, False),
    ("Won", 3, True, False),
    ("Lost", 4, False, True),
]
SECTOR_TYPOS = {"technolgy": "technology"}


def _read(path: Path, name: str) -> tuple[Path, pl.DataFrame]:
    file = path / f"{name}.csv"
    if not file.exists():
        raise DataError(
            problem=f"{name}.csv is missing",
            fix=f"put all four Maven files ({', '.join(f + '.csv' for f in FILES)}) in one folder",
            file=str(path),
        )
    frame = read_table_file(file)
    missing = [c for c in FILES[name] if c not in frame.columns]
    if missing:
        raise DataError(
            problem=f"column(s) {', '.join(missing)} missing: not a Maven CRM export?",
            fix="use the unmodified Maven files, or convert the data to the canonical tables",
            file=str(file),
            column=missing[0],
            examples=[f"columns found: {', '.join(frame.columns[1:])}"],
        )
    text = [c for c in frame.columns if c != "source_row"]
    return file, frame.with_columns(pl.col(text).str.strip_chars().replace("", None))


def _product_key(col: str) -> pl.Expr:
    return pl.col(col).str.replace_all(r"\s", "").str.to_lowercase()


def read_maven(path: Path) -> RawDataset:  # no options
    """Read a Maven CRM export folder into canonical raw tables (see module docstring)."""
    files = {name: _read(path, name) for name in FILES}
    pipeline_file, pipeline = files["sales_pipeline"]
    teams = files["sales_teams"][1].drop("source_row")
    accounts = files["accounts"][1].select(
        "account", pl.col("sector").replace(SECTOR_TYPOS).alias("industry")
    )
    products = files["products"][1].select(
        _product_key("product").alias("_key"),
        pl.col("product").alias("_product"),
        pl.col("sales_price").alias("_list_price"),
    )

    joined = (
        pipeline.with_columns(_product_key("product").alias("_key"))
        .join(teams, on="sales_agent", how="left")
        .join(accounts, on="account", how="left")
        .join(products, on="_key", how="left")
        .sort("source_row")
    )
    stage = pl.col("deal_stage")
    won = stage.str.to_lowercase().eq("won")
    deals = joined.select(
        "source_row",
        pl.col("opportunity_id").alias("deal_id"),
        pl.col("sales_agent").alias("owner"),
        pl.col("regional_office").alias("team"),
        "manager",
        pl.when(won).then(pl.col("close_value")).otherwise(pl.col("_list_price")).alias("amount"),
        pl.col("engage_date").alias("created_at"),
        stage.alias("stage"),
        pl.when(stage.str.to_lowercase().is_in(["won", "lost"]))
        .then(stage.str.to_lowercase())
        .otherwise(pl.lit("open"))
        .alias("status"),
        pl.col("close_date").alias("closed_at"),
        pl.col("account").alias("account_id"),
        "industry",
        pl.coalesce("_product", "product").alias("product"),
    )
    history = pl.concat(
        [
            joined.filter(pl.col("engage_date").is_not_null()).select(
                "source_row",
                pl.col("opportunity_id").alias("deal_id"),
                pl.lit("Engaging").alias("stage"),
                pl.col("engage_date").alias("entered_at"),
            ),
            joined.filter(pl.col("close_date").is_not_null()).select(
                "source_row",
                pl.col("opportunity_id").alias("deal_id"),
                pl.col("deal_stage").alias("stage"),
                pl.col("close_date").alias("entered_at"),
            ),
        ]
    ).sort("source_row", "entered_at")
    stages = pl.DataFrame(
        {
            "source_row": [i + 2 for i in range(len(STAGES))],
            "stage": [s[0] for s in STAGES],
            "order": [str(s[1]) for s in STAGES],
            "is_won": [str(s[2]).lower() for s in STAGES],
            "is_lost": [str(s[3]).lower() for s in STAGES],
        }
    )

    notes = [
        "Maven export: team = regional office (sales_teams.csv); `manager` and `owner` "
        "(sales agent) are available for by=."
    ]
    renamed = (
        joined.filter(pl.col("_product").is_not_null() & pl.col("_product").ne(pl.col("product")))
        .group_by("product", "_product")
        .len()
        .sort("product")
    )
    for row in renamed.iter_rows(named=True):
        notes.append(
            f"Product {row['product']!r} ({row['len']:,} deals) matched to "
            f"{row['_product']!r} in products.csv (names compared without spaces/case)."
        )
    typos = files["accounts"][1].filter(pl.col("sector").is_in(list(SECTOR_TYPOS)))
    if typos.height:
        notes.append(
            f"accounts.csv: sector {', '.join(repr(t) for t in SECTOR_TYPOS)} read as "
            f"{', '.join(repr(v) for v in SECTOR_TYPOS.values())} ({typos.height} accounts)."
        )
    no_account = pipeline.filter(pl.col("account").is_null()).height
    if no_account:
        notes.append(f"{no_account:,} deals have no account: industry is unknown for them.")
    notes.append(
        "Amounts: close_value for won deals; for open and lost deals (close_value empty "
        "or 0 in Maven) the product's list price from products.csv."
    )
    idle = sorted(set(teams["sales_agent"]) - set(pipeline["sales_agent"].drop_nulls()))
    if idle:
        notes.append(f"{len(idle)} agents in sales_teams.csv have no deals: {', '.join(idle)}.")

    label = str(pipeline_file)
    return RawDataset(
        source="maven",
        path=path,
        tables={
            "deals": RawTable("deals", deals, label),
            "stages": RawTable("stages", stages, f"{label} (stages defined by the adapter)"),
            "stage_history": RawTable("stage_history", history, f"{label} (stage dates)"),
        },
        fingerprint=fingerprint(f for f, _ in files.values()),
        notes=notes,
        hints={
            ("deals", "created_at|nullability"): "In Maven exports, deals still in "
            "Prospecting have no engage_date, so they cannot be placed in time; they are "
            "counted here and left out of every figure",
            ("deals", "team|nullability"): "add the agent to sales_teams.csv",
            ("deals", "amount|nullability"): "add the product to products.csv",
        },
        stage_history_approximate=True,
    )
