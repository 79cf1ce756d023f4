"""Any other export, described by a mapping file (``load(path, mapping="mapping.toml")``).

A mapping says which file holds which canonical table, which header is which canonical column,
how the export writes its values, and fills required columns the export lacks. It is a TOML
file (read with :mod:`tomllib`) or the same structure as a dict::

    # optional defaults for every table (a table's section may override each of them)
    encoding = "latin-1"        # default: detected (UTF-8, else chardet's reading)
    separator = ";"             # default: the most frequent of , ; tab | in the header line
    date_format = "%d/%m/%Y"    # strptime format of the table's date columns, or a list of
                                # formats tried in order; default: ISO (and the slash, epoch
                                # and UTC-offset dates _tools.normalise_dates recognises)
    decimal = ","               # "1.234,50" -> 1234.50 in number columns; default "."
    sheet = "Deals"             # a workbook's sheet, by name or number from 1; default the first

    [deals]
    file = "opportunities.csv"  # relative to the data folder; a glob matching one file is fine
                                # (.csv, .tsv, .txt, .parquet, or a workbook: .xlsx, .xls, .ods)
    [deals.columns]             # canonical column = header in the file
    deal_id = "Opportunity ID"
    owner = "Sales Rep"
    [deals.values.status]       # value map of one canonical column
    "Closed Won" = "won"
    "Closed Lost" = "lost"
    "*" = "open"                # every other non-empty value
    [deals.constants]           # a value for every row, for a required column the export lacks
    team = "All"

=====================  =========================================================================
setting                effect
=====================  =========================================================================
``file``               the table's file: relative to the data folder, or, when ``path`` is one
                       file, to the mapping file's folder (the data file's own folder for a dict
                       mapping). ``deals`` defaults to ``path`` when it is a file, any other
                       table to ``<table>.csv``/``.parquet``. An absolute path is fine.
``columns``            ``canonical = "header"``; headers are matched exactly, else ignoring case,
                       spaces and punctuation (``squash``). A missing header is an error naming
                       the closest headers. One header may feed several canonical columns.
                       A list of headers (``closed_at = ["date_lost", "date_won"]``) reads
                       each row's value from the first one filled; with a value map, from
                       the first whose value the map names (Odoo: ``status = ["Active",
                       "Stage"]`` with ``"False" = "lost"``), else the first filled
                       (:func:`_first_filled`). The deals also take ``currency`` (each
                       deal's currency code, as a column or a constant).
(other headers)        a header whose normalised name (lower case, ``_`` between words) is a
                       canonical column not mapped nor constant is used as that column (also
                       when it feeds another one: ``status = "Stage"`` keeps ``Stage`` as the
                       stage); any other unmapped header is kept as an extra column under that
                       name (usable in ``by=``), unless the name is a canonical column already
                       mapped or constant: then it is dropped, and the note says so.
``values.<column>``    ``"export value" = "canonical value"``, matched ignoring case and
                       surrounding spaces; ``"*"`` maps every other non-empty value. Values not
                       in the map pass unchanged (an unknown status is quarantined by the loader).
``closed_at``          a single close-date column (the expected close while a deal is open, the
                       actual close once it is closed: Zoho, Salesforce reports) mapped to
                       ``closed_at``, with no other ``expected_close`` (or to both): read as
                       ``closed_at`` of won and lost deals and ``expected_close`` of open ones,
                       as the Salesforce adapter reads ``CloseDate`` (said in the note).
``constants``          ``column = value`` for every row (TOML dates and numbers are fine).
``fill_down``          columns whose empty cells take the value of the row above
                       (``fill_down = ["owner"]``: a sheet naming each rep once above their
                       rows, merged cells or "same as above"); said in the note with a count.
``date_format``        applied to the table's Date/Datetime columns that are text; a value that
                       does not match any format, or reads as a year before 1900, is left as it
                       was (the loader reads ISO values and quarantines the rest). ``"excel"``
                       reads whole numbers as Excel serial dates (45292 is 2024-01-01); without
                       a date_format, a column of only 20000-80000 is read so, with a note.
``decimal = ","``      applied to the table's number columns (Float64/Int64 in the schema):
                       ``1.234,50``, ``1 234,5`` and ``1234,5`` become ``1234.50``, ``1234.5``,
                       ``1234.5``; any other shape (``1.5``, ``1,234.50``) is left as it was.
``encoding``,          how the file is read (see :func:`~pipeline_kit.adapters._tools.
``separator``          read_export_file`); ignored for DataFrames.
``rates``,             for deals with a ``Currency`` column (kept as the extra column
``reporting_currency`` ``currency``) holding several codes: ``rates = { EUR = 0.92 }`` (units
                       of a currency per reporting unit) converts the amounts; without rates
                       only the most common currency (or ``reporting_currency``) is kept and
                       the other deals quarantined: amounts in several currencies are never
                       summed (:func:`convert_currency`); DataFrames alike.
``amount_unit``        ``"minor"``: the deals' amounts are written in the currency's minor unit
                       (Close: ``100050`` is 1000.50), divided by 100 (1 for JPY, 1000 for KWD;
                       by the deal's ``currency``, else ``reporting_currency``); a value that
                       is not a whole number is quarantined (:func:`_from_minor_units`).
=====================  =========================================================================

A deals section may map ``amount_period`` to the column saying what period each amount covers
(Close's ``value_period``: ``one_time``, ``monthly``, ``annual``; also ``quarterly``): the
amounts are then read as yearly (annualised) values, ``monthly x 12``, ``quarterly x 4``,
``annual`` and ``one_time`` (or an empty period) as written, as Close's ``annualized_value``
does; a period not understood is quarantined, and a note says how many of each were read
(:func:`annualise_amounts`). Without it every value is read as a one-off amount.

Options given to ``load`` (``encoding``, ``separator``, ``date_format``, ``decimal``,
``rates``, ``reporting_currency``, ``amount_unit``) take the
place of the mapping's top-level values; a table's own section still wins. Every rename, value
map, constant and format used is listed in one note per table, so ``ds.report()`` says exactly
what was done to the export.

:func:`draft_mapping` (``pipeline-kit inspect PATH``) writes a first mapping from the files
themselves: it guesses, says what it guessed, and leaves ``"?"`` where it cannot tell.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import glob
import hashlib
import json
import re
import textwrap
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline_kit.adapters._encoding import detect_encoding, unicode_encoding
from pipeline_kit.adapters._tools import (
    WORKBOOK_SUFFIXES,
    amount_code,
    amount_form_hint,
    amount_unit_note,
    container_problem,
    decimal_comma_numbers,
    decimal_evidence,
    epoch_columns,
    epoch_note,
    excel_serial,
    normalise_dates,
    parse_bool,
    plain_number,
    read_export_file,
    serial_date_columns,
    set_aside,
    sheet_headers,
    squash,
    to_reporting_currency,
    unix_time,
    without_blank_rows,
    without_repeated_headers,
    without_report_footer,
)
from pipeline_kit.adapters.base import (
    RawDataset,
    RawTable,
    fingerprint,
    leads_only_note,
    no_deals_table,
)
from pipeline_kit.adapters.pipedrive import ENTITY_PREFIX
from pipeline_kit.adapters.snapshots import (
    SNAPSHOT_HEADERS,
    SNAPSHOT_MESSAGES,
    Snapshots,
    latest_snapshot,
)
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import (
    FILLED_WHEN_ABSENT,
    TABLES,
    expected_columns,
    needed_columns,
)

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

__all__ = ["apply_mapping", "draft_mapping", "parse_mapping", "read_mapped"]

SETTINGS = (
    "encoding",
    "separator",
    "date_format",
    "decimal",
    "sheet",
    "rates",
    "reporting_currency",
    "amount_unit",
)
DICT_ORIGIN = "the mapping (a dict)"
SECTION_KEYS = ("file", "columns", "values", "constants", "fill_down", *SETTINGS)
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", *WORKBOOK_SUFFIXES)
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
# date_format = "excel": whole numbers are Excel serial dates (days since 1899-12-30)
EXCEL = "excel"
# date_format = "unix": whole numbers are Unix times (10 digits: seconds; 12-13: milliseconds)
UNIX = "unix"
# deal_id = "@line": no column holds ids; each row's id is its line in the file (source_row)
LINE_IDS = "@line"
# the tables whose own id a mapping may take from the line numbers
_LINE_ID_KEYS = {"deals": "deal_id", "leads": "lead_id", "activities": "activity_id"}
# what the loader does with a deals column of FILLED_WHEN_ABSENT that the draft leaves out
_WHEN_ABSENT = {
    "owner": "every deal's owner reads '(unknown)' (no rep figures); give the column "
    "(or a constant) if the export has one",
    "team": "every deal in one team, 'All'; give the column if the export has one",
    "created_at": "a win/loss export (figures over the whole export, none over "
    "time); give the column of creation dates if the export has one",
}
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%T", "%R", "%X", "%c", "%s")


# ----------------------------------------------------------------------------- the mapping


@dataclass
class Settings:
    """How a table's file is read and its values written (top level, or per table)."""

    encoding: str | None = None
    separator: str | None = None
    date_format: list[str] | None = None
    decimal: str | None = None
    sheet: str | int | None = None  # a workbook's sheet: its name, or its number from 1
    rates: dict[str, float] | None = None  # currency -> units of it per reporting unit
    reporting_currency: str | None = None
    amount_unit: str | None = None  # "minor": amounts in cents (the currency's minor unit)

    def over(self, base: Settings) -> Settings:
        """These settings where given, ``base`` elsewhere."""
        return Settings(
            *(
                getattr(self, name) if getattr(self, name) is not None else getattr(base, name)
                for name in SETTINGS
            )
        )


@dataclass
class Section:
    """One canonical table of the mapping."""

    table: str
    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # (the first, when several)
    # canonical -> every header, for a column mapped to several (the first filled is read)
    several: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    # columns whose empty cells take the value above (a sheet's merged cells: "same as above")
    fill_down: list[str] = field(default_factory=list)
    # status from yes/no flags: {"won": header, "closed": header} or {"won": ..., "lost": ...}
    status_flags: dict[str, str] = field(default_factory=dict)


@dataclass
class MappingSpec:
    """A parsed, checked mapping: defaults and one section per table."""

    origin: str  # the mapping file, or DICT_ORIGIN
    folder: Path | None  # the mapping file's folder
    defaults: Settings
    sections: dict[str, Section]
    digest: str  # identifies the mapping's content (part of the dataset fingerprint)


def _bad(origin: str, problem: str, fix: str, examples: list[str] | None = None) -> DataError:
    return DataError(problem=problem, fix=fix, file=_file_of(origin), examples=examples or [])


def _file_of(origin: str) -> str | None:
    """The mapping file to name in an error (none for a dict)."""
    return None if origin == DICT_ORIGIN else origin


