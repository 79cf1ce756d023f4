"""The canonical format: a folder of ``<table>.csv``, ``.parquet`` or workbook (``.xlsx``) files."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

import polars as pl

from pipeline_kit.adapters._tools import (
    WORKBOOK_SUFFIXES,
    amount_form_hint,
    check_decimal,
    container_problem,
    epoch_columns,
    epoch_note,
    normalise_dates,
    read_decimal_commas,
    sheet_headers,
    without_repeated_headers,
    without_report_footer,
    workbook_sheets,
)
from pipeline_kit.adapters.base import (
    RawDataset,
    RawTable,
    check_unchanged,
    file_state,
    lazy_fingerprint,
    leads_only_note,
    no_deals_table,
    normalise_header,
    read_table_file,
)
from pipeline_kit.adapters.snapshots import SNAPSHOT_MESSAGES, Snapshots, latest_snapshot
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import DEFERRED_TABLES, TABLES

__all__ = ["read_canonical"]

# (.tsv and .txt: Excel's "Text (Tab delimited)" and "Unicode Text", read as the CSV is)
SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", *WORKBOOK_SUFFIXES)
_ISO_START = r"^\s*\d{4}-\d{1,2}-\d{1,2}"
_SERIAL = re.compile(r"^\s*\d{5}\s*$")
# a date written day and month first (3/1/2025, 03.01.2025, 03-01-2025), as a spreadsheet
# saving in a US, European or Indian locale writes it
_DAY_MONTH = re.compile(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d")
# a whole number of 10 or 12-13 digits: a Unix time in seconds or milliseconds
_UNIX = re.compile(r"^\s*(?:\d{10}|\d{12,13})\s*$")
# a month by name beside a day and year (May 01, 2024; 01-May-2024; 5 Mac 2024), or a date
# written in Chinese or Japanese (2024年3月5日)
_MONTH_NAME = re.compile(r"[^\W\d_]{3,}|年")
# files named like a table that the kit does not read (said, not ignored)
UNREAD_SUFFIXES = (".numbers", ".json", ".ndjson", ".jsonl")


def find_table_file(folder: Path, table: str) -> Path | None:
    """``folder/<table>.csv`` (or .tsv, .txt), .parquet or a workbook; an error if two exist."""
    found = [
        folder / f"{table}{suffix}" for suffix in SUFFIXES if (folder / f"{table}{suffix}").exists()
    ]
    if len(found) > 1:
        raise DataError(
            problem=f"both {found[0].name} and {found[1].name} exist",
            fix=f"keep only one file for the {table} table",
            file=str(folder),
        )
    return found[0] if found else None


def read_canonical(
    path: Path,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    date_order: Literal["month", "day"] | None = None,
    decimal: str | None = None,
    rates: dict[str, float] | None = None,
    reporting_currency: str | None = None,
) -> RawDataset:
    """Read every canonical table present in ``path``; only ``deals`` is mandatory.

    CSV files may be in any encoding (detected, and said in a note) unless ``encoding`` is
    given; the separator (, ; tab |) is read from the header unless ``separator`` is given.

    Dates are ISO; a file re-saved by a spreadsheet may hold ``1/21/2024`` instead: a column
    of slash dates (no ISO date among them) is read when the day/month order is certain from
    the values (a number above 12), else, and in any column, with ``date_order`` (``"month"``
    or ``"day"``), with a note either way (:func:`~pipeline_kit.adapters._tools.
    normalise_dates`); so is a column of Excel serial dates (only whole numbers from 20000 to
    80000). ``decimal=","`` reads ``1.234,50`` and ``1000,50`` in number columns as a
    mapping's ``decimal`` does.

    A ``currency`` column in the deals holding several codes: amounts are converted to one
    reporting currency with ``rates`` (units of a currency per reporting unit), or only the
    most common currency (``reporting_currency``) is kept, never a sum of several
    (:func:`~pipeline_kit.adapters.mapping.convert_currency`).
    """
    from pipeline_kit.adapters.mapping import checked_rates, convert_currency, read_status_words

    if not path.exists():
        raise DataError(
            problem="the data folder does not exist",
            fix="pass the folder that holds deals.csv (and the other tables) with --data",
            file=str(path),
        )
    if date_order not in (None, "month", "day"):
        raise DataError(
            problem=f"date_order={date_order!r}: only 'month' or 'day' are understood",
            fix="give date_order='month' for 1/21/2024 (US), 'day' for 21/1/2024",
        )
    check_decimal(decimal)
    try:
        rates = checked_rates(rates)
    except ValueError:
        raise DataError(
            problem=f"rates={rates!r} is not a dict of currency codes to rates",
            fix="give rates={'EUR': 0.92, 'GBP': 0.79} (units of each currency per "
            "reporting unit); on the command line --option 'rates={\"EUR\": 0.92}'",
        ) from None
    if reporting_currency is not None and not isinstance(reporting_currency, str):
        raise DataError(
            problem=f"reporting_currency={reporting_currency!r} is not a currency code",
            fix="give reporting_currency='EUR'",
        )
    tables: dict[str, RawTable] = {}
    files: list[Path] = []
    notes: list[str] = []
    hints: dict[tuple[str, str], str] = {}
    setaside: list[pl.DataFrame] = []
    sheets: dict[str, str | None] = {}  # table -> its sheet, for one workbook given
    snapshots: Snapshots | None = None  # a deals table of snapshots (see adapters.snapshots)
    if path.is_file():
        sheets = _tables_of_one_file(path, notes)
    for table in TABLES:
        if path.is_file() and table not in sheets:
            continue
        file = path if path.is_file() else find_table_file(path, table)
        if file is None:
            unread = _unread_table_files(path, table)
            if unread and table != "deals":
                expected = table + unread[0].suffix.lower()
                notes.append(
                    Message(
                        N_(
                            "{file} was not read: table files are named in lower case "
                            "({expected}); rename it to use it."
                        ),
                        file=unread[0].name,
                        expected=expected,
                    )
                    if unread[0].suffix.lower() in SUFFIXES
                    else Message(
                        N_(
                            "{file} was not read: the kit reads each table from a .csv, "
                            ".parquet or .xlsx file (save it as CSV UTF-8 to use it)."
                        ),
                        file=unread[0].name,
                    )
                )
            continue
        files.append(file)
        if table in DEFERRED_TABLES and file.suffix == ".parquet":
            # validated on first use (pipeline_kit.load): read then too; its columns now
            tables[table] = RawTable(
                table,
                read_table_file(file, notes, header_only=True),
                str(file),
                reader=functools.partial(_read_unchanged, file, file_state(file)),
            )
            continue
        frame = read_table_file(
            file, notes, encoding=encoding, separator=separator, sheet=sheets.get(table)
        )
        # (before the values are read: a header line among dates would hide their format)
        frame, aside = without_repeated_headers(frame, table=table, file=str(file), notes=notes)
        if aside.height:
            setaside.append(aside)
        frame, aside = without_report_footer(frame, table=table, file=str(file), notes=notes)
        if aside.height:
            setaside.append(aside)
        frame = _read_values(
            table, frame, file, notes, hints, date_order=date_order, decimal=decimal
        )
        if table == "deals":
            frame = read_status_words(frame, str(file), notes)
            hints[("deals", "status|dtype")] = Message(
                N_(
                    "A status written in a CRM's own words needs a mapping: `pipeline-kit "
                    "inspect {file}` drafts one with a [deals.values.status] table"
                ),
                file=file.name,
            )
            frame = convert_currency(
                frame,
                file=str(file),
                notes=notes,
                setaside=setaside,
                rates=rates,
                reporting_currency=reporting_currency,
            )
            # (a deal per snapshot date: its latest row kept, the rest excluded)
            frame, snapshots = latest_snapshot(
                frame, file=str(file), notes=notes, setaside=setaside
            )
        tables[table] = RawTable(table, frame, str(file))
    derived_history = snapshots is not None and snapshots.add_history(tables, notes)
    no_deals = "deals" not in tables and "leads" in tables
    if no_deals and (path.is_file() or not _unread_table_files(path, "deals")):
        tables = {"deals": no_deals_table(str(path / "deals.csv")), **tables}
        notes.append(leads_only_note(path.name))
    if "deals" not in tables:
        # (every file: one the kit does not read is named too, and an archive said to be one)
        found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        present = [p.name for p in found]
        problems = [e for p in found if (e := container_problem(p, archives_only=True))]
        if problems and not _unread_table_files(path, "deals"):
            raise problems[0]
        unread = _unread_table_files(path, "deals")
        if unread and unread[0].suffix.lower() in SUFFIXES:
            expected = "deals" + unread[0].suffix.lower()
            raise DataError(
                problem=f"the deals file is named {unread[0].name}; the kit looks for {expected}",
                fix=f"rename it to {expected} (table files are named in lower case)",
                file=str(unread[0]),
            )
        if unread:
            raise DataError(
                problem=f"{unread[0].name} is not a file the kit reads: each table is read "
                "from a .csv, .parquet or .xlsx file",
                fix=f"save {unread[0].name} as CSV UTF-8 (deals.csv), Parquet or an Excel "
                "workbook (deals.xlsx) in the same folder",
                file=str(unread[0]),
                examples=[f"files found: {', '.join(present) or 'none'}"],
            )
        # (the largest table file is most likely the deals: inspect drafts its mapping)
        tables_found = sorted(
            (p for p in found if p.suffix.lower() in SUFFIXES), key=lambda p: -p.stat().st_size
        )
        draft = (
            f"`pipeline-kit inspect {tables_found[0]}` drafts a mapping for an export of "
            "any other CRM"
            if tables_found
            else "an export of any other CRM needs a mapping (`pipeline-kit inspect FILE` "
            "drafts one)"
        )
        raise DataError(
            problem="no deals.csv or deals.parquet in this folder",
            fix="save the opportunities as deals.csv with the kit's columns (README, 'Data "
            "model'); a Salesforce, HubSpot, Pipedrive or Maven CRM export is read as it is "
            "when its files keep their names and headers (else name it: --source); "
            f"{draft}",
            file=str(path),
            examples=[f"files found: {', '.join(present) or 'none'}"],
        )
    return RawDataset(
        source="canonical",
        path=path,
        tables=tables,
        fingerprint="",  # (the files are hashed when the fingerprint is first asked for)
        fingerprinter=lazy_fingerprint(files),
        notes=notes,
        hints=hints,
        setaside=setaside,
        no_deals=no_deals,
        stage_history_approximate=derived_history,
        rule_messages=dict(SNAPSHOT_MESSAGES) if snapshots is not None else {},
    )


def _read_values(
    table: str,
    frame: pl.DataFrame,
    file: Path,
    notes: list[str],
    hints: dict[tuple[str, str], str],
    *,
    date_order: Literal["month", "day"] | None,
    decimal: str | None,
) -> pl.DataFrame:
    """The text of ``table``'s date and number columns as the loader reads it.

    Slash dates (a column re-saved by a spreadsheet, or any with ``date_order``) are
    rewritten as ISO when their order is certain or given, a column of Excel serial dates
    (45292) as the days they count, and numbers with a decimal comma
    as plain numbers when ``decimal=","``; each with a note. Columns of ISO dates and plain
    numbers are left as they are. Unreadable values get a fix pointing at these options and
    at ``pipeline-kit inspect``.
    """
    schema = {c: col.dtype for c, col in TABLES[table].columns().items() if c != "source_row"}
    text = [c for c in schema if c in frame.columns and frame.schema[c] == pl.String]
    dates = [c for c in text if schema[c] == pl.Date or isinstance(schema[c], pl.Datetime)]
    numbers = [c for c in text if schema[c] in (pl.Float64, pl.Int64)]
    if dates and frame.height:
        # (a column whose first value is ISO, as in most files, is not scanned)
        first = frame.select(pl.col(dates).drop_nulls().first()).row(0)
        # Excel serial dates (45292): looked at when the first value is a 5-digit number
        serials = [c for c, v in zip(dates, first, strict=True) if v and _SERIAL.match(v)]
        if date_order is None:
            # unasked, only columns a spreadsheet rewrote whole: a slash date among ISO ones
            # is a value typed by hand, quarantined as written
            odd = [c for c, v in zip(dates, first, strict=True) if v and _DAY_MONTH.match(v)]
            iso = frame.select(pl.col(odd).str.contains(_ISO_START).any()).row(0) if odd else ()
            with_slash = [c for c, found in zip(odd, iso, strict=True) if not found]
        else:
            slashed = frame.select(pl.col(dates).str.contains(_DAY_MONTH.pattern).any()).row(0)
            with_slash = [c for c, found in zip(dates, slashed, strict=True) if found]
        # Unix times (1714521600000): looked at when the first value is 10 or 12-13 digits
        unix = epoch_columns(
            frame, [c for c, v in zip(dates, first, strict=True) if v and _UNIX.match(v)]
        )
        said = epoch_note(frame, unix, str(file)) if unix else None
        if said is not None:
            notes.append(said)
        if with_slash or serials or unix:
            frame = normalise_dates(
                frame,
                [*with_slash, *serials, *unix],
                notes,
                file=str(file),
                prefer=date_order,
                epoch_ms=bool(unix),
                excel_serials=True,
            )
        # the month by name (May 01, 2024; 01-May-2024; 2024年3月5日): looked at when the
        # first value has letters, and read whole (a column with an ISO date is left as
        # written, as a slash date among ISO ones is)
        named = [c for c, v in zip(dates, first, strict=True) if v and _MONTH_NAME.search(v)]
        if named:
            from pipeline_kit.adapters.mapping import read_named_month_dates

            iso = frame.select(pl.col(named).str.contains(_ISO_START).any()).row(0)
            named = [c for c, found in zip(named, iso, strict=True) if not found]
            frame = read_named_month_dates(frame, named, str(file), notes)
    for c in dates:
        hints[(table, f"{c}|dtype")] = Message(
            N_(
                "Dates like 1/21/2024 are read when a value shows the day/month order; else "
                "load with date_order='month' (or 'day'), on the command line --option "
                "date_order=month; `pipeline-kit inspect {file}` shows the formats the file uses"
            ),
            file=file.name,
        )
    frame, decimal = read_decimal_commas(frame, numbers, file.name, notes, decimal)
    for c in numbers:
        hints[(table, f"{c}|dtype")] = (
            Message(N_("decimal=',' reads 1.234,50 or 1234,5; correct the other values"))
            if decimal == ","
            else Message(
                N_(
                    "If the file writes 1.234,50 or 1000,50, load with decimal=',' (--option "
                    "decimal=,); `pipeline-kit inspect {file}` shows how the file writes numbers"
                ),
                file=file.name,
            )
        )
    if "amount" in numbers and (unit := amount_form_hint(frame["amount"].drop_nulls())):
        hints[(table, "amount|dtype")] = unit
    return frame


def _tables_of_one_file(file: Path, notes: list[str]) -> dict[str, str | None]:
    """The canonical tables one file holds: table -> its sheet (None: the file, or its first).

    A workbook: each sheet named as a table (``deals``, ``Stage History``...) is that table;
    with none so named, its first sheet is the deals. A CSV or Parquet file is the table its
    name names (``leads.csv``), else the deals. A note says how the file was read.
    """
    if (problem := container_problem(file)) is not None:
        raise problem
    if file.suffix.lower() not in SUFFIXES:
        raise DataError(
            problem=f"{file.name} is not a file the kit reads: each table is read from a "
            ".csv, .parquet or .xlsx file",
            fix="give the folder holding the export, or save the table as CSV UTF-8",
            file=str(file),
        )
    if file.suffix.lower() in WORKBOOK_SUFFIXES:
        names = workbook_sheets(file)
        named = {normalise_header(n): n for n in names}
        found: dict[str, str | None] = {t: named[t] for t in TABLES if t in named}
        if not found:
            found = {"deals": _deals_sheet(file, names, notes)}
        notes.append(
            Message(
                N_("{file}: one workbook given, its sheets read as the tables {pairs}."),
                file=file.name,
                pairs=", ".join(f"{t} = {s!r}" for t, s in found.items()),
            )
        )
        return found
    table = normalise_header(file.stem)
    return {table if table in TABLES else "deals": None}


def _deals_sheet(file: Path, names: list[str], notes: list[str]) -> str:
    """The sheet of a workbook whose sheets are not named after tables that holds the deals.

    The first sheet, unless another's first row names more of the deals' columns (a summary
    or a pivot sheet put first): then that one, with a note.
    """
    if len(names) < 2:
        return names[0]
    wanted = set(TABLES["deals"].columns())
    headers = sheet_headers(file)
    fit = {n: len({normalise_header(h) for h in hs} & wanted) for n, hs in headers.items()}
    best = max(fit, key=lambda n: (fit[n], -names.index(n)))
    if fit[best] <= fit.get(names[0], 0):
        return names[0]
    notes.append(
        Message(
            N_(
                "{file}: its first sheet {first} is not the deals table; the sheet {sheet}, whose "
                "header names {columns} of the deals' columns, is read as the deals."
            ),
            file=file.name,
            first=repr(names[0]),
            sheet=repr(best),
            columns=fit[best],
        )
    )
    return best


def _unread_table_files(folder: Path, table: str) -> list[Path]:
    """Files named like ``table`` that :func:`find_table_file` does not find.

    In a format the kit does not read (``deals.json``, ...), or in one it reads under another
    case (``Deals.CSV``): the folder's other files are not looked at.
    """
    suffixes = (*UNREAD_SUFFIXES, *SUFFIXES)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.stem.lower() == table and p.suffix.lower() in suffixes
    )


def _read_unchanged(file: Path, state: tuple) -> pl.DataFrame:
    """The rows of ``file``, read after the load: an error if it changed since."""
    check_unchanged([file], [state], "before its rows were read (on the table's first use)")
    return read_table_file(file)
