"""The export shapes real users hand over, generated small from the synthetic sample.

Each shape is a function of the generated tables (dict of polars frames) returning the tables
an export of that shape would hold. Used by ``test_shapes.py`` (metrics, comparisons, every
report section) and ``test_browser.py`` (one report per shape opened in Chromium).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

import pipeline_kit as pk

Tables = dict[str, pl.DataFrame]
PERIOD = "2025-Q4"


def _only(tables: Tables, keep: tuple[str, ...]) -> Tables:
    return {k: v for k, v in tables.items() if k in keep}


def _deals(tables: Tables, predicate: pl.Expr, keep: tuple[str, ...] = ("deals",)) -> Tables:
    out = _only(tables, keep)
    out["deals"] = tables["deals"].filter(predicate)
    return out


def only_closed(t: Tables) -> Tables:
    """A closed-deals export: no open deal, no stages or history (so no open stage)."""
    return _deals(t, pl.col("status") != "open")


def only_won(t: Tables) -> Tables:
    """A bookings export: won deals only."""
    return _deals(t, pl.col("status") == "won")


def only_lost(t: Tables) -> Tables:
    """A loss-review export: lost deals only."""
    return _deals(t, pl.col("status") == "lost")


def leads_and_won(t: Tables) -> Tables:
    """A marketing funnel: leads, and the deals they became once won."""
    out = _deals(t, pl.col("status") == "won", keep=("deals", "leads"))
    return out


def one_team(t: Tables) -> Tables:
    """A single team's export, every table."""
    out = dict(t)
    out["deals"] = t["deals"].filter(pl.col("team") == "EMEA")
    return out


def no_owner_column(t: Tables) -> Tables:
    """No owner column at all (and so no rep figures)."""
    return {"deals": t["deals"].drop("owner"), "stages": t["stages"]}


def no_team_column(t: Tables) -> Tables:
    """No team column: one team 'All'."""
    return {"deals": t["deals"].drop("team"), "stages": t["stages"]}


def new_team(t: Tables) -> Tables:
    """A team whose first deal is in the reporting quarter (no previous quarters)."""
    deals = t["deals"].with_columns(
        pl.when((pl.col("team") == "SMB") & (pl.col("created_at") < pl.date(2025, 10, 1)))
        .then(pl.lit("SMB (old)"))
        .otherwise(pl.col("team"))
        .alias("team")
    )
    return {**t, "deals": deals}


def lost_amount_zero(t: Tables) -> Tables:
    """The CRM cleared the amount of every lost deal."""
    deals = t["deals"].with_columns(
        pl.when(pl.col("status") == "lost").then(0.0).otherwise(pl.col("amount")).alias("amount")
    )
    return {"deals": deals, "stages": t["stages"], "stage_history": t["stage_history"]}


def no_stage_history(t: Tables) -> Tables:
    """Deals and stages, no stage history (derived, approximate)."""
    return {k: v for k, v in t.items() if k != "stage_history"}


def no_dates(t: Tables) -> Tables:
    """A win/loss export: outcome, amount, segments and a duration in days, no date at all."""
    deals = (
        t["deals"]
        .filter(pl.col("status") != "open")
        .with_columns(
            (pl.col("closed_at") - pl.col("created_at")).dt.total_days().alias("days_to_close")
        )
        .drop("created_at", "closed_at", "expected_close", "stage")
        .with_columns(pl.col("status").alias("stage"))
    )
    return {"deals": deals}


def one_deal(t: Tables) -> Tables:
    """A single won deal."""
    won = t["deals"].filter(
        (pl.col("status") == "won")
        & pl.col("closed_at").is_between(pl.date(2025, 10, 1), pl.date(2025, 12, 31))
    )
    return {"deals": won.head(1)}


SHAPES: dict[str, Callable[[Tables], Tables]] = {
    f.__name__: f
    for f in (
        only_closed,
        only_won,
        only_lost,
        leads_and_won,
        one_team,
        no_owner_column,
        no_team_column,
        new_team,
        lost_amount_zero,
        no_stage_history,
        one_deal,
        no_dates,
    )
}
# the period each shape is reported for: an export without dates has only the whole export
PERIODS = {name: ("all" if name == "no_dates" else PERIOD) for name in SHAPES}


def write_shape(name: str, folder: Path, deals: int = 400, seed: int = 21) -> Path:
    """Write the shape ``name`` as CSV files into ``folder`` (created) and return it."""
    tables = SHAPES[name](pk.synthetic.generate(deals, seed=seed))
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        frame.write_csv(folder / f"{table}.csv")
    return folder
