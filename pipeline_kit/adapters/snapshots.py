"""A deals export of pipeline snapshots: one row per deal per snapshot date.

Reporting snapshots (Salesforce), weekly pipeline extracts in a warehouse, or a sheet a team
appends to every Monday hold the pipeline as it stood on several dates: each deal appears
once per snapshot, with a column saying which (``snapshot_date``, ``as_of``, ...). Read as
deals, every row of such an export shared its ``deal_id`` with others, and every deal was
quarantined ("duplicate key").

When the deals have a snapshot column (:data:`SNAPSHOT_HEADERS`) whose dates all read and a
deal appears in more than one snapshot:

* **deals**: each deal's row of its latest snapshot is kept (its state as last seen); the
  earlier rows are set aside as excluded (``earlier_snapshot``), so read = valid +
  quarantined + excluded still holds. Two rows of one deal in the same snapshot stay, and are
  quarantined as a duplicate key as before.
* **stage_history**, when the export has none: derived from the snapshots. A deal entered a
  stage on the first snapshot showing it (so up to one snapshot interval late), its first
  stage on ``created_at`` (when earlier), a closing stage on ``closed_at`` (when it falls
  after the snapshot before). The history is marked approximate, as the minimal one derived
  from deals is.

Deals missing from the last snapshot keep their latest row (an earlier snapshot's); a note
counts them, since an open deal that disappeared may have been deleted. Everything done is
said in notes.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline_kit.adapters._tools import normalise_dates, set_aside
from pipeline_kit.adapters.base import RawTable, normalise_header
from pipeline_kit.i18n import N_, Message

__all__ = ["SNAPSHOT_HEADERS", "SNAPSHOT_MESSAGES", "Snapshots", "latest_snapshot"]

# headers (as normalise_header writes them) of the column saying which snapshot a row is of
SNAPSHOT_HEADERS = (
    "snapshot_date",
    "snapshot",
    "snapshot_at",
    "snapshot_day",
    "as_of",
    "as_of_date",
    "report_date",
    "extract_date",
    "export_date",
)

SNAPSHOT_MESSAGES = {
    "earlier_snapshot": (
        N_("an earlier snapshot of a deal: its latest snapshot's row is kept"),
        N_("nothing to do (export only the last snapshot to silence this)"),
    ),
}


class Snapshots:
    """What :func:`latest_snapshot` found: the column, and every row to derive a history from."""

    def __init__(self, column: str, rows: pl.DataFrame) -> None:
        self.column = column
        # every row (all snapshots), with the snapshot's date as "__snapshot" (Date)
        self.rows = rows

    def add_history(self, tables: dict[str, RawTable], notes: list[str]) -> bool:
        """Add the history the snapshots show to ``tables`` unless the export has one.

        Returns whether it was added (the dataset's stage history is then approximate).
        """
        if "stage_history" in tables:
            return False
        deals_file = tables["deals"].file
        tables["stage_history"] = RawTable(
            "stage_history",
            self.stage_history(deals_file, notes),
            f"{deals_file} (stage changes between snapshots)",
        )
        return True

    def stage_history(self, file: str, notes: list[str]) -> pl.DataFrame:
        """The stage changes the snapshots show, as a raw stage_history table (text columns).

        One row per deal and stage entered: the first snapshot of the deal, and each
        snapshot whose stage differs from the snapshot before. ``entered_at`` is that
        snapshot's date, the deal's ``created_at`` for its first snapshot when earlier, and
        its ``closed_at`` for a closing stage when it falls after the snapshot before.
        """
        day = pl.col("__snapshot")
        rows = self.rows.sort("deal_id", "__snapshot", "source_row")

        def date_of(c: str) -> pl.Expr:
            if c not in rows.columns:
                return pl.lit(None, pl.Date)
            return pl.col(c).str.strip_chars().str.slice(0, 10).str.to_date(strict=False)

        stage = pl.col("stage").fill_null("")
        first = pl.col("deal_id").ne_missing(pl.col("deal_id").shift(1))
        closing = (
            pl.col("status").str.strip_chars().str.to_lowercase().is_in(["won", "lost"])
            if "status" in rows.columns
            else pl.lit(False)
        )
        created, closed = date_of("created_at"), date_of("closed_at")
        entered = (
            pl.when(first & (created <= day).fill_null(False))
            .then(created)
            .when(~first & closing & ((closed > day.shift(1)) & (closed <= day)).fill_null(False))
            .then(closed)
            .otherwise(day)
        )
        history = (
            rows.with_columns(entered.alias("__entered"), first.alias("__first"))
            .filter(pl.col("__first") | stage.ne(stage.shift(1)))
            .select(
                "source_row",
                "deal_id",
                "stage",
                pl.col("__entered").dt.strftime("%Y-%m-%d").alias("entered_at"),
            )
        )
        gap = self.rows.select(
            pl.col("__snapshot").unique().sort().diff().dt.total_days().max().fill_null(0)
        ).item()
        notes.append(
            Message(
                N_(
                    "{file}: no stage_history: one was derived from the snapshots (each stage "
                    "entered on the first snapshot showing it, up to {days} day(s) late; a "
                    "deal's first stage on created_at, a closing stage on closed_at). "
                    "Stage-level figures are approximate."
                ),
                file=Path(file).name,
                days=int(gap),
            )
        )
        return history


def latest_snapshot(
    frame: pl.DataFrame,
    *,
    file: str,
    notes: list[str],
    setaside: list[pl.DataFrame],
) -> tuple[pl.DataFrame, Snapshots | None]:
    """(each deal's row of its latest snapshot, the snapshots) of a deals table of snapshots.

    ``frame`` as read (text columns and ``source_row``); returned unchanged with ``None``
    when it has no snapshot column (:data:`SNAPSHOT_HEADERS`), no deal in two snapshots, or
    a snapshot date that does not read (said in a note: the rows then stay, and deals in
    several rows are quarantined as duplicates). The earlier rows go to ``setaside``
    (excluded, ``earlier_snapshot``).
    """
    names = {normalise_header(c): c for c in frame.columns}
    column = next((names[h] for h in SNAPSHOT_HEADERS if h in names), None)
    if column is None or "deal_id" not in frame.columns or frame.height < 2:
        return frame, None
    if frame.schema[column] == pl.String:
        said: list[str] = []
        text = normalise_dates(frame.select(column), [column], said, file=file, excel_serials=True)
        dates = text.to_series().str.strip_chars().str.slice(0, 10).str.to_date(strict=False)
    else:
        dates = frame[column].cast(pl.Date, strict=False)
    if frame.select(pl.col("deal_id").n_unique()).item() == frame.height:
        return frame, None  # (one snapshot, or one row per deal: nothing to choose)
    unread = frame[column].filter(dates.is_null())
    if unread.len():
        notes.append(
            Message(
                N_(
                    "{file}: {column} looks like the date of a snapshot, but {rows} value(s) "
                    "are not dates (e.g. {example}): the rows were not read as snapshots "
                    "(a deal in several rows is quarantined as a duplicate)."
                ),
                file=Path(file).name,
                column=column,
                rows=unread.len(),
                example=repr(unread[0]),
            )
        )
        return frame, None
    rows = frame.with_columns(dates.alias("__snapshot"))
    latest = pl.col("__snapshot").max().over("deal_id")
    if rows.select((pl.col("__snapshot") == latest).all()).item():
        return frame, None  # (each deal in one snapshot: nothing to choose)
    earlier = rows.select(pl.col("__snapshot") != latest).to_series()
    kept, aside = set_aside(
        frame,
        pl.lit(earlier),
        table="deals",
        file=file,
        kind="excluded",
        reason="earlier_snapshot",
    )
    setaside.append(aside)
    days = rows["__snapshot"].unique().sort()
    last = days[-1]
    latest_days = rows.filter(pl.col("__snapshot") == latest).unique("deal_id")
    missing = latest_days.filter(pl.col("__snapshot") < last)
    notes.append(
        Message(
            N_(
                "{file}: the deals are snapshots ({column}): {deals} deal(s) over {snapshots} "
                "snapshot date(s) from {first} to {last}; each deal's row of its latest "
                "snapshot is kept, and the {rows} earlier row(s) are listed as excluded."
            ),
            file=Path(file).name,
            column=column,
            deals=latest_days.height,
            snapshots=days.len(),
            first=days[0].isoformat(),
            last=last.isoformat(),
            rows=aside.height,
        )
    )
    if "status" in missing.columns:  # (a closed deal leaving the snapshots is as expected)
        status = pl.col("status").str.strip_chars().str.to_lowercase()
        missing = missing.filter(~status.is_in(["won", "lost"]))
    if missing.height:
        notes.append(
            Message(
                N_(
                    "{file}: {deals} deal(s) open in their latest snapshot are not in the last "
                    "one ({last}; e.g. {example}): they are kept as open, as they stood then. "
                    "The snapshots do not say whether they closed or were deleted: check them "
                    "in the CRM."
                ),
                file=Path(file).name,
                deals=missing.height,
                last=last.isoformat(),
                example=repr(missing.sort("deal_id")["deal_id"][0]),
            )
        )
    return kept, Snapshots(column, rows)