def _text(value: Any) -> str:
    """A TOML scalar as the text the loader reads (dates ISO, booleans true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(type(value).__name__)


def _closest(word: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(word, choices, n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


_SAMPLE_DAY = dt.datetime(2024, 1, 31, 13, 45, 30, tzinfo=dt.UTC)


def _format_works(fmt: str) -> bool:
    """Whether polars reads back a date written with ``fmt`` (catches unknown directives)."""
    sample = pl.DataFrame({"v": [_SAMPLE_DAY.strftime(fmt)]})
    try:
        return sample.select(_strptime(pl.col("v"), fmt)).item() is not None
    except pl.exceptions.PolarsError:
        return False


def _settings(raw: Mapping[str, Any], origin: str, where: str) -> Settings:
    date_format = raw.get("date_format")
    if isinstance(date_format, str):
        date_format = [date_format]
    if date_format is not None and (
        not isinstance(date_format, list)
        or not date_format
        or not all(isinstance(f, str) and ("%" in f or f in (EXCEL, UNIX)) for f in date_format)
    ):
        raise _bad(
            origin,
            f"{where}date_format = {raw['date_format']!r} is not a strptime format",
            'write date_format = "%d/%m/%Y" (or a list of formats tried in order; "excel" for '
            'Excel serial day numbers such as 45292, "unix" for Unix times such as '
            "1714521600000)",
        )
    for fmt in date_format or []:
        if fmt not in (EXCEL, UNIX) and not _format_works(fmt):
            raise _bad(
                origin,
                f"{where}date_format {fmt!r} cannot read the dates it writes (31 January 2024 "
                f"written with it is {_SAMPLE_DAY.strftime(fmt)!r})",
                "use strptime directives: %d day, %m month, %Y year (%y two digits), %H:%M "
                'time, %b month name; e.g. "%d/%m/%Y"',
            )
    decimal = raw.get("decimal")
    if decimal is not None and decimal not in (",", "."):
        raise _bad(
            origin, f'{where}decimal = {decimal!r}: only "," or "." are understood', 'decimal = ","'
        )
    for key in ("encoding", "separator"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise _bad(origin, f"{where}{key} must be text", f'{key} = "..."')
    sheet = raw.get("sheet")
    if sheet is not None and (
        isinstance(sheet, bool) or not isinstance(sheet, (str, int)) or sheet == 0
    ):
        raise _bad(
            origin,
            f"{where}sheet = {sheet!r}: give a sheet's name or its number from 1",
            'sheet = "Deals" (or sheet = 2)',
        )
    reporting = raw.get("reporting_currency")
    if reporting is not None and not isinstance(reporting, str):
        raise _bad(origin, f"{where}reporting_currency must be text", 'reporting_currency = "EUR"')
    try:
        rates = checked_rates(raw.get("rates"))
    except ValueError:
        raise _bad(
            origin,
            f"{where}rates = {raw.get('rates')!r} is not a table of currency = rate",
            "rates = { EUR = 0.92, GBP = 0.79 } (units of each currency per reporting unit)",
        ) from None
    amount_unit = raw.get("amount_unit")
    if amount_unit not in (None, "minor"):
        raise _bad(
            origin,
            f'{where}amount_unit = {amount_unit!r}: only "minor" is understood',
            'amount_unit = "minor" when the export writes amounts in cents (100050 for '
            "1000.50); leave it out for amounts as written",
        )
    separator = raw.get("separator")
    if separator is not None and len(separator.replace("\\t", "\t")) != 1:
        raise _bad(
            origin, f"{where}separator = {separator!r} is not one character", 'separator = ";"'
        )
    return Settings(
        encoding=raw.get("encoding"),
        separator=separator.replace("\\t", "\t") if separator else None,
        date_format=date_format,
        decimal=decimal,
        sheet=sheet,
        rates=rates,
        reporting_currency=reporting,
        amount_unit=amount_unit,
    )


def checked_rates(rates: Any) -> dict[str, float] | None:
    """``rates`` as {CODE: rate}; ValueError unless a mapping of codes to positive numbers."""
    if rates is None:
        return None
    if not isinstance(rates, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
        for k, v in rates.items()
    ):
        raise ValueError(rates)
    return {k.strip().upper(): float(v) for k, v in rates.items()}


def convert_currency(
    frame: pl.DataFrame,
    *,
    file: str,
    notes: list[str],
    setaside: list[pl.DataFrame],
    rates: dict[str, float] | None,
    reporting_currency: str | None,
) -> pl.DataFrame:
    """Deals whose ``currency`` column holds several codes, in one reporting currency.

    Through :func:`~pipeline_kit.adapters._tools.to_reporting_currency`, as the CRM adapters
    do, so that amounts in different currencies are never summed: converted with ``rates``,
    or, without them, only the most common currency (or ``reporting_currency``) kept and the
    other rows quarantined (into ``setaside``); one code: unchanged, with a note. Without a
    currency column, amounts written with their code (``EUR 1,000.50``) are in the currency
    it names. Rates or a reporting currency for deals without either are an error.
    """
    coded = (
        "currency" not in frame.columns
        and "amount" in frame.columns
        and frame.height > 0
        and frame.schema["amount"] == pl.String
        and frame.select(amount_code(pl.col("amount")).is_not_null().any()).item()
    )
    if "currency" not in frame.columns and not coded:
        if rates or reporting_currency:
            raise DataError(
                problem="rates or reporting_currency were given, but the deals have no "
                "currency column",
                fix="add a currency column (each deal's currency code, e.g. EUR), or leave "
                "out rates and reporting_currency",
                file=file,
                examples=[
                    "columns found: " + ", ".join(c for c in frame.columns if c != "source_row")
                ],
            )
        return frame
    if rates and reporting_currency and reporting_currency.upper() not in rates:
        rates = {**rates, reporting_currency.upper(): 1.0}
    # (no currency column, but amounts written with their code, "EUR 1,000.50": each amount is
    # in the currency its code names, never summed with the others)
    out, aside = to_reporting_currency(
        frame.with_columns(pl.col("amount", *([] if coded else ["currency"])).cast(pl.String)),
        amount="amount",
        currency=None if coded else "currency",
        rates=rates,
        reporting=reporting_currency,
        table="deals",
        file=file,
        notes=notes,
    )
    if aside.height:
        setaside.append(aside)
    return out


def _string_table(raw: Any, origin: str, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _bad(origin, f"[{where}] must be a table of name = value", f"see [{where}] syntax")
    return dict(raw)


def _section(table: str, raw: Any, origin: str) -> Section:
    if not isinstance(raw, Mapping):
        raise _bad(origin, f"{table} must be a [section]", f"write [{table}] with file = ...")
    unknown = [k for k in raw if k not in SECTION_KEYS]
    if unknown:
        raise _bad(
            origin,
            f"[{table}] has unknown key(s) {', '.join(unknown)}"
            + _closest(unknown[0], list(SECTION_KEYS)),
            f"a table's section takes: {', '.join(SECTION_KEYS)}",
        )
    canonical = [c for c in TABLES[table].columns() if c != "source_row"]
    if table == "deals":  # each deal's currency code: kept beside amount, see convert_currency
        canonical.append("currency")
        canonical.append("amount_period")  # what period each amount covers, see annualise_amounts

    def check_columns(names: list[str], where: str) -> None:
        for name in names:
            if name not in canonical:
                raise _bad(
                    origin,
                    f"[{where}] names {name!r}, which is not a column of the {table} table"
                    + _closest(name, canonical),
                    f"use the canonical column names of {table}: {', '.join(canonical)} "
                    "(other columns of the file are kept under their own name)",
                )

    columns = _string_table(raw.get("columns", {}), origin, f"{table}.columns")
    check_columns(list(columns), f"{table}.columns")
    status_flags: dict[str, str] = {}
    if table == "deals" and isinstance(columns.get("status"), Mapping):
        status_flags = _status_flags(columns["status"], origin)
        columns["status"] = status_flags["won"]
    several: dict[str, list[str]] = {}
    for name, header in list(columns.items()):
        if isinstance(header, list) and len(header) == 1:
            columns[name] = header = header[0]
        if isinstance(header, list) and header:
            if not all(isinstance(h, str) and h.strip() and h != LINE_IDS for h in header):
                raise _bad(
                    origin,
                    f"[{table}.columns] {name} = {header!r}: each header must be non-empty text",
                    f'{name} = ["First header", "Second header"]',
                )
            several[name] = list(header)
            columns[name] = header[0]
            continue
        if not isinstance(header, str) or not header.strip():
            raise _bad(
                origin,
                f"[{table}.columns] {name} = {header!r}: a header must be non-empty text",
                f'{name} = "Header in the file"',
            )
        if header == LINE_IDS and _LINE_ID_KEYS.get(table) != name:
            raise _bad(
                origin,
                f"[{table}.columns] {name} = {LINE_IDS!r}: line numbers can only be the "
                f"{table} table's own id"
                + (f" ({_LINE_ID_KEYS[table]})" if table in _LINE_ID_KEYS else ""),
                f'{name} = "Header in the file"',
            )
    values = _string_table(raw.get("values", {}), origin, f"{table}.values")
    check_columns(list(values), f"{table}.values")
    value_maps: dict[str, dict[str, str]] = {}
    for name, vmap in values.items():
        vmap = _string_table(vmap, origin, f"{table}.values.{name}")
        try:
            value_maps[name] = {str(k): _text(v) for k, v in vmap.items()}
        except TypeError as exc:
            raise _bad(
                origin,
                f"[{table}.values.{name}] maps to a {exc}, not a value",
                '"Export value" = "canonical value"',
            ) from None
        seen: dict[str, str] = {}
        for key, target in value_maps[name].items():
            low = key.strip().lower()
            if low in seen and seen[low] != target:
                raise _bad(
                    origin,
                    f"[{table}.values.{name}] maps {key!r} twice, to {seen[low]!r} and "
                    f"{target!r} (keys are matched ignoring case and spaces)",
                    "keep one of the two lines",
                )
            seen[low] = target
    constants = _string_table(raw.get("constants", {}), origin, f"{table}.constants")
    check_columns(list(constants), f"{table}.constants")
    both = sorted(set(constants) & set(columns))
    if both:
        raise _bad(
            origin,
            f"{', '.join(both)} is both mapped to a column and given as a constant in [{table}]",
            "keep either the [columns] line or the [constants] line",
        )
    try:
        constant_text = {k: _text(v) for k, v in constants.items()}
    except TypeError as exc:
        raise _bad(origin, f"[{table}.constants] holds a {exc}", 'write column = "value"') from None
    fill_down = raw.get("fill_down", [])
    if isinstance(fill_down, str):
        fill_down = [fill_down]
    if not isinstance(fill_down, list) or not all(isinstance(c, str) for c in fill_down):
        raise _bad(
            origin,
            f"[{table}] fill_down = {fill_down!r} is not a list of columns",
            'fill_down = ["owner"]',
        )
    check_columns(fill_down, f"{table}.fill_down")
    file = raw.get("file")
    if file is not None and (not isinstance(file, str) or not file.strip()):
        raise _bad(origin, f"[{table}] file = {file!r} is not a file name", 'file = "x.csv"')
    return Section(
        table=table,
        file=file,
        columns=dict(columns),
        several=several,
        values=value_maps,
        constants=constant_text,
        settings=_settings(raw, origin, f"[{table}] "),
        fill_down=list(fill_down),
        status_flags=status_flags,
    )


def _status_flags(raw: Mapping[str, Any], origin: str) -> dict[str, str]:
    """``status = { won = "IsWon", closed = "IsClosed" }`` (or ``lost = ...``), checked."""
    flags = dict(raw)
    keys = set(flags)
    if "won" not in keys or len(keys & {"closed", "lost"}) != 1 or keys - {"won", "closed", "lost"}:
        raise _bad(
            origin,
            f"[deals.columns] status = {flags!r}: yes/no flags need won and one of closed or lost",
            'status = { won = "IsWon", closed = "IsClosed" } (or lost = "Is Lost")',
        )
    if not all(isinstance(h, str) and h.strip() for h in flags.values()):
        raise _bad(
            origin,
            f"[deals.columns] status = {flags!r}: each flag names a header (non-empty text)",
            'status = { won = "IsWon", closed = "IsClosed" }',
        )
    return {k: str(v) for k, v in flags.items()}


def status_from_flags(flags: dict[str, str]) -> pl.Expr:
    """won, lost or open from yes/no flag columns (``status = { won = ..., closed = ... }``).

    With a closed flag: won when won; lost when closed and not won; open when neither (as
    Salesforce's IsWon and IsClosed). With a lost flag: won when won, lost when lost, open
    when neither. A flag that is not yes/no, or flags that contradict each other (won but not
    closed; won and lost), give no status: the row is quarantined.

    >>> frame = pl.DataFrame({"W": ["true", "false", "false", "true"],
    ...                       "C": ["true", "true", "false", "false"]})
    >>> frame.select(status_from_flags({"won": "W", "closed": "C"})).to_series().to_list()
    ['won', 'lost', 'open', None]
    """
    won = parse_bool(pl.col(flags["won"]), blank=False)
    if "closed" in flags:
        closed = parse_bool(pl.col(flags["closed"]), blank=False)
        status = (
            pl.when(won & closed)
            .then(pl.lit("won"))
            .when(closed & ~won)
            .then(pl.lit("lost"))
            .when(~closed & ~won)
            .then(pl.lit("open"))
        )
    else:
        lost = parse_bool(pl.col(flags["lost"]), blank=False)
        status = (
            pl.when(won & ~lost)
            .then(pl.lit("won"))
            .when(lost & ~won)
            .then(pl.lit("lost"))
            .when(~won & ~lost)
            .then(pl.lit("open"))
        )
    return status.otherwise(pl.lit(None, pl.String))


def _load_mapping_file(mapping: str | Path) -> tuple[dict[str, Any], Path]:
    file = Path(mapping)
    if not file.is_file():
        raise DataError(
            problem="the mapping file does not exist"
            if not file.exists()
            else "the mapping is not a file",
            fix="give the path of the mapping TOML file (relative to the current folder); "
            "`pipeline-kit inspect DATA --out mapping.toml` drafts one",
            file=str(file),
        )
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle), file
    except tomllib.TOMLDecodeError as exc:
        raise DataError(
            problem=f"the mapping is not valid TOML: {exc}",
            fix='check quotes and brackets on that line (header names in "double quotes")',
            file=str(file),
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            problem=f"the mapping file is not UTF-8 text ({exc})",
            fix="save it as UTF-8",
            file=str(file),
        ) from exc


def parse_mapping(mapping: str | Path | Mapping[str, Any], **options: Any) -> MappingSpec:
    """The checked mapping (file or dict); ``options`` replace its top-level settings.

    Raises :class:`DataError` for an unknown table, key or canonical column, and for values
    of the wrong kind, naming the mapping file.
    """
    if isinstance(mapping, (str, Path)):
        raw, file = _load_mapping_file(mapping)
        origin, folder = str(file), file.parent
    elif isinstance(mapping, Mapping):
        raw, origin, folder = dict(mapping), DICT_ORIGIN, None
    else:
        raise DataError(
            problem=f"a mapping must be a TOML file path or a dict, not {type(mapping).__name__}",
            fix='mapping="mapping.toml" or mapping={"deals": {...}}',
        )
    unknown_options = [k for k in options if k not in SETTINGS]
    if unknown_options:
        raise DataError(
            problem=f"unknown option(s) for a mapped export: {', '.join(sorted(unknown_options))}",
            fix=f"with a mapping, load accepts: {', '.join(SETTINGS)}",
        )
    sections: dict[str, Section] = {}
    for key, value in raw.items():
        if key in SETTINGS:
            continue
        if key not in TABLES:
            kind = "table" if isinstance(value, Mapping) else "setting"
            raise _bad(
                origin,
                f"unknown {kind} {key!r}" + _closest(key, [*TABLES, *SETTINGS]),
                f"sections are canonical table names ({', '.join(TABLES)}); top-level settings "
                f"are {', '.join(SETTINGS)}",
            )
        sections[key] = _section(key, value, origin)
    defaults = _settings({**raw, **{k: v for k, v in options.items() if v is not None}}, origin, "")
    digest = hashlib.sha256(
        json.dumps([raw, options], sort_keys=True, default=str).encode()
    ).hexdigest()
    return MappingSpec(origin, folder, defaults, sections, digest)


# ----------------------------------------------------------------------------- applying it


def extra_name(header: str) -> str:
    """A header as an extra column name: lower case, words joined by ``_``.

    >>> extra_name("Deal Type (custom)"), extra_name("Region Code"), extra_name("Branche")
    ('deal_type_custom', 'region_code', 'branche')
    """
    return re.sub(r"[\W_]+", "_", header.lower()).strip("_")


def _find_header(headers: list[str], wanted: str, file: str, canonical: str) -> str:
    if wanted in headers:
        return wanted
    hits = [h for h in headers if squash(h) == squash(wanted)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise DataError(
            problem=f"the mapping's header {wanted!r} (for {canonical}) matches several columns "
            f"once case, spaces and punctuation are ignored: {', '.join(map(repr, hits))}",
            fix="write the header exactly as it is in the file",
            file=file,
            column=wanted,
        )
    near = (
        difflib.get_close_matches(wanted, headers, n=3, cutoff=0.4)
        or [h for h in headers if squash(wanted) and squash(wanted) in squash(h)][:3]
    )
    raise DataError(
        problem=f"no column {wanted!r} (mapped to {canonical}) in this file",
        fix="correct the header in the mapping: it must be one of the file's column names"
        + (f"; closest: {', '.join(repr(n) for n in near)}" if near else ""),
        file=file,
        column=wanted,
        examples=["columns found: " + ", ".join(headers)],
    )


def _quote(values: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


# Malay month names that are not English ones (Jan, Feb, Apr, Jun, Jul, Sep, Nov are both):
# a format with %b or %B reads them too ("5 Mac 2024", "12 Ogos 2024")
_MALAY_MONTHS = {
    "Januari": "Jan",
    "Februari": "Feb",
    "Mac": "Mar",
    "Mei": "May",
    "Julai": "Jul",
    "Ogos": "Aug",
    "Ogo": "Aug",
    "Okt": "Oct",
    "Oktober": "Oct",
    "Dis": "Dec",
    "Disember": "Dec",
}


def _english_months(text: pl.Expr) -> pl.Expr:
    """``text`` with the Malay month names (:data:`_MALAY_MONTHS`) as English abbreviations.

    (An abbreviation fits both %b and %B; a full name fits only %B.)
    """
    for malay, english in _MALAY_MONTHS.items():
        text = text.str.replace_all(rf"(?i)\b{malay}\b", english)
    return text


def _strptime(text: pl.Expr, fmt: str) -> pl.Expr:
    """``text`` read with ``fmt`` as ISO text.

    Null when it does not match or the year is implausible (``%Y`` reads ``24`` as the year
    24). A month by name (``%b``, ``%B``) may be English or Malay.
    """
    if "%b" in fmt or "%B" in fmt:
        text = _english_months(text)
    parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
    if "%z" in fmt or "%Z" in fmt:
        parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    has_time = any(d in fmt for d in _TIME_DIRECTIVES)
    iso = parsed.dt.strftime("%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d")
    return pl.when(parsed.dt.year().is_between(1900, 2200)).then(iso)


def _apply_dates(
    frame: pl.DataFrame, columns: list[str], formats: list[str], file: str
) -> tuple[pl.DataFrame, list[str]]:
    """Date columns read with ``formats``; (frame, values that matched none).

    Each column is parsed once, into a working column the new values and the list of
    unmatched values both read.
    """
    if not columns:
        return frame, []
    parsed = {c: f"__parsed_{c}" for c in columns}
    try:
        staged = frame.with_columns(
            pl.coalesce(
                [
                    excel_serial(pl.col(c))
                    if f == EXCEL
                    else unix_time(pl.col(c))
                    if f == UNIX
                    else _strptime(pl.col(c).str.strip_chars(), f)
                    for f in formats
                ]
            ).alias(parsed[c])
            for c in columns
        )
    except pl.exceptions.PolarsError as exc:
        raise DataError(
            problem=f"date_format {formats!r} cannot be used: {str(exc).splitlines()[0]}",
            fix='write a strptime format such as "%d/%m/%Y" or "%m/%d/%Y %H:%M"',
            file=file,
        ) from exc
    left = []
    for c in columns:
        text = pl.col(c).str.strip_chars()
        unread = pl.col(parsed[c]).is_null() & text.ne("") & text.str.contains(_ISO_DATE).not_()
        left.append(pl.col(c).filter(unread).unique(maintain_order=True).implode())
    unmatched = staged.select(pl.concat_list(left).alias("x"))["x"][0].to_list()
    frame = staged.with_columns(
        pl.coalesce(pl.col(parsed[c]), pl.col(c)).alias(c) for c in columns
    ).drop(*parsed.values())
    return frame, unmatched


def read_named_month_dates(
    frame: pl.DataFrame, columns: list[str], file: str, notes: list[str]
) -> pl.DataFrame:
    """Date columns written with the month by name (``May 01, 2024``) or in CJK as ISO.

    The month named (English or Malay) or the fields labelled (``2024年3月5日``), the order of
    day and month is certain. For each column, the formats of :data:`_DATE_PARTS` of that
    kind (each with the times of :data:`_TIME_PARTS`) are tried on its first 5,000 distinct
    values; those needed to read them (the one reading most first, then any reading a value
    the ones before did not) are applied, and one note names them. A value none reads (and
    an ISO one) is left as written, for the loader to read or quarantine.
    """
    formats = [
        d + t for d in _DATE_PARTS if "%b" in d or "%B" in d or "年" in d for t in _TIME_PARTS
    ]
    read: list[str] = []
    used: list[str] = []
    for c in columns:
        values = pl.DataFrame({"v": _distinct(frame[c])})
        fits = values.select(_strptime(pl.col("v"), f).is_not_null().alias(f) for f in formats)
        ranked = sorted(formats, key=lambda f: -fits[f].sum())
        needed: list[str] = []
        covered = pl.repeat(False, values.height, eager=True)
        for f in ranked:
            if (fits[f] & ~covered).any():
                needed.append(f)
                covered = covered | fits[f]
        if needed:
            frame, _ = _apply_dates(frame, [c], needed, file)
            read.append(c)
            used.extend(f for f in needed if f not in used)
    if read:
        notes.append(
            Message(
                N_(
                    "{file}: dates in {columns} name their month (or label year, month and "
                    "day): read as {formats}, the order being certain."
                ),
                file=Path(file).name,
                columns=", ".join(read),
                formats=" or ".join(used),
            )
        )
    return frame


def apply_mapping(
    section: Section,
    settings: Settings,
    frame: pl.DataFrame,
    file: str,
    notes: list[str],
    hints: dict[tuple[str, str], str],
    *,
    label: str,
) -> pl.DataFrame:
    """One table's frame renamed, mapped and normalised as ``section`` says.

    The frame has the headers as in the file, plus ``source_row``; one note lists everything
    done.
    """
    table = section.table
    schema = {c: col.dtype for c, col in TABLES[table].columns().items() if c != "source_row"}
    headers = [c for c in frame.columns if c != "source_row"]
    chosen = {
        c: _find_header(headers, h, file, c) for c, h in section.columns.items() if h != LINE_IDS
    }
    line_ids = [c for c, h in section.columns.items() if h == LINE_IDS]
    several = {
        c: [_find_header(headers, h, file, c) for h in hs] for c, hs in section.several.items()
    }
    flags = {k: _find_header(headers, h, file, "status") for k, h in section.status_flags.items()}
    used = set(chosen.values()) | {h for hs in several.values() for h in hs} | set(flags.values())
    taken = set(chosen) | set(section.constants) | set(line_ids)
    # the deals' currency code is read under its own name too (convert_currency)
    named = set(schema) | ({"currency", "amount_period"} if table == "deals" else set())
    by_name: dict[str, str] = {}
    extras: dict[str, str] = {}
    dropped: list[str] = []
    for header in headers:
        name = extra_name(header) or f"column_{headers.index(header) + 1}"
        if name in named and name not in taken:  # e.g. "Stage", also when status = "Stage"
            by_name[name] = header
            taken.add(name)
            continue
        if header in used:
            continue
        if name in named:  # already mapped or constant
            dropped.append(
                Message(
                    N_("{header} (its name is {name}, mapped from {source})"),
                    header=repr(header),
                    name=name,
                    source=repr(chosen[name]),
                )
                if name in chosen
                else Message(
                    N_("{header} (its name is {name}, given as a constant)"),
                    header=repr(header),
                    name=name,
                )
            )
            continue
        base, n = name, 2
        while name in extras or name == "source_row":
            name, n = f"{base}_{n}", n + 1
        extras[name] = header
    missing = [c for c in needed_columns(table) if c not in taken]
    if missing:
        first = missing[0]
        if first == _LINE_ID_KEYS.get(table):  # an id: never one constant for every row
            fix = (
                f'in the mapping, add under [{table}.columns] `{first} = "<header>"` naming the '
                f'column of unique ids, or `{first} = "{LINE_IDS}"` when the file has none '
                "(each row is then numbered by its line in the file)"
            )
        else:
            fix = (
                f'in the mapping, add under [{table}.columns] `{first} = "<header>"` naming the '
                f'file\'s column, or under [{table}.constants] `{first} = "<value>"` for every row'
            )
        raise DataError(
            problem=f"the {table} table needs {', '.join(missing)}: not mapped, no column of "
            "that name in the file, no constant",
            fix=fix,
            file=file,
            column=first,
            examples=["columns found: " + ", ".join(headers)],
        )
    out = frame.select(
        "source_row",
        *[
            (
                status_from_flags(flags)
                if c == "status" and flags
                else _first_filled(hs, section.values.get(c))
                if c in several
                else pl.col(h)
            ).alias(c)
            for c, h in chosen.items()
            for hs in [several.get(c, [h])]
        ],
        *[pl.col(h).alias(c) for c, h in by_name.items()],
        *[pl.lit(v, pl.String).alias(c) for c, v in section.constants.items()],
        *[pl.col("source_row").cast(pl.String).alias(c) for c in line_ids],
        *[pl.col(h).alias(n) for n, h in extras.items()],
    )
    done: list[str] = []
    if chosen:
        done.append(
            Message(
                N_("columns {pairs}"),
                pairs=", ".join(
                    f"{c} = {flags if c == 'status' and flags else several.get(c, h)!r}"
                    for c, h in chosen.items()
                ),
            )
        )
    if several:
        done.append(
            Message(
                N_(
                    "{columns}: each row's value from the first of the headers that is filled "
                    "(with a value map, the first whose value the map names)"
                ),
                columns=", ".join(several),
            )
        )
    if by_name:
        done.append(
            Message(
                N_("used under their own name {pairs}"),
                pairs=", ".join(f"{c} = {h!r}" for c, h in by_name.items()),
            )
        )
    if section.constants:
        done.append(
            Message(
                N_("constants {pairs}"),
                pairs=", ".join(f"{c} = {v!r}" for c, v in section.constants.items()),
            )
        )
    if line_ids:
        done.append(
            Message(
                N_(
                    "{column} = each row's line in the file (no id column: other tables cannot "
                    "refer to these rows, and the ids change when rows are added above them)"
                ),
                column=line_ids[0],
            )
        )

    for column in section.fill_down:
        if column not in out.columns:
            raise DataError(
                problem=f"the mapping's fill_down names {column}, which it does not map",
                fix=f"map {column} under [{table}.columns] (or remove it from fill_down)",
                file=file,
                column=column,
            )
        value = pl.col(column).cast(pl.String)
        filled = value.str.strip_chars().ne("").fill_null(False)
        n = int(out.select((~filled).sum()).item())
        out = out.with_columns(pl.when(filled).then(value).forward_fill().alias(column))
        done.append(
            Message(
                N_(
                    "fill_down {column}: {n} empty cell(s) take the value of the row above (a "
                    "sheet's merged cells, 'same as above')"
                ),
                column=column,
                n=n,
            )
        )

    # value maps
    for column, vmap in section.values.items():
        if column not in out.columns:
            raise DataError(
                problem=f"the mapping has [{table}.values.{column}] but no column {column}",
                fix=f"map {column} under [{table}.columns] (or remove its value map)",
                file=file,
                column=column,
            )
        out, mapped, kept = _map_values(out, column, vmap)
        part = (
            Message(
                N_("values of {column}: {mapped}"),
                column=column,
                mapped=Message.joined(mapped, ", "),
            )
            if mapped
            else Message(N_("values of {column}: none matched the map"), column=column)
        )
        if kept:
            part = Message(
                N_("{part}; left as they were: {kept}"), part=part, kept=Message.joined(kept, ", ")
            )
        done.append(part)

    out, split = _one_close_date(out, chosen, taken)
    if split is not None:
        done.append(split)
    if table == "deals" and "expected_close" in chosen and "closed_at" not in taken:
        hints[(table, "closed_deal_has_closed_at")] = Message(
            N_(
                "The mapping sends {header} to expected_close only: if it holds the close date "
                "of closed deals, map it to closed_at instead (it is then read as "
                "expected_close for open deals)"
            ),
            header=repr(chosen["expected_close"]),
        )

    # dates
    read_as = out.schema
    date_cols = [
        c
        for c, t in schema.items()
        if (t == pl.Date or isinstance(t, pl.Datetime)) and read_as.get(c) == pl.String
    ]
    if date_cols and settings.date_format:
        out, left = _apply_dates(out, date_cols, settings.date_format, file)
        formats = " or ".join(settings.date_format)
        part = Message(
            N_("dates in {columns} read as {formats}"),
            columns=", ".join(date_cols),
            formats=formats,
        )
        if left:
            part = Message(
                N_(
                    "{part}; {values} value(s) match neither it nor ISO and were left as they "
                    "were ({examples}), so the loader quarantines them"
                ),
                part=part,
                values=len(left),
                examples=_quote(left),
            )
        done.append(part)
        for c in date_cols:
            hints[(table, f"{c}|dtype")] = Message(
                N_(
                    "The mapping reads {c} with date_format {formats}: these values match "
                    "neither it nor ISO; correct them, or add their format to date_format (a "
                    "list)"
                ),
                c=str(c),
                formats=repr(formats),
            )
    elif date_cols:
        unix = epoch_note(out, date_cols, label)
        out = normalise_dates(out, date_cols, notes, file=label, excel_serials=True)
        if unix is not None:
            notes.append(unix)
        for c in date_cols:
            hints[(table, f"{c}|dtype")] = N_(
                'Give the export\'s date format in the mapping, e.g. date_format = "%d/%m/%Y"'
            )

    # numbers
    read_as = out.schema
    number_cols = [
        c for c, t in schema.items() if t in (pl.Float64, pl.Int64) and read_as.get(c) == pl.String
    ]
    if number_cols and settings.decimal == ",":
        out, left = decimal_comma_numbers(out, number_cols)
        part = Message(N_("decimal comma in {columns}"), columns=", ".join(number_cols))
        if left:
            part = Message(
                N_(
                    "{part}; {values} value(s) not in the 1.234,50 form were left as they were "
                    "({examples}): read as written (a point as the decimal point) where "
                    "possible, else quarantined"
                ),
                part=part,
                values=len(left),
                examples=_quote(left),
            )
        done.append(part)
    for c in number_cols:
        hints[(table, f"{c}|dtype")] = (
            Message(N_('The mapping reads decimal commas (decimal = ","): 1.234,50 or 1234,5'))
            if settings.decimal == ","
            else Message(N_('If the export writes 1.234,50, set decimal = "," in the mapping'))
        )
    if "amount" in number_cols:
        unit = amount_form_hint(out["amount"].drop_nulls())
        if unit is not None:
            hints[(table, "amount|dtype")] = unit
    if "amount" in chosen and (said := amount_unit_note(chosen["amount"], label)) is not None:
        notes.append(said)
    if "status" in schema:
        hints[(table, "status|dtype")] = (
            Message(
                N_(
                    'Add this value to [{table}.values.status] in the mapping (e.g. "On '
                    'hold" = "open"), or "*" = "open" for every value not listed'
                ),
                table=str(table),
            )
            if "status" in section.values
            else Message(
                N_(
                    "Map the export's words to open, won or lost under "
                    '[{table}.values.status] in the mapping, e.g. "Closed Won" = "won"'
                ),
                table=str(table),
            )
        )

    reading = [
        f"{name} {value!r}"
        for name, value in (
            ("encoding", settings.encoding),
            ("separator", settings.separator),
            ("sheet", settings.sheet),
        )
        if value is not None and not label.startswith("<")
    ]
    if reading:
        read_with: str = (
            Message(
                N_("{first} and {second}"),
                first=Message.joined(reading[:-1], ", "),
                second=reading[-1],
            )
            if len(reading) > 1
            else reading[0]
        )
        done.append(Message(N_("read with {settings}"), settings=read_with))
    if extras:
        done.append(
            Message(
                N_("extra columns kept {columns}"),
                columns=Message.joined(
                    [
                        n
                        if n == h
                        else Message(N_("{name} (from {header})"), name=n, header=repr(h))
                        for n, h in extras.items()
                    ],
                    ", ",
                ),
            )
        )
    if dropped:
        done.append(
            Message(
                N_("dropped {columns} (rename it in the mapping's [columns] to use it instead)"),
                columns=Message.joined(dropped),
            )
        )
    notes.append(
        Message(
            N_("{table} from {label} as the mapping says: {details}."),
            table=table,
            label=label,
            details=Message.joined(done),
        )
    )
    return out


def _from_minor_units(
    frame: pl.DataFrame,
    settings: Settings,
    file: str,
    notes: list[str],
    setaside: list[pl.DataFrame],
) -> pl.DataFrame:
    """Amounts written in the currency's minor unit (``amount_unit = "minor"``) in its major.

    Close and payment systems write 1000.50 USD as ``100050``: read as written, every amount
    figure was 100 times too large. Said by the mapping, never guessed. The divisor is the
    currency's (100 for USD and EUR, 1 for JPY, 1000 for KWD; Babel's precision), from the
    deal's ``currency`` column, else ``reporting_currency``, else 100. An amount that is not a
    whole number of minor units (``1000.50``, ``$1,000``) is quarantined, not divided.
    """
    from babel.numbers import get_currency_precision

    if "amount" not in frame.columns:
        return frame
    text = pl.col("amount").cast(pl.String).str.strip_chars()
    default = 10 ** get_currency_precision((settings.reporting_currency or "USD").upper())
    if "currency" in frame.columns:
        codes = frame["currency"].cast(pl.String).str.strip_chars().str.to_uppercase()
        known = {c: 10 ** get_currency_precision(c) for c in codes.drop_nulls().unique()}
        divisor = (
            pl.col("currency")
            .cast(pl.String)
            .str.strip_chars()
            .str.to_uppercase()
            .replace_strict(known, default=default, return_dtype=pl.Int64)
        )
    else:
        divisor = pl.lit(default, pl.Int64)
    whole = text.str.contains(r"^[+-]?\d+$")
    kept, aside = set_aside(
        frame,
        text.is_not_null() & text.ne("") & ~whole.fill_null(False),
        table="deals",
        file=file,
        kind="quarantined",
        reason="amount_not_minor_units",
    )
    if aside.height:
        setaside.append(aside)
    out = kept.with_columns(
        pl.when(whole)
        .then((text.cast(pl.Int64, strict=False) / divisor).cast(pl.String))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    pairs = pl.DataFrame({"was": kept["amount"], "is": out["amount"]}).drop_nulls()
    notes.append(
        Message(
            N_(
                "{file}: amounts read in the currency's minor unit, as the mapping says "
                '(amount_unit = "minor"): divided by 100 (1 for JPY, 1000 for KWD), e.g. '
                "{example} is {value}; {bad} amount(s) that are not whole numbers were "
                "quarantined."
            ),
            file=Path(file).name,
            example=pairs["was"][0] if pairs.height else "-",
            value=pairs["is"][0] if pairs.height else "-",
            bad=aside.height,
        )
    )
    return out


# what a period word multiplies an amount by to read it as a yearly value
PERIOD_FACTORS = {
    "one_time": 1,
    "onetime": 1,
    "one_off": 1,
    "once": 1,
    "monthly": 12,
    "month": 12,
    "quarterly": 4,
    "quarter": 4,
    "annual": 1,
    "annually": 1,
    "yearly": 1,
    "year": 1,
}


_PERIOD_KINDS = {
    "monthly": ["monthly", "month"],
    "quarterly": ["quarterly", "quarter"],
    "annual": ["annual", "annually", "yearly", "year"],
    "one_off": ["one_time", "onetime", "one_off", "once"],
}


def _period_word(column: str) -> pl.Expr:
    """A period as written, lower case, spaces and hyphens as ``_`` (``One-time`` -> one_time)."""
    return (
        pl.col(column)
        .cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .str.replace_all(r"[\s-]+", "_")
    )


def annualise_amounts(
    frame: pl.DataFrame,
    file: str,
    header: str | list[str] | None,
    notes: list[str],
    setaside: list[pl.DataFrame],
) -> pl.DataFrame:
    """Deals' amounts as yearly values, by the period the mapping's ``amount_period`` names.

    Close writes a subscription's value per month beside ``value_period = monthly``; read as
    a one-off amount, such a deal counted a twelfth of its first year. With ``amount_period``
    mapped: ``amount x`` :data:`PERIOD_FACTORS` (monthly 12, quarterly 4, annual and one-time
    1; an empty period: as written), so bookings, pipeline and deal sizes are annualised values
    (Close's ``annualized_value``). A period not understood is quarantined
    (``amount_period_unknown``), never read as one-off. Amounts are read as the loader reads
    them (:func:`~pipeline_kit.adapters._tools.plain_number`); one it cannot read is left for
    the loader to quarantine. The column is kept, as ``amount_period``. One note says how many
    of each period were read and gives an example.
    """
    if "amount" not in frame.columns:
        return frame
    word = _period_word("amount_period")
    blank = word.is_null() | word.eq("")
    kept, aside = set_aside(
        frame,
        ~blank & ~word.is_in(list(PERIOD_FACTORS)),
        table="deals",
        file=file,
        kind="quarantined",
        reason="amount_period_unknown",
    )
    if aside.height:
        setaside.append(aside)
    factor = pl.when(blank).then(1).otherwise(word.replace_strict(PERIOD_FACTORS, default=1))
    value = plain_number(pl.col("amount"), money=True)
    scaled = factor.ne(1) & value.is_not_null()
    out = kept.with_columns(
        pl.when(scaled)
        .then((value * factor).round(6).cast(pl.String))
        .otherwise(pl.col("amount").cast(pl.String))
        .alias("amount")
    )
    counts = kept.select(
        *[
            word.is_in(words).sum().alias(name)
            for name, words in _PERIOD_KINDS.items()
            if name != "one_off"
        ],
        (word.is_in(_PERIOD_KINDS["one_off"]) | blank).sum().alias("one_off"),
    ).row(0, named=True)
    example = kept.filter(scaled).head(1)
    column = header if isinstance(header, str) else "amount_period"
    notes.append(
        Message(
            N_(
                "{file}: amounts read as yearly values by their period ({column}), as the "
                "mapping says (amount_period): {monthly} monthly x 12, {quarterly} quarterly x 4, "
                "{annual} annual and {one_off} one-off (or without a period) as written, e.g. "
                "{example} {period} is {value}; bookings, pipeline and deal sizes are annualised "
                "values; {bad} deal(s) with a period not understood were quarantined."
            ),
            file=Path(file).name,
            column=repr(column),
            monthly=counts["monthly"],
            quarterly=counts["quarterly"],
            annual=counts["annual"],
            one_off=counts["one_off"],
            example=example["amount"][0] if example.height else "-",
            period=example["amount_period"][0] if example.height else "",
            value=out.filter(kept.select(scaled).to_series())["amount"][0]
            if example.height
            else "-",
            bad=aside.height,
        )
    )
    return out


def _first_filled(headers: list[str], vmap: dict[str, str] | None) -> pl.Expr:
    """A column mapped to several headers: each row's value from the first one filled.

    With a value map, the first header whose value the map names decides (Odoo's ``status =
    ["Active", "Stage"]`` with ``"False" = "lost"``, ``"Won" = "won"``: an archived deal is
    lost whatever its stage); a row where no header's value is named takes the first filled
    value (to which ``"*"`` then applies). Empty and blank cells count as not filled.
    """
    texts = [pl.col(h).cast(pl.String) for h in headers]
    filled = [pl.when(t.str.strip_chars().ne("")).then(t) for t in texts]
    keys = [k.strip().lower() for k in (vmap or {}) if k != "*"]
    if not keys:
        return pl.coalesce(filled)
    named: Then | ChainedThen | None = None
    for text in texts:
        hit = text.str.strip_chars().str.to_lowercase().is_in(keys)
        named = pl.when(hit).then(text) if named is None else named.when(hit).then(text)
    assert named is not None
    return named.otherwise(pl.coalesce(filled))


def _one_close_date(
    frame: pl.DataFrame, chosen: dict[str, str], taken: set[str]
) -> tuple[pl.DataFrame, str | None]:
    """One close-date column as closed_at of closed deals and expected_close of open ones.

    Most CRMs (Zoho, Salesforce reports, Freshsales) have a single close date: the expected
    close while a deal is open, the actual close once it is closed. When the mapping sends a
    column to ``closed_at`` with no other ``expected_close`` (or sends it to both), open deals
    get its value as ``expected_close`` and no ``closed_at``, as the Salesforce adapter reads
    ``CloseDate``; the part of the table's note returned counts them. (The loader
    quarantines an open deal with a ``closed_at``, and a closed one without.)
    """
    header = chosen.get("closed_at")
    both = header is not None and chosen.get("expected_close") == header
    if (
        header is None
        or "status" not in frame.columns
        or not (both or "expected_close" not in taken)
    ):
        return frame, None
    value = pl.col("closed_at").cast(pl.String).str.strip_chars()
    is_open = pl.col("status").cast(pl.String).str.strip_chars().str.to_lowercase().eq("open")
    moved = (is_open & value.is_not_null() & value.ne("")).fill_null(False)
    n = int(frame.select(moved.sum()).item())
    if not n:
        return frame, None
    frame = frame.with_columns(
        pl.when(moved).then(None).otherwise(pl.col("closed_at")).alias("closed_at"),
        (pl.col("expected_close") if both else pl.when(moved).then(pl.col("closed_at"))).alias(
            "expected_close"
        ),
    )
    return frame, Message(
        N_(
            "closed_at = {header} read as expected_close for the {n} open deal(s) that have "
            "one (the close date of won and lost deals, the expected close of open ones, as "
            "Salesforce's Close Date)"
        ),
        header=repr(header),
        n=n,
    )


def _map_values(
    frame: pl.DataFrame, column: str, vmap: dict[str, str]
) -> tuple[pl.DataFrame, list[str], list[str]]:
    """``column`` through a value map.

    Keys are matched ignoring case and surrounding spaces; ``"*"`` stands for every other
    non-empty value. Returns (frame, "'a' -> b (n rows)" parts, values left).
    """
    star = vmap.get("*")
    lookup = {k.strip().lower(): v for k, v in vmap.items() if k != "*"}
    text = pl.col(column).cast(pl.String).str.strip_chars()
    low = text.str.to_lowercase()
    present = low.is_not_null() & low.ne("")
    known = low.is_in(list(lookup))
    result: Then | ChainedThen = pl.when(known).then(
        low.replace_strict(lookup, default=None, return_dtype=pl.String)
    )
    if star is not None:
        result = result.when(present).then(pl.lit(star, pl.String))
    counts = (
        frame.select(text.alias("value"), low.alias("low"), known.alias("known"))
        .filter(pl.col("value").is_not_null() & pl.col("value").ne(""))
        .group_by("value", "low", "known", maintain_order=True)
        .len()
    )
    mapped: list[str] = []
    for key, target in vmap.items():
        if key == "*":
            continue
        n = int(counts.filter(pl.col("low") == key.strip().lower())["len"].sum())
        mapped.append(
            Message(
                N_("{key} -> {target} ({rows})"), key=repr(key), target=repr(target), rows=_rows(n)
            )
        )
    others = counts.filter(~pl.col("known"))
    if star is not None:
        n = int(others["len"].sum())
        mapped.append(
            Message(N_("any other value -> {target} ({rows})"), target=repr(star), rows=_rows(n))
        )
        kept: list[str] = []
    else:
        kept = [
            Message(N_("{value} ({rows})"), value=repr(v), rows=_rows(n))
            for v, n in others.select("value", "len").iter_rows()
        ]
    return frame.with_columns(result.otherwise(pl.col(column)).alias(column)), mapped, kept


def _rows(n: int) -> Message:
    """The row count as the notes write it: 1 row, 12 rows (the number unformatted)."""
    return Message(N_("{n} row") if n == 1 else N_("{n} rows"), n=str(n))


# ----------------------------------------------------------------------------- files


def _resolve_file(base: Path, pattern: str, table: str, origin: str) -> Path:
    candidate = Path(pattern)
    candidate = candidate if candidate.is_absolute() else base / candidate
    if glob.has_magic(pattern):
        matches = sorted(Path(p) for p in glob.glob(str(candidate)) if Path(p).is_file())
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise DataError(
                problem=f"the {table} file pattern {pattern!r} matches {len(matches)} files",
                fix="make the pattern match exactly one file (or name the file)",
                file=str(base),
                examples=[", ".join(p.name for p in matches[:10])],
            )
    elif candidate.is_file():
        return candidate
    present = (
        sorted(p.name for p in base.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
        if (base.is_dir())
        else []
    )
    near = difflib.get_close_matches(pattern, present, n=3, cutoff=0.5)
    raise DataError(
        problem=f"the {table} file {pattern!r} named by the mapping ({origin}) is not in {base}",
        fix="correct `file` in the mapping (relative to the data folder)"
        + (f"; closest: {', '.join(near)}" if near else ""),
        file=str(candidate),
        examples=[f"files found: {', '.join(present) or 'none'}"],
    )


def _default_file(base: Path, table: str, origin: str) -> Path:
    for suffix in (".csv", ".parquet", *WORKBOOK_SUFFIXES):
        if (base / f"{table}{suffix}").is_file():
            return base / f"{table}{suffix}"
    raise DataError(
        problem=f"the mapping's [{table}] section has no `file` and there is no {table}.csv",
        fix=f'add file = "<the {table} export>.csv" under [{table}] in the mapping',
        file=_file_of(origin),
    )


def read_mapped(path: Path, mapping: str | Path | Mapping[str, Any], **options: Any) -> RawDataset:
    """Read the export at ``path`` (a folder, or one file for ``deals``) as ``mapping`` says.

    ``options``: ``encoding``, ``separator``, ``date_format``, ``decimal``, in place of the
    mapping's top-level values. See the module docstring for the mapping format.
    """
    path = Path(path)
    spec = parse_mapping(mapping, **options)
    if not path.exists():
        raise DataError(
            problem="the data folder (or file) does not exist",
            fix="give the folder holding the export's files, or the export file itself",
            file=str(path),
        )
    sections = dict(spec.sections)
    # the file given stands for the deals, or for the leads of a mapping of leads only
    given = "leads" if "leads" in sections and "deals" not in sections else "deals"
    if path.is_file():
        # other files: beside the one given, else beside the mapping file
        base = path.parent
        if spec.folder is not None and not any(
            (path.parent / sec.file).is_file() or glob.has_magic(sec.file)
            for sec in sections.values()
            if sec.file is not None
        ):
            base = spec.folder
        sections.setdefault(given, Section(given))
    else:
        base = path
    no_deals = given == "leads"
    if "deals" not in sections and not no_deals:
        raise DataError(
            problem="the mapping has no [deals] section",
            fix='add [deals] with file = "<your opportunities export>.csv" and its [deals.columns]',
            file=_file_of(spec.origin),
        )
    notes: list[str] = []
    hints: dict[tuple[str, str], str] = {}
    tables: dict[str, RawTable] = {}
    files: list[Path] = []
    setaside: list[pl.DataFrame] = []
    snapshots: Snapshots | None = None  # a deals table of snapshots (see adapters.snapshots)
    for table, section in sections.items():
        if (
            section.file is not None
            and path.is_file()
            and table == given
            and (section.file == path.name)
        ):
            file = path
        elif section.file is not None:
            file = _resolve_file(base, section.file, table, spec.origin)
        elif table == given and path.is_file():
            file = path
        else:
            file = _default_file(base, table, spec.origin)
        settings = section.settings.over(spec.defaults)
        frame = read_export_file(
            file,
            notes,
            encoding=settings.encoding,
            separator=settings.separator,
            sheet=settings.sheet,
        )
        files.append(file)
        frame, aside = without_repeated_headers(frame, table=table, file=str(file), notes=notes)
        if aside.height:
            setaside.append(aside)
        frame, aside = without_report_footer(frame, table=table, file=str(file), notes=notes)
        if aside.height:
            setaside.append(aside)
        # (before the constants fill them: a blank line is no record)
        frame, aside = without_blank_rows(frame, table=table, file=str(file), notes=notes)
        if aside.height:
            setaside.append(aside)
        out = apply_mapping(section, settings, frame, str(file), notes, hints, label=file.name)
        if table == "deals" and settings.amount_unit == "minor":
            out = _from_minor_units(out, settings, str(file), notes, setaside)
        if table == "deals" and "amount_period" in out.columns:
            out = annualise_amounts(
                out, str(file), section.columns.get("amount_period"), notes, setaside
            )
        if table == "deals":
            out = convert_currency(
                out,
                file=str(file),
                notes=notes,
                setaside=setaside,
                rates=settings.rates,
                reporting_currency=settings.reporting_currency,
            )
            # (a deal per snapshot date: its latest row kept, the rest excluded)
            out, snapshots = latest_snapshot(out, file=str(file), notes=notes, setaside=setaside)
        tables[table] = RawTable(table, out, str(file))
    derived_history = snapshots is not None and snapshots.add_history(tables, notes)
    if no_deals:
        tables = {"deals": no_deals_table(str(base / "deals.csv")), **tables}
        notes.append(leads_only_note(path.name))
    digest = hashlib.sha256((fingerprint(files) + spec.digest).encode()).hexdigest()[:12]
    return RawDataset(
        no_deals=no_deals,
        source="mapping",
        path=path,
        tables=tables,
        fingerprint=digest,
        notes=notes,
        hints=hints,
        setaside=setaside,
        stage_history_approximate=derived_history,
        rule_messages=dict(SNAPSHOT_MESSAGES) if snapshots is not None else {},
    )


# ----------------------------------------------------------------------------- drafting


def _bar(text: str) -> list[str]:
    return text.split("|")


# canonical column -> headers it is often exported under, "|"-separated (compared with
# squash(), also without a parenthesised suffix: "Amount (USD)" is "Amount"); the canonical
# name itself is tried first
_ALIAS_TEXT: dict[str, dict[str, str]] = {
    "deals": {
        "deal_id": "Deal ID|Opportunity ID|Record ID|Id|Opp ID|Opportunity Number|Deal Number"
        "|hs_object_id|ID Urusniaga|No Urusniaga|(Do Not Modify) Opportunity|Item ID"
        "|Identifiant|Identificador"
        "|商机编号|商机ID|商机编码|机会编号|商機編號|商機ID|機會編號"
        # the record id of a HubSpot export in Spanish / Chinese, a plain "number" column
        "|ID del registro|ID de registro|记录 ID|記錄 ID|编号|編號"
        # HubSpot's record id in French, Portuguese, German and Italian (as exports and the
        # scripts that read them write it)
        "|ID de fiche d'informations|ID do registro|Datensatz-ID|ID record",
        "owner": "Owner|Deal owner|Opportunity Owner|Sales Rep|Rep|Owner Name|Account Executive"
        "|Salesperson|Sales Agent|Assigned to|Verkäufer|Vertriebsmitarbeiter|Propriétaire"
        "|Propriétaire de l'opportunité|Wakil Jualan|Pemilik|Pemilik Urusniaga"
        "|Commercial|Vendedor|Owner ID|Sales owner|Owned By|Owning User|User Name|Person"
        "|负责人|销售员|销售负责人|销售代表|商机负责人|所有人|負責人|銷售員|銷售代表|商機負責人|擁有者"
        # the owner as Salesforce (German, Chinese, Japanese UI) and HubSpot (Spanish,
        # Chinese UI) label it; Malay "jurujual" (salesperson); Chinese "销售" (sales)
        "|Opportunity-Inhaber|Inhaber|Deal-Inhaber|Propietario del negocio|Propietario"
        "|Propietario de la oportunidad|Propriétaire de la transaction|Jurujual"
        "|业务机会所有人|交易所有者|销售|業務機會擁有者|交易擁有者|所有者|商談 所有者|担当者"
        # Portuguese, Italian and Pipedrive's labels (without their "Negócio - " prefix)
        "|Proprietário do negócio|Proprietário|Proprietario|Proprietario dell'affare|Besitzer"
        "|Propriétaire de l'affaire|Responsável|Responsabile",
        "team": "Team|Sales Team|Team Name|Business Unit|Owning Business Unit|Vertriebsteam"
        "|Équipe|Equipo|Pasukan"
        "|Pasukan Jualan|团队|销售团队|所属团队|團隊|銷售團隊|所屬團隊"
        # the owner's role, the team of the Salesforce adapter (UserRole), as a report names it
        "|Owner Role|Opportunity Owner Role|Inhaberrolle|Rôle du propriétaire"
        "|Rol del propietario|所有人角色|所有者 ロール|ロール"
        "|Equipe|Equipa|Squadra|Team di vendita|Équipe commerciale|Equipo de ventas",
        "amount": "Amount|Value|Deal Value|Opportunity Amount|Deal Amount|Close Value|Betrag"
        "|Wert|Montant|Importe|Jumlah|Nilai|Nilai Urusniaga|Est. Revenue|Estimated Revenue"
        "|Expected Revenue"
        "|Valor|Valeur|Valore|Importo|Montante|Valor do negócio|Valor del negocio"
        "|金额|商机金额|销售金额|预计金额|金額|商機金額|銷售金額|預計金額",
        "created_at": "Created|Create Date|Created Date|Created On|Date Created|Deal created"
        "|Add time|Created Time|Erstellt am|Erstellt|Erstelldatum|Angelegt am|Date de création"
        "|Fecha de creación|Tarikh Dicipta|Tarikh Cipta"
        "|创建日期|创建时间|创建于|創建日期|創建時間|建立日期|建立時間"
        "|Tarikh Dibuat|作成日|作成日時"
        # Portuguese, Italian, German; Pipedrive's "created" in French, Portuguese, Spanish
        "|Data de criação|Data di creazione|Erstellungsdatum|Data de criação do negócio"
        "|Affaire créée|Negócio criado em|Trato creado|Deal erstellt|Fecha de creación del negocio",
        "stage": "Stage|Deal Stage|StageName|Pipeline Stage|Sales Stage|Phase|Verkaufsphase"
        "|Étape|Etapa|Status Label"
        "|Peringkat|Peringkat Urusniaga"
        "|阶段|销售阶段|商机阶段|階段|銷售階段|商機階段"
        "|Etapa del negocio|Etapa de la oportunidad|Fase|Deal-Phase|Étape de la transaction"
        "|交易阶段|交易階段|フェーズ|商談フェーズ"
        # HubSpot's deal stage in French, Portuguese, Italian; Pipedrive's stage in French
        "|Phase de la transaction|Etapa do negócio|Fase do negócio|Fase dell'affare"
        "|Fase della trattativa|Dealphase|Étape de l'affaire",
        "status": "Status|Deal Status|Status Type|Outcome|Result|Won|Is Won|Ergebnis|Statut|Estado"
        "|Status Urusniaga|状态|商机状态|赢单/输单|输赢|输赢状态|狀態|商機狀態|贏單/輸單|輸贏"
        "|Stato|Situação",
        "closed_at": "Close Date|Closed Date|Closed On|Date Closed|Closed|Deal closed on"
        "|Actual Close Date|Actual Closing Date"
        "|Closing Date|Close Time|Abschlussdatum|Abschluss am|Abgeschlossen am|Date de clôture"
        "|Fecha de cierre|Tarikh Ditutup|Tarikh Tutup"
        "|关闭日期|结单日期|成交日期|赢单日期|关单日期|關閉日期|結單日期|贏單日期|關單日期"
        # Salesforce's CloseDate in a Chinese and a Japanese UI (the single close date)
        "|结束日期|結束日期|完了予定日"
        # HubSpot's close date in French, Portuguese, Italian, German; Pipedrive's "closed on"
        "|Date de fermeture|Data de fechamento|Data de encerramento|Data di chiusura"
        "|Schließdatum|Negócio fechado em|Affaire conclue le|Trato cerrado el"
        "|Deal abgeschlossen am",
        "account_id": "Account ID|Account|Account Name|Company|Organization|Deal - Organization"
        "|Customer|Kunde|Client|Pelanggan|客户|客户名称|客戶|客戶名稱"
        "|Organisation|Organização|Organización|Organizzazione|Entreprise|Empresa|Azienda"
        "|Société|Unternehmen",
        "deal_type": "Deal Type|Type|Opportunity Type|Jenis Urusniaga|商机类型|商機類型",
        "lead_source": "Lead Source|Source|Origin|Channel|Sumber|Fonte|Fonte do Lead|Origem"
        "|Origen|Origine|Quelle"
        "|商机来源|线索来源|商機來源|線索來源",
        "industry": "Industry|Sector|Branche|Secteur|Industri|行业|行業",
        "region": "Region|Territory|Sales Region|Wilayah|区域|地区|區域|地區",
        "expected_close": "Expected Close Date|Expected Close|Expected Closing|Est. Close Date"
        "|Estimated Close Date|Jangkaan Tarikh Tutup"
        "|预计成交日期|预计结单日期|預計成交日期|預計結單日期"
        "|Date de clôture prévue|Data de fechamento esperada|Fecha de cierre prevista"
        "|Voraussichtliches Abschlussdatum|Data di chiusura prevista",
        "probability": "Probability|Win Probability|Wahrscheinlichkeit|Probabilité|Probabilidad"
        "|Kebarangkalian|赢率|赢单率|成交概率|贏率|贏單率|成交機率|Probabilidade|Probabilità"
        "|可能性|確度",
        "lost_reason": "Lost Reason|Loss Reason|Closed Lost Reason|Reason For Loss|Sebab Kalah"
        "|Raison de la perte|Raison de perte|Motivo da perda|Motivo de pérdida|Verlustgrund"
        "|Grund für den Verlust|Motivo della perdita"
        "|输单原因|丢单原因|輸單原因|丟單原因",
        "competitor": "Competitor|Primary Competitor|Pesaing|竞争对手|競爭對手",
        "product": "Product|Product Name|Produk|产品|產品",
    },
    "stage_history": {
        "deal_id": "Deal ID|Opportunity ID|Deal|Item ID",
        "stage": "Stage|StageName|To Stage|New Stage",
        "entered_at": "Entered At|Date Entered|Created Date|Changed At|Date|Log Time|Timestamp",
    },
    "stages": {
        "stage": "Stage|Stage Name|MasterLabel|ApiName",
        "order": "Order|Sort Order|Display Order|Position|Order Nr",
        "probability": "Probability|Default Probability",
        "pipeline": "Pipeline|Pipeline Name",
        "is_won": "Is Won|Won|Closed Won",
        "is_lost": "Is Lost|Lost|Closed Lost",
    },
    "leads": {
        "lead_id": "Lead ID|Id|Record ID",
        "created_at": "Created|Create Date|Created Date|Created On",
        "source": "Source|Lead Source|Origin|Channel",
        "owner": "Owner|Lead Owner|Assigned to|Owner ID",
        "team": "Team|Sales Team",
        "qualified_at": "Qualified At|Qualified Date|Date Qualified",
        "first_response_at": "First Response At|First Response|First Contact",
        "converted_at": "Converted At|Converted Date|Conversion Date",
        "deal_id": "Deal ID|Converted Opportunity ID",
    },
    "activities": {
        "activity_id": "Activity ID|Id|Task ID|Event ID|Record ID",
        "owner": "Owner|Assigned to|User|Assigned|Owner ID",
        "type": "Type|Activity Type|TaskSubtype|Subtype",
        "occurred_at": "Occurred At|Date|Activity Date|Completed At|Due Date|Timestamp",
        "deal_id": "Deal ID|Opportunity ID|WhatId|Related To",
        "lead_id": "Lead ID|WhoId",
    },
}
ALIASES = {
    table: {c: _bar(text) for c, text in columns.items()} for table, columns in _ALIAS_TEXT.items()
}
# used only when no stronger alias matched, and then said to be a guess
WEAK_ALIASES = {
    ("deals", "team"): ["Region", "Office", "Regional Office", "Territory"],
    # a Chinese CRM's export often names its deals, with no id column: a guess, said so
    ("deals", "deal_id"): ["商机名称", "商機名稱", "机会名称", "機會名稱"],
}
FILE_WORDS = {
    "deals": ("deal", "opportunit", "opps", "pipeline", "sales"),
    "stage_history": ("history", "stagechange", "flow", "changelog"),
    "stages": ("stage",),
    "leads": ("lead",),
    "activities": ("activit", "task", "event", "call", "engagement", "meeting"),
    "marketing_spend": ("spend", "marketing"),
    "customers": ("customer", "client", "account"),
    "targets": ("target", "quota"),
    "collateral_usage": ("collateral", "content"),
    "benchmarks": ("benchmark",),
}
# status words (lower case, punctuation as spaces), English, a few European languages, Malay
# and Chinese
STATUS_WORDS = {
    "won": _bar(
        "won|closed won|win|gewonnen|gagné|gagne|gagnée|fermée gagnée|fermé gagné|ganado|ganada"
        "|vinto|ganho|menang|赢单|贏單|赢|贏|geschlossen und gewonnen|cierre ganado|成交|已成交"
        "|成立"
        # the closed-won stage of HubSpot's and Pipedrive's default pipelines in French,
        # Portuguese, Spanish, Italian and German (and their feminine forms)
        "|conclue gagnée|conclu gagné|conclue gagnee|conclu gagne|fechado ganho|fechada ganha"
        "|ganha|cerrado ganado|cerrada ganada|chiuso vinto|chiusa vinta|vinta"
        "|abgeschlossen und gewonnen|abgeschlossen gewonnen"
    ),
    "lost": _bar(
        "lost|closed lost|loss|verloren|perdu|perdue|fermée perdue|fermé perdu|perdido|perdida"
        "|perso|kalah|输单|輸單|输|輸|丢单|丟單|geschlossen und verloren|cierre perdido|已丢单"
        "|不成立"
        "|conclue perdue|conclu perdu|fechado perdido|fechada perdida|cerrado perdido"
        "|cerrada perdida|chiuso perso|chiusa persa|persa|abgeschlossen und verloren"
        "|abgeschlossen verloren"
    ),
    "open": _bar(
        "open|offen|ouvert|ouverte|en cours|abierto|abierta|aperto|aberto|in progress|terbuka"
        "|active|进行中|進行中|跟进中|跟進中|dalam proses|sedang berjalan|en curso|en progreso"
        "|em andamento|em aberto|in corso|aperta|en cours de traitement"
        # monday.com's default status labels of an item still being worked on
        "|working on it|stuck"
    ),
}
_DATE_PARTS = _bar(
    "%Y-%m-%d|%d/%m/%Y|%m/%d/%Y|%d.%m.%Y|%d-%m-%Y|%m-%d-%Y|%Y/%m/%d|%d/%m/%y|%m/%d/%y|%d.%m.%y"
    "|%d-%b-%Y|%d %b %Y|%b %d, %Y"
    # the month by name in full, and with the weekday ("Monday, January 1, 2024")
    "|%B %d, %Y|%d %B %Y|%A, %B %d, %Y|%a %d %b %Y|%a, %d %b %Y"
    # Chinese and Japanese: 2024年3月5日 (the month and day need not be zero-padded)
    "|%Y年%m月%d日"
)
# (with an offset, " -0800": the day is then that of the time in UTC, as for ISO dates)
_TIME_PARTS = ["", " %H:%M", " %H:%M:%S", " %I:%M %p", "T%H:%M:%S", " %H:%M:%S %z"]


def _word(value: str) -> str:
    return re.sub(r"[\W_]+", " ", value.lower()).strip()


def _toml(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml(name)


def _letters(name: str) -> str:
    """``name``'s letters and digits in any script, case folded (``金额（元）`` is ``金额元``).

    :func:`squash` keeps ASCII letters alone, so a Chinese header squashes to nothing.
    """
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", name).casefold())


@functools.lru_cache(maxsize=4096)
def _header_keys(header: str) -> frozenset[str]:
    """The header squashed, also without a suffix or a connector's prefix.

    Without a parenthesised suffix, without a connector's ``property_`` prefix (HubSpot via
    Fivetran) and without Pipedrive's ``Deal - `` (``Affaire - ``, ...); and as its letters
    in any script (:func:`_letters`), so that Chinese headers are compared too.
    """
    bare = re.sub(r"\(.*?\)|\[.*?\]|（.*?）", "", header)
    # (a custom field's suffix: Zoho's "Reason For Loss__s", Salesforce's "Competitor__c")
    bare = re.sub(r"__[a-z]{1,2}$", "", bare.strip())
    # (Pipedrive's entity prefix, in any language it is written in: "Affaire - Valeur")
    field_only = ENTITY_PREFIX.sub("", bare)
    return frozenset(
        {
            squash(header),
            squash(bare),
            squash(field_only),
            squash(re.sub(r"^property_", "", bare)),
            _letters(header),
            _letters(bare),
        }
        - {""}
    )


def _candidates(headers: list[str], aliases: list[str]) -> list[str]:
    found: list[str] = []
    for alias in aliases:
        keys = {squash(alias), _letters(alias)} - {""}
        for header in headers:
            if keys & _header_keys(header) and header not in found:
                found.append(header)
    return found


@dataclass
class _Guess:
    table: str
    columns: dict[str, str]  # canonical -> header (the first, when several)
    alternatives: dict[str, list[str]]
    weak: set[str]
    score: float
    n_required: int
    name_hit: bool  # the file's name suggests the table
    # canonical -> headers read together, the first filled (closed_at = ["date_lost", "date_won"])
    several: dict[str, list[str]] = field(default_factory=dict)
    # status from yes/no flags: {"won": header, "closed" (or "lost"): header}
    status_flags: dict[str, str] = field(default_factory=dict)

    @property
    def plausible(self) -> bool:
        """Some required column found, and the file's name or most required columns agree."""
        share = self.n_required / max(len(expected_columns(self.table)), 1)
        return self.n_required > 0 and (self.name_hit or share >= 0.75)


def _guess_columns(table: str, headers: list[str], file_name: str) -> _Guess:
    aliases = ALIASES.get(table, {})
    canonical = [c for c in TABLES[table].columns() if c != "source_row"]
    required = expected_columns(table)
    order = [c for c in canonical if c in required] + [c for c in canonical if c not in required]
    columns: dict[str, str] = {}
    alternatives: dict[str, list[str]] = {}
    weak: set[str] = set()
    used: set[str] = set()
    for c in order:
        found = [h for h in _candidates(headers, [c, *aliases.get(c, [])]) if h not in used]
        if not found and (table, c) in WEAK_ALIASES:
            found = [h for h in _candidates(headers, WEAK_ALIASES[(table, c)]) if h not in used]
            if found:
                weak.add(c)
        if found:
            columns[c] = found[0]
            used.add(found[0])
            if len(found) > 1:
                alternatives[c] = found[1:]
    n_required = sum(c in columns for c in required)
    if table == "deals" and "stage" in columns and "status" in required and "status" not in columns:
        n_required += 1  # the draft reads the status from the stage names (_status_lines)
    n_optional = sum(c in columns and c not in required for c in canonical)
    score = n_required / max(len(required), 1) + 0.05 * n_optional
    # (Odoo keeps opportunities in its model crm.lead: its "crm.lead.xlsx" holds deals)
    stem = squash(Path(file_name).stem).replace("crmlead", "crmopportunity")
    name_hit = any(word in stem for word in FILE_WORDS.get(table, ())) and not (
        table == "stages" and "history" in stem
    )
    score += 0.5 if name_hit else 0.0
    return _Guess(table, columns, alternatives, weak, score, n_required, name_hit)


def _detect_encoding(file: Path) -> str | None:
    if file.suffix.lower() in (".parquet", *WORKBOOK_SUFFIXES):
        return None
    data = file.read_bytes()
    if unicode_encoding(data) is not None:
        return None  # (certain from its first bytes: the reader reads it without being told)
    try:
        data.decode("utf-8-sig")
        return None
    except UnicodeDecodeError:
        detected = detect_encoding(data)
        return detected[0] if detected is not None else None


def _distinct(series: pl.Series, limit: int = 5_000) -> pl.Series:
    """Distinct non-empty values (stripped), at most ``limit``."""
    return _non_empty(series).unique(maintain_order=True).head(limit)


def _non_empty(series: pl.Series) -> pl.Series:
    text = series.cast(pl.String).str.strip_chars().drop_nulls()
    return text.filter(text != "")


# columns a constant cannot stand for (identifiers, keys)
_KEYS = {"deal_id", "lead_id", "activity_id", "account_id", "content_id", "entered_at"}


def _order_of(fmt: str) -> str:
    d, m = fmt.find("%d"), fmt.find("%m")
    if d < 0 or m < 0 or fmt.startswith("%Y"):
        return "other"
    return "day" if d < m else "month"


def _swap(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _date_guess(
    frame: pl.DataFrame, columns: dict[str, str], european: bool
) -> tuple[list[str], list[str]]:
    """(date formats for the table, what was guessed) from the values of its date columns.

    Columns of Excel serial dates (only whole numbers from 20000 to 80000) or of Unix times
    (only whole numbers of 10 or 12-13 digits) are read as such without a format, or with
    ``"excel"`` / ``"unix"`` among the formats the other columns need.
    """
    schema = frame.schema
    text = [h for h in columns.values() if schema[h] == pl.String]
    serial = set(serial_date_columns(frame, text))
    unix = set(epoch_columns(frame, [h for h in text if h not in serial]))
    if not serial and not unix:
        return _date_formats(frame, columns, european)
    formats, sentences = _date_formats(
        frame, {c: h for c, h in columns.items() if h not in serial | unix}, european
    )
    for kind, headers, what in (
        (EXCEL, serial, "Excel serial day numbers (45292 is 2024-01-01)"),
        (UNIX, unix, "Unix times (1714521600000 is 2024-05-01 00:00 UTC)"),
    ):
        if headers:
            names = ", ".join(c for c, h in columns.items() if h in headers)
            sentences.append(f"dates in {names} are {what}: read as dates")
            # (alone, they are read without a format; among formats, named with them)
            formats = [*formats, kind] if formats else formats
    return formats, sentences


def _date_formats(
    frame: pl.DataFrame, columns: dict[str, str], european: bool
) -> tuple[list[str], list[str]]:
    """(date formats for the table, what was guessed) from the values of its date columns."""
    formats = [d + t for d in _DATE_PARTS for t in _TIME_PARTS]
    fits: dict[str, dict[str, int]] = {}
    values: dict[str, pl.Series] = {}
    for canonical, header in columns.items():
        distinct = _distinct(frame[header])
        non_iso = distinct.filter(~distinct.str.contains(_ISO_DATE))
        if non_iso.len():
            values[canonical] = non_iso
            fitting = pl.DataFrame({"v": non_iso}).select(
                _strptime(pl.col("v"), f).is_not_null().sum().alias(f) for f in formats
            )
            fits[canonical] = fitting.row(0, named=True)
    if not values:
        found = [c for c in columns if _distinct(frame[columns[c]]).len()]
        return [], [f"dates in {', '.join(found)} are ISO (read as they are)"] if found else []
    evidence: dict[str, list[str]] = {"day": [], "month": []}
    for canonical, counts in fits.items():
        day = max(n for f, n in counts.items() if _order_of(f) == "day")
        month = max(n for f, n in counts.items() if _order_of(f) == "month")
        if day != month:
            evidence["day" if day > month else "month"].append(canonical)
    if evidence["day"] and evidence["month"]:
        order, how = (
            None,
            (
                f"day-first in {', '.join(evidence['day'])} but month-first in "
                f"{', '.join(evidence['month'])}: check each column"
            ),
        )
    elif evidence["day"] or evidence["month"]:
        order = "day" if evidence["day"] else "month"
        how = f"certain: some values only fit {order} first"
    elif all(
        _order_of(max(counts, key=lambda f: counts[f])) == "other" for counts in fits.values()
    ):
        order, how = None, "unambiguous: year first, or the month by name"
    else:
        order = "day" if european else "month"
        how = (
            "AMBIGUOUS: no value decides between day first and month first; "
            + ("day first guessed from the ; separator" if european else "month first guessed")
            + ", check a date you know"
        )
    chosen: list[str] = []
    sentences: list[str] = []
    unread: list[str] = []
    for canonical, counts in fits.items():
        allowed = {order, "other"} if order else {"day", "month", "other"}
        best = max(
            (f for f in formats if _order_of(f) in allowed),
            key=lambda f: counts[f],
        )
        if counts[best] == 0:
            unread.append(f"{canonical} (e.g. {_quote(values[canonical].to_list(), 2)})")
            continue
        if best not in chosen:
            chosen.append(best)
        missed = values[canonical].filter(_strptime_series(values[canonical], best).is_null())
        if missed.len():
            sentences.append(
                f"{missed.len()} value(s) of {canonical} fit no format tried "
                f"({_quote(missed.to_list(), 2)}): they will be quarantined"
            )
    if chosen:
        sentences.insert(
            0,
            f"dates in {', '.join(c for c in fits if c not in {u.split()[0] for u in unread})}"
            f" look like {' or '.join(chosen)} ({how})",
        )
    if unread:
        sentences.append(f"no date format found for {', '.join(unread)}: give date_format")
    return chosen, sentences


def _table_guess(ranked: list[_Guess], table: str) -> _Guess:
    return next(g for g in ranked if g.table == table)


def _date_like(frame: pl.DataFrame, headers: list[str]) -> list[str]:
    """The text columns whose values mostly read as dates in a format the draft knows.

    For a file whose headers were not recognised: the formats of its date columns still
    belong in the draft.
    """
    formats = [d + t for d in _DATE_PARTS for t in _TIME_PARTS]
    found = []
    schema = frame.schema
    for header in headers:
        if schema[header] != pl.String:
            continue
        values = _distinct(frame[header], 200)
        if not values.len() or not values.str.contains(r"\d").all():
            continue
        read = pl.DataFrame({"v": values}).select(
            pl.any_horizontal(
                pl.col("v").str.contains(_ISO_DATE),
                *(_strptime(pl.col("v"), f).is_not_null() for f in formats),
            ).mean()
        )
        if read.item() >= 0.9:
            found.append(header)
    return found


def _number_like(frame: pl.DataFrame, headers: list[str]) -> list[str]:
    """The text columns whose values all look like amounts (digits, separators, a symbol)."""
    found = []
    schema = frame.schema
    for header in headers:
        if schema[header] != pl.String:
            continue
        values = _distinct(frame[header], 200).str.replace_all(r"[$€£¥]", "")
        if values.len() and values.str.contains(r"^\s*[-+]?\d[\d.,\s]*$").all():
            found.append(header)
    return found


def _strptime_series(values: pl.Series, fmt: str) -> pl.Series:
    return pl.DataFrame({"v": values}).select(_strptime(pl.col("v"), fmt)).to_series()


def _decimal_guess(frame: pl.DataFrame, columns: dict[str, str]) -> tuple[str | None, str | None]:
    """(decimal setting, what was guessed) from the values of the number columns."""
    if not columns:
        return None, None
    comma, point = decimal_evidence(pl.concat([_distinct(frame[h]) for h in columns.values()]))
    names = ", ".join(columns)
    if comma.len() and not point.len():
        return ",", f"decimal comma in {names} (e.g. {_quote(comma.to_list(), 2)})"
    if comma.len() and point.len():
        if comma.len() >= point.len():
            return ",", (
                f"decimal comma in {names} (e.g. {_quote(comma.to_list(), 2)}), BUT "
                f"{point.len()} value(s) look like a decimal point ({_quote(point.to_list(), 2)})"
                ": check them"
            )
        return None, (
            f"decimal point in {names} (e.g. {_quote(point.to_list(), 2)}), BUT {comma.len()} "
            f"value(s) look like a decimal comma ({_quote(comma.to_list(), 2)}): check them"
        )
    return None, None


def _status_words(values: pl.Series) -> dict[str, str | None]:
    """Each distinct value (one spelling per case-insensitive word) -> won/lost/open/None."""
    out: dict[str, str | None] = {}
    seen: set[str] = set()
    for value in values.value_counts(sort=True)[values.name].to_list():
        low = value.strip().lower()
        if low in seen:
            continue
        seen.add(low)
        word = _word(value)
        out[value] = next((s for s, words in STATUS_WORDS.items() if word in words), None) or next(
            (s for s, phrase in _CLOSING_PHRASES if word.startswith(phrase + " ")), None
        )
    return out


# a closing phrase of several words followed by more ("Closed Lost to Competition", a stage
# of Zoho's standard layout; "Closed Won - Renewal"): the deal is closed all the same
_CLOSING_PHRASES = [
    (s, w) for s in ("won", "lost") for w in STATUS_WORDS[s] if " " in w and "不" not in w
]


def read_status_words(frame: pl.DataFrame, file: str, notes: list[str]) -> pl.DataFrame:
    """``status`` written in words (``Closed Won``, ``In Progress``, ``Gewonnen``) as open/won/lost.

    For a canonical deals file, whose status should read open, won or lost: each distinct
    value that is not one of these but whose words say one (:data:`STATUS_WORDS`, the words
    `pipeline-kit inspect` reads) is read as it, with a note naming each value, what it was
    read as and its rows. Any other value is left as written (quarantined by the loader:
    ``Closed`` alone, or a word of the CRM's own, needs a mapping). One pass over the
    distinct values.
    """
    if "status" not in frame.columns or frame.schema["status"] != pl.String or not frame.height:
        return frame
    values = frame["status"].drop_nulls().unique()
    odd = values.filter(
        ~values.str.strip_chars().str.to_lowercase().is_in(["open", "won", "lost", ""])
    )
    known = {v: w for v, w in _status_words(odd).items() if w is not None} if odd.len() else {}
    if not known:
        return frame
    rows = dict(
        frame.filter(pl.col("status").is_in(list(known)))["status"].value_counts().iter_rows()
    )
    notes.append(
        Message(
            N_("{file}: status written in words, read as open, won or lost: {pairs}."),
            file=Path(file).name,
            pairs=", ".join(f"{v!r} -> {w} ({rows[v]} row(s))" for v, w in sorted(known.items())),
        )
    )
    return frame.with_columns(pl.col("status").replace(known))


_FLAG_VALUES = {"true", "false", "1", "0", "yes", "no", "y", "n", "t", "f"}
# headers of a yes/no flag saying a deal is closed, or lost (squashed)
_CLOSED_FLAGS = {"isclosed", "closed", "dealclosed", "closedflag", "isdealclosed"}
_LOST_FLAGS = {"islost", "lost", "closedlost", "deallost"}


def _is_flag_column(frame: pl.DataFrame, header: str) -> bool:
    """Whether ``header`` holds only yes/no values (true/false, 1/0, y/n), at least one."""
    values = {_word(v) for v in _distinct(frame[header], 200).to_list()}
    return bool(values) and values <= _FLAG_VALUES


def _partner_flag(frame: pl.DataFrame, won: str) -> tuple[str, str] | None:
    """("closed" or "lost", header) of a yes/no flag beside the won flag ``won``, if any."""
    for header in frame.columns:
        if header in (won, "source_row"):
            continue
        key = squash(re.sub(r"\?$", "", header))
        kind = "closed" if key in _CLOSED_FLAGS else "lost" if key in _LOST_FLAGS else None
        if kind is not None and _is_flag_column(frame, header):
            return kind, header
    return None


def _snapshot_sentence(frame: pl.DataFrame, guess: _Guess) -> list[str]:
    """What the loader will do with a deals file of snapshots (see adapters.snapshots)."""
    deal = guess.columns.get("deal_id")
    column = next((h for h in frame.columns if extra_name(h) in SNAPSHOT_HEADERS), None)
    if column is None or deal is None or frame[deal].n_unique() == frame.height:
        return []
    return [
        f"{column!r} says which snapshot each row is of (deals repeat): each deal's row of its "
        "latest snapshot is read, the earlier rows are listed as excluded, and a stage history "
        "is derived from the snapshots when none is given"
    ]


def _status_lines(
    frame: pl.DataFrame, guess: _Guess, sentences: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Lines of [deals.values.status] and the map they hold.

    When there is no status column but stage names say won and lost, status is taken from
    the stage column.
    """
    header = guess.columns.get("status")
    if header is not None and _is_flag_column(frame, header):
        partner = _partner_flag(frame, header)
        if partner is not None:
            kind, other = partner
            guess.status_flags = {"won": header, kind: other}
            for c, alternatives in list(guess.alternatives.items()):  # (a flag is no date)
                guess.alternatives[c] = [h for h in alternatives if h != other]
                if not guess.alternatives[c]:
                    del guess.alternatives[c]
            sentences.append(
                f"status: from the yes/no flags {header!r} and {other!r} (won when "
                f"{header!r}; lost when {other!r}"
                + (" and not won; open when neither)" if kind == "closed" else "; else open)")
            )
            return [], {}
    stage = guess.columns.get("stage")
    stage_words = _status_words(_distinct(frame[stage], 200)) if stage is not None else {}
    stage_tells = {"won", "lost"} <= set(stage_words.values())
    if header is not None and stage_tells:
        flags = {_word(v) for v in _distinct(frame[header], 200).to_list()}
        if flags <= {"true", "false", "1", "0", "yes", "no", "y", "n"}:
            sentences.append(
                f"status: {header!r} holds yes/no flags, which cannot tell lost deals from open "
                "ones: the stage names are used instead"
            )
            del guess.columns["status"]
            header = None
    derived = header is None
    if header is None:
        if not stage_tells or stage is None:  # (stage_tells implies a stage column)
            return [], {}
        header, words = stage, stage_words
    else:
        words = _status_words(_distinct(frame[header], 200))
    if len(words) > 30:
        sentences.append(
            f"status: {header!r} has {len(words)} different values, too many for a status: check"
        )
        return [], {}
    if all(w is not None and w == _word(v) for v, w in words.items()):
        sentences.append(f"status: {header!r} already says open, won or lost")
        return [], {}
    yes_means_won = squash(header) in {"won", "iswon", "closedwon"}
    lines: list[str] = []
    vmap: dict[str, str] = {}
    for value, status in words.items():
        if status is None and yes_means_won and _word(value) in {"true", "yes", "1", "y", "ja"}:
            status = "won"
        if status is not None:
            lines.append(f"{_toml(value)} = {_toml(status)}")
            vmap[value] = status
        elif not derived:
            lines.append(f'# {_toml(value)} = "?"  # not recognised: won, lost or open?')
    if derived:
        guess.columns["status"] = header
        lines.append('"*" = "open"  # every other stage: check that none of them is closed')
        vmap["*"] = "open"
        sentences.append(
            f"status: no status column; taken from the stage column {header!r} (stages "
            f"{', '.join(repr(v) for v, s in words.items() if s in ('won', 'lost'))} close "
            "the deal, every other stage is taken as open): check"
        )
    else:
        known = [f"{v!r} -> {s}" for v, s in vmap.items()]
        unknown = [repr(v) for v in words if v not in vmap]
        sentences.append(
            f"status values of {header!r}: {', '.join(known) or 'none recognised'}"
            + (f"; not recognised: {', '.join(unknown)} (fill the ? lines)" if unknown else "")
        )
    return lines, vmap


def _draft_sheet(file: Path) -> str | None:
    """The sheet of a workbook that looks most like the deals (None: the first, or no workbook).

    A summary or pivot sheet put first would otherwise be drafted as the table.
    """
    if file.suffix.lower() not in WORKBOOK_SUFFIXES:
        return None
    headers = sheet_headers(file)
    if len(headers) < 2:
        return None
    names = list(headers)
    fit = {n: _guess_columns("deals", hs, file.name).n_required for n, hs in headers.items()}
    best = max(names, key=lambda n: (fit[n], -names.index(n)))
    return best if fit[best] > fit[names[0]] else None


def _read_for_draft(file: Path) -> tuple[pl.DataFrame, str | None, str]:
    """The file's rows as a load reads them, its encoding and its separator.

    The header repeated between groups or joined exports, and a report's footer, are left
    out: their words were taken for values (a status word, a date to read).
    """
    encoding = _detect_encoding(file)
    frame = read_export_file(file, [], encoding=encoding, sheet=_draft_sheet(file))
    frame, _ = without_repeated_headers(frame, table=None, file=str(file), notes=[])
    frame, _ = without_report_footer(frame, table="", file=str(file), notes=[])
    frame, _ = without_blank_rows(frame, table="", file=str(file), notes=[])
    separator = ","
    if file.suffix.lower() not in (".parquet", *WORKBOOK_SUFFIXES):
        from pipeline_kit.adapters._tools import sniff_separator

        first = file.read_bytes().split(b"\n", 1)[0].decode(encoding or "utf-8-sig", "replace")
        separator = sniff_separator(first)
    return frame, encoding, separator


def draft_mapping(path: str | Path) -> tuple[str, list[str]]:
    """A first mapping for the export at ``path`` (a folder or one file), and what it guessed.

    For each data file: which canonical table it looks like (headers matched with the names
    CRMs commonly use), its columns, a status value map, the date format (said ambiguous when
    no value decides day first or month first), a decimal comma, the encoding. A required
    column it cannot find is written as a commented ``"?"`` line to fill in. Nothing here is
    certain: every guess is listed, with what it rests on.
    """
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in DATA_SUFFIXES)
        if not files:  # (an archive or a compressed file: said, not "no CSV file")
            for p in sorted(path.iterdir()):
                if p.is_file() and (problem := container_problem(p, archives_only=True)):
                    raise problem
    else:
        raise DataError(
            problem="no such file or folder", fix="give the export's folder", file=str(path)
        )
    if not files:
        raise DataError(
            problem="no CSV (or Parquet) file in this folder",
            fix="give the folder holding the export's files, or one file",
            file=str(path),
        )
    read = {file: _read_for_draft(file) for file in files}
    guesses: dict[Path, list[_Guess]] = {}
    for file, (frame, _, _) in read.items():
        headers = [c for c in frame.columns if c != "source_row"]
        ranked = sorted(
            (_guess_columns(t, headers, file.name) for t in TABLES),
            key=lambda g: g.score,
            reverse=True,
        )
        guesses[file] = ranked
    # each table from the file that fits it best; a file that fits nothing well is left out
    assigned: dict[str, tuple[Path, _Guess]] = {}
    pending = sorted(
        ((g.score, file, g) for file, ranked in guesses.items() for g in ranked),
        key=lambda x: -x[0],
    )
    done_files: set[Path] = set()
    for _, file, g in pending:
        if not g.plausible or file in done_files or g.table in assigned:
            continue
        assigned[g.table] = (file, g)
        done_files.add(file)

    sentences: list[str] = []
    lines = [
        f"# Mapping drafted by `pipeline-kit inspect {path}`.",
        "# Every line is a guess from the file's headers and values: check it.",
        '# Lines with "?" need you: fill them in and remove the leading "#".',
        '# Load with: pk.load(DATA, mapping="this file.toml")',
    ]
    skeleton = None  # the file drafted as deals although its headers were not recognised
    if "deals" not in assigned:
        left = [f for f in files if f not in done_files]
        if left:
            skeleton = max(left, key=lambda f: _table_guess(guesses[f], "deals").score)
            assigned["deals"] = (skeleton, _table_guess(guesses[skeleton], "deals"))
            done_files.add(skeleton)
            sentences.append(
                f"no file looks like the deals table by its headers: {skeleton.name} is drafted "
                "as its skeleton, fill each ? line with the column that holds it"
            )
        elif "leads" in assigned:
            sentences.append(
                "no deals file: the mapping reads leads only (lead figures); add a [deals] "
                "section for deal figures"
            )
        else:
            sentences.append(
                "no file looks like the deals table: write its [deals] section by hand"
            )
    order = sorted(assigned, key=list(TABLES).index)
    for table in order:
        file, g = assigned[table]
        frame, encoding, separator = read[file]
        runner_up = next(x for x in guesses[file] if x.table != table)
        required = expected_columns(table)
        found = [c for c in required if c in g.columns]
        why = f"{len(found)} of its {len(required)} required columns found by name"
        if runner_up.plausible and runner_up.score >= g.score - 0.15:
            why += f"; it could also be {runner_up.table}"
        if file != skeleton:
            sentences.append(f"{file.name} looks like the {table} table ({why})")
        section_sentences: list[str] = []
        status_lines, vmap = (
            _status_lines(frame, g, section_sentences) if table == "deals" else ([], {})
        )
        unit_line = None
        if table == "deals":
            if not status_lines and "status" not in g.columns:
                status_lines, vmap = _archived_as_lost(frame, g, section_sentences)
            section_sentences += _close_date_for_closed_deals(frame, g, vmap)
            section_sentences += _won_and_lost_dates(frame, g)
            _currency_column(frame, g)
            _amount_period_column(frame, g, section_sentences)
            unit_line = _minor_unit_line(frame, g, section_sentences)
            section_sentences += _other_amounts(frame, g)
            section_sentences += _snapshot_sentence(frame, g)
        schema = {c: col.dtype for c, col in TABLES[table].columns().items() if c != "source_row"}
        date_cols = {
            c: h
            for c, h in g.columns.items()
            if schema.get(c) == pl.Date or isinstance(schema.get(c), pl.Datetime)
        }
        date_cols |= {
            f"{c} ({h!r})": h for c, hs in g.several.items() if c in date_cols for h in hs[1:]
        }
        number_cols = {
            c: h for c, h in g.columns.items() if schema.get(c) in (pl.Float64, pl.Int64)
        }
        if file == skeleton:  # formats read from the columns whose values look like them
            unmatched = [
                h for h in frame.columns if h != "source_row" and h not in g.columns.values()
            ]
            date_cols |= {repr(h): h for h in _date_like(frame, unmatched)}
            number_cols |= {repr(h): h for h in _number_like(frame, unmatched)}
        formats, date_sentences = _date_guess(frame, date_cols, european=separator == ";")
        decimal, decimal_sentence = _decimal_guess(frame, number_cols)

        lines += ["", f"[{table}]"]
        if path.is_file() and table == "deals":
            lines.append(f"# file = {_toml(file.name)}  # not needed: the file given to load")
        else:
            lines.append(f"file = {_toml(file.name)}")
        if (sheet := _draft_sheet(file)) is not None:
            lines.append(f"sheet = {_toml(sheet)}  # the sheet that looks like the {table}")
            sentences.append(f"{file.name}: the sheet {sheet!r} holds the table, not the first")
        if encoding is not None:
            lines.append(
                f"encoding = {_toml(encoding)}  # not UTF-8; detected by chardet: "
                "a guess, check names with accents"
            )
            sentences.append(f"{file.name}: encoding {encoding} (detected, not certain)")
        if separator != ",":
            lines.append(f"separator = {_toml(separator)}")
        if formats:
            value = (
                _toml(formats[0]) if len(formats) == 1 else f"[{', '.join(map(_toml, formats))}]"
            )
            ambiguous = any("AMBIGUOUS" in s for s in date_sentences)
            lines.append(
                f"date_format = {value}  # "
                + (
                    "AMBIGUOUS: no value tells day and month apart, check a date you know"
                    if ambiguous
                    else "read from the values"
                    + (
                        ": the day/month order is certain"
                        if "certain:" in date_sentences[0]
                        else ""
                    )
                )
            )
        if unit_line is not None:
            lines.append(unit_line)
        if table == "deals" and (down := _same_as_above(frame, g, section_sentences)):
            lines.append(down)
        if decimal == ",":
            lines.append(
                'decimal = ","'
                + (
                    "  # some values look otherwise: check"
                    if "BUT" in str(decimal_sentence)
                    else ""
                )
            )
        section_sentences += date_sentences + ([decimal_sentence] if decimal_sentence else [])

        lines += ["", f"[{table}.columns]"]
        canonical = [c for c in schema] + [
            c for c in ("currency", "amount_period") if table == "deals" and c in g.columns
        ]
        for c in canonical:
            header = g.columns.get(c)
            if header is None:
                unique = _id_like(frame, g) if c == _LINE_ID_KEYS.get(table) else []
                if unique:
                    lines.append(
                        f'# {c} = "?"  # not found: give the column; unique in every row: '
                        + ", ".join(map(_toml, unique[:3]))
                    )
                elif c == _LINE_ID_KEYS.get(table):
                    lines.append(
                        f"{c} = {_toml(LINE_IDS)}  # no id column found: each row is numbered "
                        "by its line in the file; name the column of ids if there is one"
                    )
                    section_sentences.append(
                        f"{c}: no id column found: rows numbered by their line in the file "
                        f'({c} = "{LINE_IDS}"); give the column of ids if the export has one'
                    )
                elif c == "team" and table == "deals" and not _repeating(frame, g):
                    pass  # a constant below
                elif c in FILLED_WHEN_ABSENT.get(table, ()):
                    lines.append(f'# {c} = "?"  # not found: optional; give the column if any')
                elif c in required:
                    lines.append(
                        f'# {c} = "?"  # not found: give the column'
                        + (" (or a constant below)" if c not in _KEYS else "")
                    )
                continue
            comment = []
            if c in g.weak:
                comment.append(f"a guess: no {c} column, {header!r} may be something else")
                section_sentences.append(f"{c}: no such column; {header!r} proposed: check")
            if c in g.alternatives:
                comment.append("also fits: " + ", ".join(_toml(h) for h in g.alternatives[c]))
                section_sentences.append(
                    f"{c}: {header!r} chosen, but {', '.join(map(repr, g.alternatives[c]))} "
                    "also fit(s): check"
                )
            if c == "amount_period" and table == "deals":
                comment.append("yearly values: monthly x 12; without it, one-off amounts")
            value = (
                f"[{', '.join(map(_toml, g.several[c]))}]"
                if c in g.several
                else "{ " + ", ".join(f"{k} = {_toml(h)}" for k, h in g.status_flags.items()) + " }"
                if c == "status" and g.status_flags
                else _toml(header)
            )
            lines.append(f"{c} = {value}" + (f"  # {'; '.join(comment)}" if comment else ""))
        used = set(g.columns.values()) | {h for hs in g.several.values() for h in hs}
        used |= set(g.status_flags.values())
        extras = [h for h in frame.columns if h != "source_row" and h not in used]
        if extras:
            kept = "not mapped, kept as extra columns: " + ", ".join(
                extra_name(h) + (f" ({h!r})" if extra_name(h) != h else "") for h in extras
            )
            lines += textwrap.wrap(kept, 98, initial_indent="# ", subsequent_indent="#   ")
        if status_lines:
            lines += ["", f"[{table}.values.status]", *status_lines]
        if table == "deals" and (unknown := _amount_placeholders(frame, g, section_sentences)):
            lines += ["", f"[{table}.values.amount]", *unknown]
        missing = [
            c
            for c in required
            if c not in g.columns and (c != _LINE_ID_KEYS.get(table) or _id_like(frame, g))
        ]
        if any(c not in _KEYS for c in missing):
            lines += ["", f"[{table}.constants]"]
        for c in missing:
            if c == "team" and table == "deals" and not _repeating(frame, g):
                # (a one-team export loads as drafted; a column of repeated words may be teams)
                lines.append(
                    'team = "All"  # no team column found: every deal in one team; name the '
                    "column under [deals.columns] if there is one"
                )
                section_sentences.append(
                    'team: no team column found: every deal in one team, "All" (a constant); '
                    "give the column if the export has one"
                )
                continue
            if c not in _KEYS:
                lines.append(f'# {c} = "?"  # or one value for every row')
            if c in FILLED_WHEN_ABSENT.get(table, ()):
                section_sentences.append(f"{c}: not found (optional): {_WHEN_ABSENT[c]}")
                continue
            section_sentences.append(
                f"{c}: not found: fill the ? line"
                + (" with the column holding it" if c in _KEYS else ", with a column or a constant")
            )
        if table == "deals" and "status" in g.columns and "closed_at" in g.columns:
            section_sentences += _closed_open_deals(frame, g, vmap)
        sentences += [f"{table}: {s}" for s in section_sentences]
    for file in files:
        if file not in done_files:
            best = guesses[file][0]
            headers = [c for c in read[file][0].columns if c != "source_row"]
            lines += [
                "",
                f"# {file.name}: not recognised as a table (closest: {best.table}); its "
                f"columns: {', '.join(headers)}",
            ]
            sentences.append(
                f"{file.name}: not recognised (closest: {best.table}); add its section by hand"
            )
    return "\n".join(lines) + "\n", sentences


# a won date and a lost date, where a CRM has no single close date (Close: date_won, date_lost)
_WON_DATES = _bar(
    "date_won|Won Date|Date Won|Won On|Won Time|Gewonnen am|Datum des gewonnenen Deals"
    "|Date de gain|Ganho em|Fecha de ganado"
)
_LOST_DATES = _bar(
    "date_lost|Lost Date|Date Lost|Lost On|Lost Time|Verloren am|Datum des verlorenen Deals"
    "|Date de perte|Heure de l'échec|Data de perda|Fecha de perdido"
)
# the deal's currency code beside its amount (read by convert_currency)
_CURRENCY_HEADERS = _bar(
    "Currency|value_currency|Currency of value|Deal Currency|Opportunity Currency|Currency Code"
    "|CurrencyIsoCode|Währung|Devise|Moneda|Mata Wang|货币|币种|幣別|幣種|貨幣|Moeda|Moeda de Valor"
    "|Valuta"
)


def _unused(frame: pl.DataFrame, g: _Guess) -> list[str]:
    used = set(g.columns.values()) | {h for hs in g.several.values() for h in hs}
    return [h for h in frame.columns if h != "source_row" and h not in used]


def _won_and_lost_dates(frame: pl.DataFrame, g: _Guess) -> list[str]:
    """No close date, but a won date and a lost date: closed_at reads both, lost first.

    Close writes ``date_won`` (the close date: expected while a deal is active, actual once
    won) and ``date_lost``; mapped to neither, every won and lost deal was quarantined.
    """
    if "closed_at" in g.columns:
        return []
    won = _candidates(_unused(frame, g), _WON_DATES)
    lost = _candidates(_unused(frame, g), _LOST_DATES)
    if not won or not lost:
        return []
    g.columns["closed_at"] = lost[0]
    g.several["closed_at"] = [lost[0], won[0]]
    return [
        f"closed_at: no single close date: read from {lost[0]!r} where it is filled (lost "
        f"deals), else from {won[0]!r} (closed_at = [{lost[0]!r}, {won[0]!r}]: the first "
        "filled): check"
    ]


def _archived_as_lost(
    frame: pl.DataFrame, g: _Guess, sentences: list[str]
) -> tuple[list[str], dict[str, str]]:
    """No status column, a won stage, and an ``Active`` true/false column: Odoo's shape.

    Odoo has no lost stage: a lost opportunity is archived (Active False) in the stage it was
    in, and only a won one moves (to a stage such as Won). The status is then read from the
    flag first, then the stage (``status = ["Active", "Stage"]``, :func:`_first_filled`); from
    the stage alone every lost deal read as open (or was quarantined for its close date).
    """
    stage = g.columns.get("stage")
    if stage is None:
        return [], {}
    flag = next((h for h in _unused(frame, g) if squash(h) in {"active", "isactive"}), None)
    if flag is None:
        return [], {}
    values = _distinct(frame[flag], 10).to_list()
    false = [v for v in values if _word(v) in {"false", "0", "no"}]
    if not false or any(_word(v) not in {"true", "false", "1", "0", "yes", "no"} for v in values):
        return [], {}
    words = _status_words(_distinct(frame[stage], 200))
    won = [v for v, s in words.items() if s == "won"]
    if not won:
        return [], {}
    lost = [v for v, s in words.items() if s == "lost"]
    g.columns["status"] = flag
    g.several["status"] = [flag, stage]
    vmap = {false[0]: "lost", **dict.fromkeys(won, "won"), **dict.fromkeys(lost, "lost")}
    lines = [
        f'{_toml(false[0])} = "lost"  # archived ({flag} {false[0]}): Odoo archives lost deals',
        *(f"{_toml(v)} = {_toml(s)}" for v, s in vmap.items() if v != false[0]),
        '"*" = "open"  # every other stage: check that none of them is closed',
    ]
    vmap["*"] = "open"
    sentences.append(
        f"status: no status column; read from {flag!r} ({false[0]}: archived, taken as lost, "
        f"as Odoo archives lost opportunities in the stage they were in), else from the stage "
        f"column {stage!r} (stages {', '.join(map(repr, won + lost))} close the deal, every "
        "other stage is taken as open): check"
    )
    return lines, vmap


# what a hand-kept sheet writes for an amount not known yet
_PLACEHOLDERS = {"tbd", "tbc", "n/a", "na", "n.a.", "unknown", "?", "-", "–", "pending", "tba"}


def _amount_placeholders(frame: pl.DataFrame, g: _Guess, sentences: list[str]) -> list[str]:
    """``"TBD" = ""`` lines: an amount written as a word for "not known yet" read as empty.

    As written each such deal was quarantined ("amount could not be read": 5 open deals of
    the sweep's sheet, gone from every figure); empty, it counts in the rates and is left out
    of the amount figures, which say how many they left out.
    """
    header = g.columns.get("amount")
    if header is None:
        return []
    words = [v for v in _distinct(frame[header], 5_000).to_list() if v.lower() in _PLACEHOLDERS]
    if not words:
        return []
    n = int(frame[header].cast(pl.String).str.strip_chars().is_in(words).sum())
    sentences.append(
        f"amount: {n} {header!r} value(s) {', '.join(map(repr, words))} say the amount is not "
        "known: read as no amount (the deal counts in rates, not in amount figures)"
    )
    return [f'{_toml(w)} = ""  # not known yet: read as no amount' for w in words]


def _other_amounts(frame: pl.DataFrame, g: _Guess) -> list[str]:
    """Another amount column the user may mean: converted amounts, or what won deals brought.

    Freshsales writes ``Deal value`` in each deal's currency beside ``Base currency amount``;
    Dynamics 365 ``Est. Revenue`` beside ``Actual Revenue`` (of won deals). Said, not chosen.
    """
    header = g.columns.get("amount")
    if header is None:
        return []
    out = []
    for other in _unused(frame, g):
        key = squash(other)
        if key in {"basecurrencyamount", "amountinbasecurrency", "amountconverted"}:
            out.append(
                f"amount: {other!r} holds the amounts converted to one currency: to read it, set "
                f"amount = {other!r} and move the currency line to [deals.constants] as "
                f'currency = "<that currency>" (the currency column gives each deal\'s own, that '
                f"of {header!r})"
            )
        elif key == "actualrevenue":
            out.append(
                f"amount: {header!r} is the estimate; {other!r} holds what won deals brought in "
                "(kept as an extra column): bookings are read from the estimate"
            )
    return out


def _same_as_above(frame: pl.DataFrame, g: _Guess, sentences: list[str]) -> str | None:
    """``fill_down`` for an owner or team column written once above its rows.

    A hand-kept sheet names each rep once and leaves the cells below empty (merged, or "same
    as above"): read as written, every such deal counted under "(unknown)" (85 of 90 in the
    sweep's sheet). Drafted when the first row is filled, a fifth of the cells are empty and
    every name written appears once.
    """
    found: list[str] = []
    for c in ("owner", "team"):
        header = g.columns.get(c)
        if header is None or c in g.several or frame.height < 5:
            continue
        text = frame[header].cast(pl.String).str.strip_chars()
        empty = text.is_null() | text.eq("")
        named = text.filter(~empty)
        n_empty = int(empty.sum())
        if empty[0] or n_empty < frame.height / 5 or named.n_unique() < named.len():
            continue
        found.append(c)
        sentences.append(
            f"{c}: {n_empty} of {frame.height} {header!r} cells are empty and each name is "
            "written once, above its rows: read as 'same as above' (fill_down); remove the "
            "line if an empty cell means nobody"
        )
    if not found:
        return None
    return (
        f"fill_down = [{', '.join(map(_toml, found))}]  # empty cells take the value above "
        "(merged cells): check"
    )


def _currency_column(frame: pl.DataFrame, g: _Guess) -> None:
    """The deals' currency code column, when the export has one (Close's value_currency)."""
    if "currency" not in g.columns and "amount" in g.columns:
        found = _candidates(_unused(frame, g), _CURRENCY_HEADERS)
        if found:
            g.columns["currency"] = found[0]


def _amount_period_column(frame: pl.DataFrame, g: _Guess, sentences: list[str]) -> None:
    """The column saying what period each amount covers (Close's ``value_period``).

    Drafted as ``amount_period`` when an unused column's filled values are all period words
    (:data:`PERIOD_FACTORS`) and some are not one-off: read as written, a monthly value counted
    a twelfth of its year. The draft's comment and a sentence say what the line does.
    """
    if "amount_period" in g.columns or "amount" not in g.columns or frame.height == 0:
        return
    for header in _unused(frame, g):
        words = frame.select(_period_word(header)).to_series().drop_nulls()
        words = words.filter(words != "")
        if not words.len() or not words.is_in(list(PERIOD_FACTORS)).all():
            continue
        recurring = words.filter(~words.is_in(_PERIOD_KINDS["one_off"]))
        if not recurring.len():
            return
        g.columns["amount_period"] = header
        kinds = recurring.value_counts().sort(["count", recurring.name], descending=[True, False])
        said = ", ".join(f"{n} {w}" for w, n in kinds.iter_rows())
        sentences.append(
            f"amount: {header!r} says what period each amount covers ({said} of "
            f"{frame.height}): amount_period = {header!r} reads them as yearly values "
            "(monthly x 12, quarterly x 4); without it each is read as a one-off amount"
        )
        return


def _minor_unit_line(frame: pl.DataFrame, g: _Guess, sentences: list[str]) -> str | None:
    """``amount_unit = "minor"`` when another column writes each amount a hundredth as large.

    Close writes ``value`` in cents beside ``value_formatted`` (``4189672``, ``$41,896.72``):
    read as written every amount figure was 100 times too large, and the draft said nothing.
    The line is drafted only on that evidence (90% of at least 3 rows agree), never guessed.
    """
    header = g.columns.get("amount")
    if header is None or frame.height == 0:
        return None
    amount = frame[header].cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    if not (amount.fill_null(0) % 1 == 0).all():
        return None
    for other in _unused(frame, g):
        text = frame[other].cast(pl.String)
        written = (
            text.str.replace_all(r"[^0-9.\-]", "")
            .str.replace(r"^-?$", "")
            .cast(pl.Float64, strict=False)
        )
        both = amount.is_not_null() & written.is_not_null() & (amount != 0)
        if both.sum() < 3 or not text.str.contains(r"[,$€£¥]|\.\d\d").any():
            continue
        agree = ((amount / 100 - written).abs() < 0.005).filter(both)
        if agree.mean() >= 0.9:  # type: ignore[operator]
            row = int(both.arg_true()[0])
            sentences.append(
                f"amount: {header!r} is in cents ({int(amount[row])} is written "
                f'{text[row]!r} in {other!r}): amount_unit = "minor" divides it by 100'
            )
            return (
                f'amount_unit = "minor"  # {header!r} is in cents: {int(amount[row])} is '
                f"{text[row]!r} in {other!r}"
            )
    return None


def _id_like(frame: pl.DataFrame, g: _Guess) -> list[str]:
    """Unmapped columns that could hold the rows' ids: filled, a digit in each, 90% distinct.

    (Not wholly distinct: a duplicated id is a row for the quarantine, not a sign that the
    column holds something else.)
    """
    headers = [h for h in frame.columns if h != "source_row" and h not in g.columns.values()]
    if not headers or frame.height == 0:
        return []
    text = [pl.col(h).cast(pl.String).str.strip_chars() for h in headers]
    found = frame.select(
        (t.str.contains(r"\d").all() & (t.n_unique() >= 0.9 * pl.len())).alias(h)
        for t, h in zip(text, headers, strict=True)
    ).row(0)
    return [h for h, ok in zip(headers, found, strict=True) if ok]


def _repeating(frame: pl.DataFrame, g: _Guess) -> list[str]:
    """Unmapped text columns whose values repeat (teams, regions...), not dates or numbers."""
    headers = [h for h in frame.columns if h != "source_row" and h not in g.columns.values()]
    numeric = set(_date_like(frame, headers)) | set(_number_like(frame, headers))
    headers = [h for h in headers if h not in numeric]
    if not headers:
        return []
    found = frame.select(
        (pl.col(h).drop_nulls().n_unique() < pl.col(h).drop_nulls().len()).alias(h) for h in headers
    ).row(0)
    return [h for h, ok in zip(headers, found, strict=True) if ok]


def _statuses(frame: pl.DataFrame, g: _Guess, vmap: dict[str, str]) -> pl.Series:
    """The deals' statuses as the drafted mapping reads them (lower case)."""
    headers = g.several.get("status", [g.columns["status"]])
    status = frame.select(_first_filled(headers, vmap).alias("status"))
    if vmap:
        status, _, _ = _map_values(status, "status", vmap)
    return status["status"].str.strip_chars().str.to_lowercase()


def _filled(frame: pl.DataFrame, header: str) -> pl.Series:
    value = frame[header].cast(pl.String).str.strip_chars()
    return value.is_not_null() & value.ne("")


def _close_date_for_closed_deals(frame: pl.DataFrame, g: _Guess, vmap: dict[str, str]) -> list[str]:
    """With no closed_at column, an expected-close column filled for closed deals as closed_at.

    A single close-date column mapped to expected_close alone would quarantine every won and
    lost deal; mapped to closed_at it is read as closed_at of closed deals and expected_close
    of open ones (:func:`_one_close_date`).
    """
    header = g.columns.get("expected_close")
    if header is None or "closed_at" in g.columns or "status" not in g.columns:
        return []
    n = (_statuses(frame, g, vmap).is_in(["won", "lost"]) & _filled(frame, header)).sum()
    if not n:
        return []
    del g.columns["expected_close"]
    g.columns["closed_at"] = header
    return [
        f"{header!r} is filled for {n} won or lost deal(s): mapped to closed_at, which is "
        "read as the close date of closed deals and the expected close of open ones (mapped "
        "to expected_close alone, every closed deal would be quarantined)"
    ]


def _closed_open_deals(frame: pl.DataFrame, g: _Guess, vmap: dict[str, str]) -> list[str]:
    """What becomes of open deals whose close date is filled.

    With no other expected_close column it is read as their expected close (Salesforce's
    CloseDate is the expected close date while a deal is open); with one, the loader
    quarantines them.
    """
    header = g.columns["closed_at"]
    filled = frame.select(_first_filled(g.several.get("closed_at", [header]), None).alias("c"))
    n = (_statuses(frame, g, vmap).eq("open") & _filled(filled, "c")).sum()
    if not n:
        return []
    said = " or ".join(map(repr, g.several.get("closed_at", [header])))
    if g.columns.get("expected_close", header) == header:
        return [
            f"{said} is filled for {n} open deal(s): read as their expected close date "
            "(the close date of won and lost deals, the expected close of open ones)"
        ]
    return [
        f"{said} is filled for {n} open deal(s): the loader quarantines open deals with a "
        f"closed_at. If it is their expected close date, remove the expected_close line: "
        f"{said} is then read as expected_close for open deals"
    ]
