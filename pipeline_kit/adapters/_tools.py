"""Building blocks every adapter uses.

Reading an export file, finding a column under any of its names, turning a CRM's dates,
booleans and currencies into what the loader reads, and setting rows aside (excluded by
design, or quarantined) without losing count of them.

Adapters keep every value a string; these helpers only normalise the *text* (a US date becomes
ISO text, an amount in euros becomes the reporting currency's amount as text). Anything they
cannot read is left as it was, so the loader quarantines it with its usual message.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from pipeline_kit.adapters._encoding import decode, unicode_encoding
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

__all__ = [
    "SETASIDE_SCHEMA",
    "SetAsideLog",
    "amount_code",
    "amount_form_hint",
    "amount_unit_hint",
    "amount_unit_note",
    "archive_problem",
    "certain_decimal_comma",
    "check_decimal",
    "column",
    "container_problem",
    "decimal_comma_numbers",
    "decimal_evidence",
    "epoch_columns",
    "epoch_note",
    "excel_serial",
    "normalise_dates",
    "parse_bool",
    "plain_number",
    "read_decimal_commas",
    "read_export_file",
    "require_column",
    "serial_date_columns",
    "set_aside",
    "sheet_headers",
    "squash",
    "to_reporting_currency",
    "unix_time",
    "without_blank_rows",
    "without_repeated_headers",
    "without_report_footer",
]

SETASIDE_SCHEMA = {
    "table": pl.String,
    "file": pl.String,
    "source_row": pl.Int64,
    "kind": pl.String,
    "reason": pl.String,
    "record": pl.String,
}
SetAsideKind = Literal["excluded", "quarantined"]

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


def squash(name: str) -> str:
    r"""A column name reduced to lower-case letters and digits.

    So that the API name, the Fivetran name and the Stitch name of one field compare equal.

    Accents are folded, so that a label in French or Portuguese compares with its letters
    (``Étape`` and ``Etape``, ``Negócio`` and ``Negocio``); letters of other scripts drop out.

    >>> squash("StageName"), squash("stage_name"), squash("Deal - Stage"), squash("\ufeffId")
    ('stagename', 'stagename', 'dealstage', 'id')
    >>> squash("Affaire - Étape"), squash("Negócio - Título")
    ('affaireetape', 'negociotitulo')
    """
    if not name.isascii():
        name = "".join(
            c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
        )
    return re.sub(r"[^0-9a-z]", "", name.lower())


# ----------------------------------------------------------------------------- reading


def _physical_lines(content: str | bytes, separator: str, records: int) -> list[int] | None:
    """Physical line of each record (header = line 1) when quoted fields span lines.

    ``content``: the file's text, or its bytes when they are UTF-8. ``None`` when every record
    is on one line (the common case, line = index + 2).
    """
    if isinstance(content, bytes):
        newlines = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
    else:
        newlines = content.count("\n") + (0 if content.endswith("\n") else 1)
    if newlines <= records + 1:
        return None
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    starts: list[int] = []
    previous_end = 1
    for i, _ in enumerate(reader):
        if i:  # record i starts on the line after the previous record ended
            starts.append(previous_end + 1)
        previous_end = reader.line_num
    return starts[:records] if len(starts) >= records else None


def _ragged_lines(text: str, separator: str) -> tuple[int, list[tuple[int, int]]] | None:
    """The records with more fields than the header.

    (header field count, [(physical line, field count), ...]), or None when there are none
    (the file fails for another reason).
    """
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return None
    bad: list[tuple[int, int]] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            if len(record) > len(header):
                bad.append((start, len(record)))
            start = reader.line_num + 1
    except csv.Error:
        return None
    return (len(header), bad) if bad else None


# Excel's separator hint line ("sep=;"), after a BOM if any
_SEP_HINT = re.compile(rb'^(\xef\xbb\xbf)?"?sep=([,;\t|])"?[ \t]*\r?\n', re.IGNORECASE)


def sniff_separator(header: str) -> str:
    """The most frequent of , ; tab and | in the header line (many European exports use ;)."""
    return max([",", ";", "\t", "|"], key=header.count)


def read_export_file(
    path: Path,
    notes: list[str],
    *,
    encoding: str | None = None,
    separator: str | None = None,
    header_only: bool = False,
    sheet: str | int | None = None,
) -> pl.DataFrame:
    """A CSV export as strings, plus ``source_row``.

    Headers as written (BOM and surrounding spaces removed); ``source_row`` is the physical
    line of each row in the file (header = line 1), also when quoted fields hold line breaks.
    A Parquet file keeps its types (``source_row`` = row + 1); with ``header_only`` its columns
    are checked and returned without rows (the footer alone is read).

    Non-UTF-8 files are decoded with the detected encoding and a note says which. A workbook
    (:data:`WORKBOOK_SUFFIXES`) is read like a CSV: its first sheet, or ``sheet`` (a name, or a
    number from 1), every cell as text (:func:`_read_workbook`).

    Columns without a name (a separator ending every line, as Excel writes after a formatted
    empty column) are left out when they hold no value, with a note; one holding values is an
    error (:func:`_without_unnamed_columns`).
    """
    frame = _read_export_file(
        path, notes, encoding=encoding, separator=separator, header_only=header_only, sheet=sheet
    )
    return _without_text_formulas(_without_unnamed_columns(frame, path, notes), path, notes)


# ="00001": a value written as an Excel text formula, so that Excel keeps its leading zeros
_TEXT_FORMULA = r'^="([^"]*)"$'


def _without_text_formulas(frame: pl.DataFrame, path: Path, notes: list[str]) -> pl.DataFrame:
    """The values written as Excel text formulas (``="00001"``) as the text they hold.

    Tools that write CSVs for Excel wrap ids in ``="..."`` so that Excel keeps their leading
    zeros; the kit kept ``="00001"`` as the id, without a word. Each column holding such
    values is read as their text (``00001``), with a note naming the columns and the count.
    """
    text = [c for c, t in frame.schema.items() if t == pl.String]
    if not text or frame.height == 0:
        return frame
    # a prefix test first (it reads the 4 bytes a string view holds inline: 0.07 s on 1M
    # deals and 3.9M stage entries, where the regular expression over every value took 0.36 s)
    maybe = frame.select(pl.col(text).str.starts_with('="').any()).row(0)
    text = [c for c, hit in zip(text, maybe, strict=True) if hit]
    if not text:
        return frame
    counts = frame.select(pl.col(c).str.contains(_TEXT_FORMULA).sum() for c in text).row(0)
    found = [c for c, n in zip(text, counts, strict=True) if n]
    if not found:
        return frame
    notes.append(
        Message(
            N_(
                "{file}: {count} value(s) in {columns} are written as Excel text formulas "
                '(="00001", to keep leading zeros): read as the text they hold (00001).'
            ),
            file=path.name,
            count=str(sum(counts)),
            columns=", ".join(found),
        )
    )
    return frame.with_columns(pl.col(c).str.replace(_TEXT_FORMULA, "${1}").alias(c) for c in found)


# workbooks that are zip files (read as workbooks, or named as such: Apple's .numbers)
_ZIPPED_WORKBOOKS = (".xlsx", ".xlsm", ".xlsb", ".ods", ".numbers")
_JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")


def container_problem(path: Path, *, archives_only: bool = False) -> DataError | None:
    """What ``path`` really is, as an error saying what to do, when the kit cannot read it.

    An archive (``export.zip``, as HubSpot and Salesforce send exports), a compressed file
    (``deals.csv.gz``), JSON, or a web page or an Excel 2003 XML file named ``.xls`` (what
    several CRMs' "Export to Excel" writes). Known from the file's first bytes (and the
    zip's list of files), never from its name alone; None for anything else, which is read
    as its suffix says. ``archives_only``: only a zip or a gzip file (for a folder's files,
    of which only a table's is read). Without this, a zip was read as a CSV ("not UTF-8 ...
    line 1: PK"), and a web page as a broken workbook ("Cfb error: Invalid OLE").
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError:
        return None
    name, suffix = path.name, path.suffix.lower()
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"PK\x03\x04") and suffix not in _ZIPPED_WORKBOOKS:
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
        except (zipfile.BadZipFile, OSError):
            members = []
        return DataError(
            problem=f"{name} is a zip archive ({len(members)} file(s) inside); the kit reads "
            "the files themselves, not an archive",
            fix=f"unzip it into a folder (e.g. `unzip {name} -d export`) and load that folder "
            "(or the file inside that holds the deals)",
            file=str(path),
            examples=[f"inside: {', '.join(members[:8])}"] if members else [],
        )
    if head.startswith(b"\x1f\x8b"):
        return DataError(
            problem=f"{name} is compressed with gzip; the kit reads the file itself",
            fix=f"decompress it (e.g. `gunzip {name}`, or 7-Zip) and load the file it gives",
            file=str(path),
        )
    if archives_only:
        return None
    if suffix in _JSON_SUFFIXES:
        reader = "read_json" if suffix == ".json" else "read_ndjson"
        return DataError(
            problem=f"{name} is JSON; the kit reads CSV, Parquet and Excel workbooks",
            fix="convert it to CSV first, e.g. for an array of flat records: "
            f"python -c \"import polars as pl; pl.{reader}('{name}').write_csv('deals.csv')\"",
            file=str(path),
        )
    if text.startswith((b"<!doctype html", b"<html", b"<table")) or (
        suffix in WORKBOOK_SUFFIXES and b"<html" in text
    ):
        return DataError(
            problem=f"{name} is a web page (an HTML table) with the name of a workbook, as "
            "some CRMs export to Excel; it is not a workbook",
            fix="open it in Excel (or LibreOffice) and save it as .xlsx or CSV UTF-8, then "
            "load that file",
            file=str(path),
        )
    if head.startswith(b"%PDF-"):
        return DataError(
            problem=f"{name} is a PDF document (a printed report), not a table",
            fix="export the report's data from the CRM as CSV or Excel (in Salesforce: Export, "
            "Details Only; in HubSpot: Export view) and load that file",
            file=str(path),
        )
    if text.startswith(b"<?xml") and b"urn:schemas-microsoft-com:office:spreadsheet" in text:
        return DataError(
            problem=f"{name} is an Excel 2003 XML spreadsheet, not a workbook the kit reads",
            fix="open it in Excel (or LibreOffice) and save it as .xlsx or CSV UTF-8, then "
            "load that file",
            file=str(path),
        )
    return None


def archive_problem(path: Path) -> DataError | None:
    """What is wrong with ``path`` when it is (or a folder holds only) an archive, else None.

    For a file: :func:`container_problem`. For a folder holding no file the kit reads (CSV,
    text, Parquet, workbook) but an archive (a HubSpot or Salesforce export as e-mailed,
    ``export.zip``): that archive's error, rather than each source's "no deals file found,
    files found: none".
    """
    if path.is_file():
        return container_problem(path)
    if not path.is_dir():
        return None
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    readable = (".csv", ".tsv", ".txt", ".parquet", *WORKBOOK_SUFFIXES)
    if any(p.suffix.lower() in readable for p in files):
        return None
    return next((e for p in files if (e := container_problem(p, archives_only=True))), None)


def _read_export_file(
    path: Path,
    notes: list[str],
    *,
    encoding: str | None = None,
    separator: str | None = None,
    header_only: bool = False,
    sheet: str | int | None = None,
) -> pl.DataFrame:
    if (problem := container_problem(path)) is not None:
        raise problem
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return _read_workbook(path, notes, header_only=header_only, sheet=sheet)
    if path.suffix.lower() == ".parquet":
        try:
            frame = pl.DataFrame(schema=pl.read_parquet_schema(path))  # (the header alone)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable(path, exc) from exc
        nested = [c for c, t in frame.schema.items() if t.is_nested() or t == pl.Object]
        if nested:
            raise DataError(
                problem=f"column(s) {', '.join(nested)} hold lists or records "
                f"({frame.schema[nested[0]]}), not single values",
                fix="flatten them before export (one value per cell), or drop them",
                file=str(path),
                column=nested[0],
            )
        names = _checked_header(frame, path).columns
        if header_only:
            frame = _in_utc(frame, path, None)
            return pl.DataFrame(schema={"source_row": pl.Int64, **frame.schema}).rename(
                dict(zip(frame.columns, names, strict=True))
            )
        try:
            # source_row numbered by the reader: chunked as the columns are (added afterwards,
            # it is not, and every later select of the table would copy it to align them)
            frame = (
                pl.scan_parquet(path)
                .with_row_index("source_row", offset=2)
                .with_columns(pl.col("source_row").cast(pl.Int64))
                .collect()
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable(path, exc) from exc
        frame = _in_utc(frame, path, notes)
        return frame.rename(dict(zip(frame.columns[1:], names, strict=True)))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    # Excel's separator hint, a first line "sep=;" that European tools write so that Excel
    # opens the file: no header (every row was "longer than the header's 2 fields"). Taken as
    # the separator it names (unless one is given), and the line skipped: the header is line 2.
    hint = _SEP_HINT.match(data)
    if hint:
        separator = separator or hint.group(2).decode()
        data = (hint.group(1) or b"") + data[hint.end() :]
        notes.append(
            Message(
                N_(
                    "{file}: the first line 'sep={sep}' is Excel's separator hint, not the "
                    "header: the separator is '{sep}' and the header is line 2."
                ),
                file=path.name,
                sep=hint.group(2).decode(),
            )
        )
    skipped = 1 if hint else 0  # (lines before the header: source_row is the file's line)
    if b"\r" in data and b"\n" not in data:
        # lines ended by a carriage return alone (Excel for Mac's "CSV (Macintosh)"): the
        # reader would see one line; each \r is a line break (also inside quoted values,
        # where such a file breaks lines the same way)
        data = data.replace(b"\r", b"\n")
        notes.append(
            Message(
                N_(
                    "{file} ends its lines with a carriage return alone (old Mac line endings): "
                    "each was read as a line break."
                ),
                file=path.name,
            )
        )
    if encoding is None and unicode_encoding(data) is None:
        # UTF-8, most exports: the bytes go to the CSV reader as they are, and it checks that
        # they are UTF-8 (decoding them to text to be encoded again took 0.2 s per 145 MB)
        # (the first line sliced off: ``split`` would copy the rest of the file too)
        newline = data.find(b"\n")
        first = data if newline < 0 else data[:newline]
        sep = separator or sniff_separator(first.decode("utf-8-sig", errors="replace"))
        try:
            frame = pl.read_csv(data, separator=sep, infer_schema=False)
        except pl.exceptions.PolarsError:
            pass  # another encoding, or a malformed file: read as text below, which says why
        else:
            frame = _checked_header(frame, path)
            return _with_source_row(frame, _physical_lines(data, sep, frame.height), skipped)
    text = decode(data, path, encoding, notes)
    sep = separator or sniff_separator(text.split("\n", 1)[0])
    try:
        # (as UTF-8 bytes: the reader takes them as they are, where a StringIO is copied)
        frame = pl.read_csv(text.encode(), separator=sep, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        ragged = _ragged_lines(text, sep)
        if ragged:
            expected, lines = ragged
            raise DataError(
                problem=f"some rows have more fields than the header's {expected} (a separator "
                "inside an unquoted value, or a row shifted by an extra column)",
                fix="quote values that contain the separator, or remove the extra fields; "
                "then load again",
                file=str(path),
                examples=[f"line {line}: {count} fields" for line, count in lines[:5]],
            ) from exc
        raise _unreadable(path, exc) from exc
    frame = _checked_header(frame, path)
    return _with_source_row(frame, _physical_lines(text, sep, frame.height), skipped)


def _in_utc(frame: pl.DataFrame, path: Path, notes: list[str] | None) -> pl.DataFrame:
    """``frame`` with its time-zone-aware columns as naive times in UTC, said in a note.

    A warehouse extract's ``timestamp with time zone`` (Europe/Berlin): its day was taken in
    that zone, where a text time with an offset, or a DataFrame's aware column, takes the UTC
    day (a deal closed at 00:30 in Berlin counted a day later than the same deal written
    ``2024-01-20T23:30:00Z``).
    """
    zones = {
        c: t.time_zone
        for c, t in frame.schema.items()
        if isinstance(t, pl.Datetime) and t.time_zone is not None
    }
    if not zones:
        return frame
    aware = list(zones)
    frame = frame.with_columns(pl.col(aware).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    if notes is not None:
        notes.append(
            Message(
                N_(
                    "{value}: time-zone-aware column(s) {names} converted to UTC (as text "
                    "timestamps with an offset are); date columns take the UTC day."
                ),
                value=path.name,
                names=", ".join(f"{c} ({zone})" for c, zone in zones.items()),
            )
        )
    return frame


# Excel and OpenDocument workbooks, read through fastexcel (Rust's calamine)
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


def workbook_sheets(path: Path) -> list[str]:
    """The names of a workbook's sheets, in order (an error naming the file if unreadable)."""
    import fastexcel

    if (problem := container_problem(path)) is not None:
        raise problem

    try:
        return list(fastexcel.read_excel(path).sheet_names)
    except (fastexcel.FastExcelError, OSError) as exc:
        raise _unreadable(path, exc) from exc


def sheet_headers(path: Path, limit: int = 30) -> dict[str, list[str]]:
    """Each sheet's first row (its header if the table starts there), by name, in order.

    At most ``limit`` sheets; a sheet that cannot be read, or is empty, gives ``[]``. For
    choosing the sheet that holds a table when none is named after it.
    """
    import fastexcel

    if (problem := container_problem(path)) is not None:  # (a web page saved as .xls, ...)
        raise problem
    try:
        reader = fastexcel.read_excel(path)
    except (fastexcel.FastExcelError, OSError) as exc:
        raise _unreadable(path, exc) from exc
    headers: dict[str, list[str]] = {}
    for index, name in enumerate(list(reader.sheet_names)[:limit]):
        try:
            first = pl.DataFrame(
                pl.from_arrow(
                    reader.load_sheet(index, header_row=None, dtypes="string", n_rows=1).to_arrow()
                )
            )
        except (fastexcel.FastExcelError, OSError):
            headers[name] = []
            continue
        row = first.row(0) if first.height and first.width else ()
        headers[name] = [str(v).strip() for v in row if v is not None]
    return headers


def _read_workbook(
    path: Path, notes: list[str], *, header_only: bool = False, sheet: str | int | None = None
) -> pl.DataFrame:
    """The first sheet of a workbook (or ``sheet``) as a CSV export is read: every cell as text.

    Numbers are written as the cell holds them (``800``, ``12000.5``), dates and times as
    ``YYYY-MM-DD HH:MM:SS``, empty cells as missing; the first row is the header. Rows whose
    cells are all empty are left out, as a CSV reader skips blank lines. ``source_row`` is
    the row's number counted from the header (= 1): its row in the sheet when the table
    starts in the first row, as a CRM's export does. ``sheet`` is a sheet's name or its number
    from 1; without it, a note names the other sheets, which are not read.
    """
    import fastexcel

    try:
        reader = fastexcel.read_excel(path)
    except (fastexcel.FastExcelError, OSError) as exc:
        raise _unreadable(path, exc) from exc
    names = list(reader.sheet_names)
    if (isinstance(sheet, int) and not 1 <= sheet <= len(names)) or (
        isinstance(sheet, str) and sheet not in names
    ):
        raise DataError(
            problem=f"the workbook has no sheet {sheet!r}",
            fix="give one of its sheets by name, or by its number from 1",
            file=str(path),
            examples=[f"sheets: {', '.join(names)}"],
        )
    index = 0 if sheet is None else names.index(sheet) if isinstance(sheet, str) else sheet - 1
    try:
        # read whole, header row included: the reader would rename a repeated header Name_1,
        # and reading the header apart parses the whole sheet a second time
        loaded = reader.load_sheet(
            index, header_row=None, dtypes="string", n_rows=1 if header_only else None
        )
        batch, errors = loaded.to_arrow_with_errors()
    except (fastexcel.FastExcelError, OSError) as exc:
        raise _unreadable(path, exc) from exc
    cells = pl.DataFrame(pl.from_arrow(batch))
    if cells.width == 0 or cells.height == 0:
        others = [n for i, n in enumerate(names) if i != index]
        raise DataError(
            problem=f"its sheet {names[index]} is empty"
            + (f" (the others: {', '.join(others)})" if others else ""),
            fix='give the sheet that holds the table (in a mapping: sheet = "<its name>"), with '
            "the table starting in its first row, or save the table as CSV UTF-8",
            file=str(path),
        )
    header = [
        f"__UNNAMED__{i}" if value is None else str(value).strip()
        for i, value in enumerate(cells.row(0))
    ]
    cells = _with_error_cells(cells, errors.errors if errors else [], header, path, notes)
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DataError(
            problem=f"the header repeats column(s) {', '.join(repeated)}",
            fix="give every column a unique name (rename or delete the repeated one)",
            file=str(path),
        )
    frame = cells.slice(1).rename(dict(zip(cells.columns, header, strict=True)))
    if sheet is None and len(names) > 1:
        notes.append(
            Message(
                N_("{file}: its first sheet, {sheet}, was read; not the others ({others})."),
                file=path.name,
                sheet=names[0],
                others=", ".join(names[1:]),
            )
        )
    frame = _checked_header(frame, path)
    frame = frame.with_row_index("source_row", offset=2).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )
    if frame.width > 1:
        frame = frame.filter(~pl.all_horizontal(pl.exclude("source_row").is_null()))
    return frame


# what Excel shows (and writes to a CSV) for a cell whose formula failed, by calamine's name
_EXCEL_ERRORS = {
    "Div0": "#DIV/0!",
    "NA": "#N/A",
    "Name": "#NAME?",
    "Null": "#NULL!",
    "Num": "#NUM!",
    "Ref": "#REF!",
    "Value": "#VALUE!",
    "GettingData": "#GETTING_DATA",
}


def _with_error_cells(
    frame: pl.DataFrame, errors: Sequence, header: list[str], path: Path, notes: list[str]
) -> pl.DataFrame:
    """``frame`` with each cell holding an Excel error written as Excel shows it (``#N/A``).

    The reader leaves such a cell empty; a CSV saved by Excel holds the error's text, so a
    row with one in a number or date column is quarantined, not read with a gap. A note says
    how many cells hold errors and where the first is.
    """
    if not errors:
        return frame
    cells: dict[int, tuple[list[int], list[str]]] = {}
    for error in errors:
        row, col = error.offset_position
        kind = re.search(r"Error\((\w+)\)", error.detail)
        rows, texts = cells.setdefault(col, ([], []))
        rows.append(row)
        texts.append(_EXCEL_ERRORS.get(kind.group(1), "#ERROR!") if kind else "#ERROR!")
    frame = frame.with_columns(
        frame.to_series(col).scatter(rows, texts) for col, (rows, texts) in cells.items()
    )
    first = min(errors, key=lambda error: error.offset_position)  # (the topmost, then leftmost)
    notes.append(
        Message(
            N_(
                "{file}: {cells} cell(s) hold an Excel error (a formula that failed), read as "
                "Excel shows it, e.g. row {row}, {column}: {value}; a row with one in a number "
                "or date column is quarantined."
            ),
            file=path.name,
            cells=len(errors),
            row=first.offset_position[0] + 1,  # (``frame``'s first row is the header, row 1)
            column=header[first.offset_position[1]],
            value=frame.item(first.offset_position[0], first.offset_position[1]),
        )
    )
    return frame


def _unreadable(path: Path, exc: Exception) -> DataError:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(
        problem=f"the file cannot be read as {path.suffix.lstrip('.').upper() or 'CSV'}: "
        f"{first_line}",
        fix="export it again as UTF-8 CSV with a header row (or as Parquet)",
        file=str(path),
    )


# what the readers call a header cell left empty: polars "" then "_duplicated_1", ...;
# the workbook reader "__UNNAMED__<position>"
_UNNAMED = re.compile(r"^(|_duplicated_\d+|__UNNAMED__\d+)$")


def _checked_header(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    names = [c.lstrip("\ufeff").strip() for c in frame.columns]
    named = [c for c in names if not _UNNAMED.match(c)]
    repeated = sorted(
        {re.sub(r"_duplicated_\d+$", "", c) for c in named if re.search(r"_duplicated_\d+$", c)}
        | {c for c in named if named.count(c) > 1}
    )
    if repeated:
        raise DataError(
            problem=f"the header repeats column(s) {', '.join(repeated)}",
            fix="give every column a unique name (rename or delete the repeated one)",
            file=str(path),
        )
    if "source_row" in names:
        raise DataError(
            problem="a column is named source_row, a name the kit uses for line numbers",
            fix="rename that column in the export",
            file=str(path),
            column="source_row",
        )
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def _without_unnamed_columns(frame: pl.DataFrame, path: Path, notes: list[str]) -> pl.DataFrame:
    """``frame`` without its columns whose header cell is empty, when they hold no value.

    A note counts the columns left out; a column without a name that holds a value is a
    DataError naming its position and a line holding a value.
    """
    unnamed = [c for c in frame.columns if c != "source_row" and _UNNAMED.match(c)]
    if not unnamed:
        return frame
    schema = frame.schema  # (built anew at each call: once, not per column)
    text = [c for c in unnamed if schema[c] == pl.String]
    filled = frame.select(
        *(pl.col(c).str.strip_chars().ne("").any().alias(c) for c in text),
        *(pl.col(c).is_not_null().any().alias(c) for c in unnamed if c not in text),
    ).row(0, named=True)
    holding = [c for c in unnamed if filled[c]]
    if holding:
        below = _header_below_a_title(frame, unnamed, path, notes)
        if below is not None:
            return below
        _title_above_the_header(frame, unnamed, path)
        column = holding[0]
        value = pl.col(column).cast(pl.String).str.strip_chars()
        first = frame.filter(value.ne("")).select("source_row", column).row(0)
        position = [c for c in frame.columns if c != "source_row"].index(column) + 1
        raise DataError(
            problem=f"column {position} has no name in the header but holds values",
            fix="give that column a name in the header row (or delete it), then load again",
            file=str(path),
            examples=[f"line {first[0]}: {first[1]!r}"],
        )
    if frame.height:
        notes.append(
            Message(
                N_(
                    "{file}: {columns} column(s) without a name and without values were left "
                    "out (a separator at the end of every line)."
                ),
                file=path.name,
                columns=len(unnamed),
            )
        )
    return frame.drop(unnamed)


def _header_below_a_title(
    frame: pl.DataFrame, unnamed: list[str], path: Path, notes: list[str]
) -> pl.DataFrame | None:
    """The table under a title, its header found below it; None when it is not that clear.

    A board exported with its name on top (monday.com: the board's name, a blank line, a
    group's name, then the header) had to be edited by hand. When the first line names at
    most one column, a line among the first 20 fills every column with distinct names none
    of which is a number, and every line above it holds at most one value (a title, a blank
    line, a group's name), that line is the header: the lines above it are skipped, with a
    note naming them. The rows keep their lines in the file. Anything less clear is left to
    :func:`_title_above_the_header`'s error.
    """
    cols = [c for c in frame.columns if c != "source_row"]
    named = [c for c in cols if c not in unnamed]
    if len(named) > 1 or len(cols) < 3 or frame.height < 2:
        return None
    head = frame.head(20).with_columns(
        pl.col(c).cast(pl.String).str.strip_chars().fill_null("").alias(c) for c in cols
    )
    filled = head.select(
        pl.sum_horizontal(pl.col(c).ne("").cast(pl.Int32) for c in cols)
    ).to_series()
    full = [i for i, n in enumerate(filled.to_list()) if n == len(cols)]
    if not full or any(n > 1 for n in filled.to_list()[: full[0]]):
        return None
    at = full[0]
    names = [head[c][at] for c in cols]
    if len(set(names)) < len(names) or any(re.fullmatch(r"[-+\d.,/: ]+", n) for n in names):
        return None
    line = int(head["source_row"][at])
    title = named + [v for r in head.head(at).select(cols).iter_rows() for v in r if v]
    notes.append(
        Message(
            N_(
                "{file}: the table's header is line {line}; the lines above it (a title: "
                "{title}) were skipped."
            ),
            file=path.name,
            line=str(line),
            title=", ".join(repr(t) for t in title[:3]) or "''",
        )
    )
    body = frame.slice(at + 1).rename(dict(zip(cols, names, strict=True)))
    return body.select(*names, "source_row")


def _title_above_the_header(frame: pl.DataFrame, unnamed: list[str], path: Path) -> None:
    """An error saying so when the first line is a title above the table, not its header.

    A board or report saved with its name on top (monday.com: the board's name, a blank
    line, a group's name, then the header) has a first line naming one column of many; the
    error was "column 2 has no name in the header", which sent the user to name it. When
    the header names at most half the columns and a line among the first 20 fills more of
    them, that line is named as the header, with the lines to delete above it.
    """
    cols = [c for c in frame.columns if c != "source_row"]
    named = [c for c in cols if c not in unnamed]
    if len(named) * 2 > len(cols) or frame.height == 0:
        return
    head = frame.head(20).select(
        "source_row",
        pl.sum_horizontal(
            pl.col(c).cast(pl.String).str.strip_chars().fill_null("").ne("").cast(pl.Int32)
            for c in cols
        ).alias("__filled"),
        *cols,
    )
    most = head["__filled"].max()
    if not isinstance(most, int) or most <= len(named):
        return
    row = head.filter(pl.col("__filled") == most).row(0, named=True)
    values = [str(row[c]).strip() for c in cols if row[c] is not None and str(row[c]).strip()]
    raise DataError(
        problem=f"the first line names {len(named)} of the {len(cols)} columns "
        f"({', '.join(repr(c) for c in named)}): a title above the table, not its header",
        fix=f"delete the lines above the table's header (line {row['source_row']} looks like "
        "it) so that the header is the first line, and any group title lines between the "
        "rows; then load again",
        file=str(path),
        examples=[f"line {row['source_row']}: {', '.join(values[:8])}"],
    )


def _with_source_row(
    frame: pl.DataFrame, lines: list[int] | None, skipped: int = 0
) -> pl.DataFrame:
    """``frame`` with ``source_row``: each row's physical line.

    ``lines`` (or the header's line + 1 on), plus ``skipped``: the lines before the header
    that were cut off before reading (Excel's separator hint).
    """
    if lines is None:
        return frame.with_row_index("source_row", offset=2 + skipped).with_columns(
            pl.col("source_row").cast(pl.Int64)
        )
    return frame.with_columns(
        (pl.Series("source_row", lines, dtype=pl.Int64) + skipped).alias("source_row")
    ).select("source_row", *frame.columns)


# ----------------------------------------------------------------------------- columns


def column(frame: pl.DataFrame, *aliases: str) -> str | None:
    """The frame's column whose :func:`squash` equals that of an alias (first alias first)."""
    by_key: dict[str, str] = {}
    for name in frame.columns:
        by_key.setdefault(squash(name), name)
    for alias in aliases:
        if squash(alias) in by_key:
            return by_key[squash(alias)]
    return None


def require_column(frame: pl.DataFrame, file: str, *aliases: str) -> str:
    """:func:`column`, or a :class:`DataError` naming the file and what was expected."""
    found = column(frame, *aliases)
    if found is None:
        raise DataError(
            problem=f"no column {' or '.join(repr(a) for a in aliases)}",
            fix="export this column too (or map it in a mapping file)",
            file=file,
            column=aliases[0],
            examples=["columns found: " + ", ".join(c for c in frame.columns if c != "source_row")],
        )
    return found


# ----------------------------------------------------------------------------- values


def parse_bool(expr: pl.Expr, blank: bool | None = None) -> pl.Expr:
    """Boolean from true/false, t/f, yes/no, y/n, 1/0 (any case); empty or null -> ``blank``.

    Salesforce's Bulk API writes ``1`` and an empty cell: ``parse_bool(col, blank=False)``.
    """
    low = expr.cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        pl.when(low.is_in(_TRUE))
        .then(True)
        .when(low.is_in(_FALSE))
        .then(False)
        .when(low.is_null() | low.eq(""))
        .then(pl.lit(blank, pl.Boolean))
        .otherwise(None)
        .cast(pl.Boolean)
    )


_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$"
_EPOCH_MS = r"^\d{12,13}$"
# Unix time in seconds, as database dumps and some APIs write it (1714521600 is 2024-05-01)
_EPOCH_S = r"^\d{10}$"
_UNIX = f"{_EPOCH_MS}|{_EPOCH_S}"
# day and month in either order, then the year, split by slashes (US, UK, France, Spain),
# dots (Germany, Russia, Poland, the Nordics) or dashes (the Netherlands, India): the one
# separator of a value, written twice
_SLASH = (
    r"^(?<a>\d{1,2})(?<sep>[/.\-])(?<b>\d{1,2})[/.\-](?<y>\d{2}|\d{4})"
    r"(?:[ T]+(?<h>\d{1,2}):(?<mi>\d{2})(?::(?<s>\d{2}))?\s*(?<ap>[AaPp][Mm])?)?$"
)
_ISO_OUT = "%Y-%m-%d %H:%M:%S"
_YMD_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S")
# year first with slashes, day and month not always two digits (Chinese Excel's 2024/1/31)
_YMD_SLASH = r"^\d{4}/\d{1,2}/\d{1,2}(?:[ T]+\d{1,2}:\d{2}(?::\d{2})?)?$"
# a day number as Excel writes a date cell re-saved as a number (45292 is 2024-01-01)
_SERIAL = r"^\d{5}$"
_SERIAL_RANGE = (20_000, 80_000)  # 1954-10-03 .. 2119-01-10
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _slash_format(frame: pl.DataFrame, columns: list[str], order: Literal["month", "day"]) -> str:
    """How the dates of ``columns`` are written: ``DD.MM.YYYY``, ``MM/DD/YY``, ``DD-MM-YY(YY)``.

    The separator is the first date's; the year ``YYYY``, ``YY`` or ``YY(YY)`` (both). (The
    note said "MM/DD/YY dates" of ``3/31/2024``.)
    """
    parts = pl.concat(
        [frame[c].str.strip_chars().str.extract_groups(_SLASH).struct.unnest() for c in columns]
    ).drop_nulls("y")
    digits = set(parts["y"].str.len_chars().unique().to_list())
    year = "YY(YY)" if len(digits) > 1 else "YYYY" if digits == {4} else "YY"
    sep = parts["sep"][0] if parts.height else "/"
    first, second = ("MM", "DD") if order == "month" else ("DD", "MM")
    return f"{first}{sep}{second}{sep}{year}"


def excel_serial(text: pl.Expr) -> pl.Expr:
    """ISO text (``YYYY-MM-DD 00:00:00``) of a whole number of days since 1899-12-30.

    Excel's serial dates (its 1900 leap-year bug is before 1 March 1900, outside any range
    read here); null for text that is not a whole number.
    """
    days = text.str.strip_chars().str.extract(r"^(\d{1,7})$").cast(pl.Int64, strict=False)
    epoch = pl.lit(_EXCEL_EPOCH).cast(pl.Datetime("us"))
    return (epoch + pl.duration(days=days)).dt.strftime(_ISO_OUT)


def serial_date_columns(frame: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns holding only whole numbers from 20000 to 80000 (at least one)."""
    low, high = _SERIAL_RANGE
    checks = []
    for c in columns:
        text = pl.col(c).str.strip_chars()
        value = text.cast(pl.Int64, strict=False)
        filled = text.is_not_null() & text.ne("")
        fits = text.str.contains(_SERIAL) & value.is_between(low, high)
        checks.append((filled.any() & (fits | ~filled).all()).alias(c))
    found = frame.select(checks).row(0) if checks else ()
    return [c for c, ok in zip(columns, found, strict=True) if ok]


def _unix_datetime(text: pl.Expr) -> pl.Expr:
    number = text.str.strip_chars()
    ms = number.cast(pl.Int64, strict=False) * pl.when(number.str.contains(_EPOCH_S)).then(
        1000
    ).when(number.str.contains(_EPOCH_MS)).then(1)
    return ms.cast(pl.Datetime("ms")).cast(pl.Datetime("us"))


def unix_time(text: pl.Expr) -> pl.Expr:
    """ISO text (``YYYY-MM-DD HH:MM:SS``, UTC) of a Unix time written as a whole number.

    10 digits are seconds since 1970-01-01 UTC, 12-13 digits milliseconds; null for any
    other text.

    >>> pl.select(unix_time(pl.lit("1714521600000"))).item()
    '2024-05-01 00:00:00'
    >>> pl.select(unix_time(pl.lit("1714521600"))).item()
    '2024-05-01 00:00:00'
    """
    return _unix_datetime(text).dt.strftime(_ISO_OUT)


def epoch_columns(frame: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    """The columns whose whole numbers are all Unix times (at least one).

    A Unix time is 10 digits (seconds since 1970-01-01 UTC) or 12-13 digits (milliseconds).
    Other text (an ISO date, ``n/a``) does not decide: it is read, or quarantined, as written.

    >>> frame = pl.DataFrame({"a": ["1714521600000", "n/a"], "b": ["1714521600", "7"]})
    >>> epoch_columns(frame, ["a", "b"])
    ['a']
    """
    schema = frame.schema
    columns = [c for c in columns if schema[c] == pl.String]
    checks = []
    for c in columns:
        text = pl.col(c).str.strip_chars()
        number = text.str.contains(r"^\d+$")
        fits = text.str.contains(_UNIX)
        checks.append((fits.any() & (fits | ~number | text.is_null()).all()).alias(c))
    found = frame.select(checks).row(0) if checks else ()
    return [c for c, ok in zip(columns, found, strict=True) if ok]


def epoch_note(frame: pl.DataFrame, columns: Sequence[str], file: str) -> Message | None:
    """A note naming the ``columns`` (before :func:`normalise_dates`) that hold Unix times.

    None when no value of them is one (10 digits: seconds; 12-13: milliseconds).
    """
    schema = frame.schema
    text = [c for c in columns if schema.get(c) == pl.String]
    if not text:
        return None
    held = frame.select(pl.col(text).str.strip_chars().str.contains(_UNIX).any())
    names = [c for c in text if held[c][0]]
    if not names:
        return None
    value = pl.col(names[0]).str.strip_chars()
    example = frame.select(value.filter(value.str.contains(_UNIX)).first())
    return Message(
        N_(
            "{name}: {names} hold Unix times (whole numbers of seconds or milliseconds since "
            "1970-01-01, e.g. {example}): read as dates and times in UTC."
        ),
        name=str(Path(file).name),
        names=", ".join(names),
        example=str(example.item()).strip(),
    )


def _slash_order(
    frame: pl.DataFrame, columns: Sequence[str]
) -> tuple[Literal["month", "day"] | None, bool]:
    """(order, decided by the data) for the slash dates of ``columns`` together."""
    parts = pl.concat(
        [
            frame.select(pl.col(c).cast(pl.String).str.extract_groups(_SLASH).alias("p"))
            for c in columns
        ]
    ).unnest("p")
    a = parts["a"].cast(pl.Int64, strict=False)
    b = parts["b"].cast(pl.Int64, strict=False)
    day_first = bool((a > 12).any())
    month_first = bool((b > 12).any())
    if day_first and not month_first:
        return "day", True
    if month_first and not day_first:
        return "month", True
    return None, not (day_first or month_first)


def _from_slash(text: pl.Expr, order: Literal["month", "day"]) -> pl.Expr:
    p = text.str.extract_groups(_SLASH)
    a, b = p.struct["a"].cast(pl.Int32), p.struct["b"].cast(pl.Int32)
    year = p.struct["y"].cast(pl.Int32)
    year = pl.when(year < 100).then(pl.when(year < 70).then(year + 2000).otherwise(year + 1900))
    year = year.otherwise(p.struct["y"].cast(pl.Int32))
    hour = p.struct["h"].cast(pl.Int32).fill_null(0)
    ampm = p.struct["ap"].str.to_lowercase()
    hour = (
        pl.when(ampm.eq("pm") & hour.lt(12))
        .then(hour + 12)
        .when(ampm.eq("am") & hour.eq(12))
        .then(0)
        .otherwise(hour)
    )
    month, day = (a, b) if order == "month" else (b, a)
    valid = month.is_between(1, 12) & day.is_between(1, 31) & hour.is_between(0, 23)
    stamp = pl.datetime(
        year,
        month,
        day,
        hour,
        p.struct["mi"].cast(pl.Int32).fill_null(0),
        p.struct["s"].cast(pl.Int32).fill_null(0),
    )
    # an impossible day (31 April) gives null through the string round trip below
    return (
        pl.when(valid)
        .then(stamp.dt.strftime("%Y-%m-%d %H:%M:%S"))
        .str.to_datetime(_ISO_OUT, strict=False)
    )


def normalise_dates(
    frame: pl.DataFrame,
    columns: Iterable[str],
    notes: list[str],
    *,
    file: str,
    prefer: Literal["month", "day"] | None = None,
    epoch_ms: bool = True,
    excel_serials: bool = False,
) -> pl.DataFrame:
    """Rewrite ``columns`` (strings) as ISO ``YYYY-MM-DD HH:MM:SS`` text the loader reads.

    Understood: ISO with ``T``, fraction and ``Z`` / ``+0000`` / ``+01:00`` (converted to UTC);
    Unix times, in milliseconds (12-13 digits, as the HubSpot API writes them) or seconds (10
    digits; neither with ``epoch_ms=False``, for files whose dates are never written so);
    ``MM/DD/YY[YY]`` or ``DD/MM/YY[YY]`` with an optional ``hh:mm[:ss][ AM|PM]``;
    ``YYYY/M/D`` (year first: one or two digits for day and month, an optional
    ``hh:mm[:ss]``), with a note. Which of month or day comes first is read from the values
    of all the columns together (a first number above 12 means day-first); when no value
    decides, ``prefer`` does and a note says so; without ``prefer`` the slash dates are left
    as they are (and quarantined by the loader as unreadable).
    Values in any other shape are left untouched. Plain ISO values are left as they are.

    With ``excel_serials``, a column made only of whole numbers from 20000 to 80000 holds
    Excel serial dates (a date column re-saved with the General format): read as days since
    1899-12-30 (:func:`excel_serial`), with a note.
    """
    columns = list(dict.fromkeys(c for c in columns if c is not None and c in frame.columns))
    if not columns or frame.height == 0:
        return frame
    schema = frame.schema
    text_cols = [c for c in columns if schema[c] == pl.String]
    serials = serial_date_columns(frame, text_cols) if excel_serials else []
    if serials:
        frame = frame.with_columns(excel_serial(pl.col(c)).alias(c) for c in serials)
        notes.append(
            Message(
                N_(
                    "{name}: {names} hold only whole numbers from 20000 to 80000: read as "
                    "Excel serial dates (days since 1899-12-30; 45292 is 2024-01-01)."
                ),
                name=str(Path(file).name),
                names=", ".join(serials),
            )
        )
        text_cols = [c for c in text_cols if c not in serials]
        if not text_cols:
            return frame
    has_slash = any(frame.select(pl.col(c).str.contains(_SLASH).any()).item() for c in text_cols)
    year_first = [
        c for c in text_cols if frame.select(pl.col(c).str.contains(_YMD_SLASH).any()).item()
    ]
    if year_first:
        notes.append(
            Message(
                N_("{name}: dates like 2024/1/31 in {names} read as year/month/day."),
                name=str(Path(file).name),
                names=", ".join(year_first),
            )
        )
    order: Literal["month", "day"] | None = None
    if has_slash:
        order, undecided = _slash_order(frame, text_cols)
        names = ", ".join(text_cols)
        if order is None and undecided and prefer is not None:
            order = prefer
            notes.append(
                Message(
                    N_(
                        "{name}: dates like 02/03/24 in {names} could be read either way; read "
                        "{value} first (this export's usual order). Give date_order='day' (or "
                        "'month') if that is wrong."
                    ),
                    name=str(Path(file).name),
                    names=str(names),
                    value=str("month" if prefer == "month" else "day"),
                )
            )
        elif order is None and not undecided:
            notes.append(
                Message(
                    N_(
                        "{name}: dates in {names} mix month-first and day-first values; they "
                        "were not guessed (the rows are quarantined as unreadable dates)."
                    ),
                    name=str(Path(file).name),
                    names=str(names),
                )
            )
        elif order is not None:
            notes.append(
                Message(
                    N_(
                        "{name}: {value} dates in {names} (the order is certain: some values "
                        "only fit it); read as ISO."
                    ),
                    name=str(Path(file).name),
                    value=_slash_format(frame, text_cols, order),
                    names=str(names),
                )
            )
    exprs = []
    for c in text_cols:
        text = pl.col(c).str.strip_chars()
        offset = (
            text.str.replace("T", " ", literal=True)
            .str.replace(r"Z$", "+0000")
            .str.replace(r"([+-]\d{2}):(\d{2})$", "${1}${2}")
            .str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", strict=False)
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
        offset_short = (
            text.str.replace("T", " ", literal=True)
            .str.replace(r"Z$", "+0000")
            .str.replace(r"([+-]\d{2}):(\d{2})$", "${1}${2}")
            .str.to_datetime("%Y-%m-%d %H:%M%z", strict=False)
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
        parsed: Then | ChainedThen = pl.when(text.str.contains(_OFFSET)).then(
            pl.coalesce(offset, offset_short)
        )
        if epoch_ms:
            parsed = parsed.when(text.str.contains(_UNIX)).then(_unix_datetime(text))
        if order is not None:
            parsed = parsed.when(text.str.contains(_SLASH)).then(_from_slash(text, order))
        if c in year_first:
            ymd = [text.str.to_datetime(f"%Y/%m/%d{t}", strict=False) for t in _YMD_TIMES]
            parsed = parsed.when(text.str.contains(_YMD_SLASH)).then(pl.coalesce(ymd))
        exprs.append(pl.coalesce(parsed.dt.strftime(_ISO_OUT), pl.col(c)).alias(c))
    return frame.with_columns(exprs)


# ----------------------------------------------------------------------------- set aside


def set_aside(
    frame: pl.DataFrame,
    mask: pl.Expr,
    *,
    table: str,
    file: str,
    kind: SetAsideKind,
    reason: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, rows set aside in :data:`SETASIDE_SCHEMA`) for the rows where ``mask``.

    ``kind`` is ``"excluded"`` for rows left out by design (deleted in the CRM, merged into
    another deal, a history row that is not a stage change) or ``"quarantined"`` for a data
    problem. Either way the row is counted and shown with ``reason`` in ``ds.report()``.
    """
    flagged = frame.with_columns(mask.fill_null(False).alias("__aside"))
    aside = flagged.filter(pl.col("__aside")).drop("__aside")
    if aside.height == 0:
        return frame, empty_setaside()
    record_cols = [c for c in aside.columns if c != "source_row"]
    aside_rows = aside.select(
        pl.lit(table).alias("table"),
        pl.lit(file).alias("file"),
        pl.col("source_row").cast(pl.Int64),
        pl.lit(kind).alias("kind"),
        pl.lit(reason).alias("reason"),
        pl.struct(record_cols).struct.json_encode().alias("record")
        if record_cols
        else pl.lit("{}").alias("record"),
    )
    return flagged.filter(~pl.col("__aside")).drop("__aside"), aside_rows


class SetAsideLog:
    """The rows an adapter sets aside (excluded or quarantined, each with its reason).

    Kept for :attr:`RawDataset.setaside <pipeline_kit.adapters.base.RawDataset.setaside>`.

    Records shown to users leave out the adapter's working columns (those starting with
    ``private_prefix``).

    >>> log = SetAsideLog()
    >>> kept = log.take(frame, pl.col("IsDeleted") == "1", table="deals", file="Opportunity.csv",
    ...                 reason="deleted_in_crm")                          # doctest: +SKIP
    """

    def __init__(self, private_prefix: str = "__") -> None:
        self.frames: list[pl.DataFrame] = []
        self._private = private_prefix

    def take(
        self,
        frame: pl.DataFrame,
        mask: pl.Expr,
        *,
        table: str | None,
        file: str,
        reason: str,
        kind: SetAsideKind = "excluded",
    ) -> pl.DataFrame:
        """The rows of ``frame`` where ``mask`` is false; the others are recorded.

        They are recorded with ``reason`` for ``table`` (``table=None``: rows of a lookup
        file such as Salesforce's User, dropped without a record, as they are no canonical
        table's rows).
        """
        # with_columns broadcasts a literal mask (pl.lit(True): every row)
        flags = frame.with_columns(mask.fill_null(False).alias("__flag"))["__flag"]
        if not flags.any():
            return frame
        if table is not None:
            public = [c for c in frame.columns if not c.startswith(self._private)]
            _, aside = set_aside(
                frame.select(public),
                pl.lit(flags),
                table=table,
                file=file,
                kind=kind,
                reason=reason,
            )
            self.frames.append(aside)
        return frame.filter(~flags)

    def add(self, aside: pl.DataFrame) -> None:
        """Record set-aside rows made elsewhere (in :data:`SETASIDE_SCHEMA`)."""
        if aside.height:
            self.frames.append(aside)


def _header_key(name: str) -> str:
    r"""``name`` normalised as a canonical table's header is: ``Deal  ID`` is ``deal_id``.

    As ``pipeline_kit.adapters.base._normalise_header``: case ignored, surrounding spaces
    trimmed, each run of white space an underscore.
    """
    return re.sub(r"\s+", "_", name.strip().lstrip("\ufeff").strip().lower())


def _header_pattern(name: str) -> str:
    r"""A regex for a cell that reads as the header ``name`` once both are normalised.

    >>> import re
    >>> bool(re.search(_header_pattern("deal_id"), " Deal\u00a0 ID ")), _header_pattern("a b")
    (True, '(?i)^\\s*a(?:_|\\s+)b\\s*$')
    """
    parts = _header_key(name).split("_")
    return r"(?i)^\s*" + r"(?:_|\s+)".join(map(re.escape, parts)) + r"\s*$"


def _header_spellings(name: str) -> list[str]:
    """The usual spellings of the header ``name``, to find a repeated header line by.

    As named, and its words joined by ``_`` or a space in lower, upper, title or sentence
    case, two-letter words upper (``Deal ID``).

    >>> sorted(set(_header_spellings("deal_id")))  # doctest: +NORMALIZE_WHITESPACE
    ['DEAL ID', 'DEAL_ID', 'Deal ID', 'Deal Id', 'Deal id', 'Deal_ID', 'Deal_Id', 'Deal_id',
     'deal id', 'deal_id']
    """
    parts = _header_key(name).split("_")
    cases = [
        parts,
        [p.upper() for p in parts],
        [p.capitalize() for p in parts],
        [p.upper() if len(p) <= 2 else p.capitalize() for p in parts],
        [parts[0].capitalize(), *parts[1:]],
    ]
    return [name, *(joiner.join(words) for words in cases for joiner in ("_", " "))]


def without_repeated_headers(
    frame: pl.DataFrame, *, table: str | None, file: str, notes: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, rows repeating the header line set aside as excluded ``repeated_header``).

    A row repeats the header when each of its cells reads as its column's name (case and
    white space ignored, :func:`_header_pattern`): the header line of a second export
    appended to a first (``cat jan.csv feb.csv``), or a report's page header. Such a row is
    no record: left as it was, it was quarantined once per number or date column ("write
    amount as a plain number"). A note counts the rows. With ``table=None`` (a lookup file
    such as Salesforce's User) the rows are dropped without a record, as the file's other
    set-aside rows are. Only a frame of text columns can hold such a row.

    Looked for among the rows whose first cell is the header in a usual spelling
    (:func:`_header_spellings`; one lookup of a hashed set: 15 ms for 3.9M stage entries,
    where a case-insensitive regex on the column took 150 ms), then checked whole.
    """
    cols = [c for c in frame.columns if c != "source_row"]
    if not cols or frame.height == 0 or any(t != pl.String for t in frame.select(cols).dtypes):
        return frame, empty_setaside()
    first = frame.select(pl.col(cols[0]).is_in(_header_spellings(cols[0]))).to_series()
    if not first.any():
        return frame, empty_setaside()
    rows = first.arg_true()
    whole = frame[rows].select(
        pl.all_horizontal(pl.col(c).str.contains(_header_pattern(c)) for c in cols)
    )
    repeats = rows.filter(whole.to_series().fill_null(False))
    if repeats.len() == 0:
        return frame, empty_setaside()
    titles = _group_titles(frame, cols, repeats.to_list())
    mask = pl.lit(pl.zeros(frame.height, pl.Boolean, eager=True).scatter(repeats, True))
    kept, aside = set_aside(
        frame, mask, table=table or "", file=file, kind="excluded", reason="repeated_header"
    )
    notes.append(
        Message(
            N_(
                "{file}: {rows} row(s) repeat the header line (two exports joined into one "
                "file, or a report's page headers); they are no records and are listed as "
                "excluded, e.g. line {line}."
            ),
            file=Path(file).name,
            rows=aside.height,
            line=aside["source_row"][0],
        )
    )
    if titles:
        lines = frame["source_row"].gather(titles)
        kept, more = set_aside(
            kept,
            pl.col("source_row").is_in(lines.implode()),
            table=table or "",
            file=file,
            kind="excluded",
            reason="group_title",
        )
        aside = pl.concat([aside, more], how="vertical")
        title = frame.row(titles[0], named=True)
        notes.append(
            Message(
                N_(
                    "{file}: {rows} line(s) of one cell stand just above a repeated header "
                    "(a group's title in a board or grouped report, e.g. line {line}: "
                    "'{text}'); they are no records and are listed as excluded."
                ),
                file=Path(file).name,
                rows=more.height,
                line=title["source_row"],
                text=str(title[cols[0]]).strip(),
            )
        )
    return kept, aside if table is not None else empty_setaside()


def _group_titles(frame: pl.DataFrame, cols: list[str], repeats: list[int]) -> list[int]:
    """Positions of the lines of one (first) cell just above a repeated header.

    A monday.com board or a grouped report writes each group as its name on a line of its
    own, then the header again: the name was quarantined once per required column. Blank
    lines between are passed over; looked for only above the repeated headers (a handful).
    """
    cells = [
        pl.col(c).cast(pl.String).str.strip_chars().fill_null("").ne("").cast(pl.Int32)
        for c in cols
    ]
    marks = frame.select(pl.sum_horizontal(cells).alias("filled"), cells[0].alias("first"))
    filled, first = marks["filled"], marks["first"]
    titles: list[int] = []
    taken = set(repeats)
    for at in repeats:
        above = at - 1
        while above >= 0 and filled[above] == 0:
            above -= 1
        # (the name in the first cell, the rest empty: the board's and reports' layout)
        if above >= 0 and filled[above] == 1 and first[above] == 1 and above not in taken:
            titles.append(above)
            taken.add(above)
    return sorted(titles)


def without_blank_rows(
    frame: pl.DataFrame, *, table: str, file: str, notes: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, rows with no value at all set aside as excluded ``blank_row``).

    As the loader does (:func:`pipeline_kit.loading._blank_rows`), but on the file's rows as
    read, before a mapping adds its constants (``team = "All"``): a blank line was then no
    longer blank and was quarantined once per required column. Looked for among the rows
    whose first cell is empty, then checked whole.
    """
    cols = [c for c in frame.columns if c != "source_row"]
    if not cols or frame.height == 0 or any(t != pl.String for t in frame.select(cols).dtypes):
        return frame, empty_setaside()

    def empty(c: str) -> pl.Expr:
        return pl.col(c).is_null() | pl.col(c).str.contains(r"^\s*$")

    rows = frame.select(empty(cols[0]).arg_true()).to_series()
    if rows.len() == 0:
        return frame, empty_setaside()
    whole = frame[rows].select(pl.all_horizontal(empty(c) for c in cols)).to_series()
    blank = rows.filter(whole)
    if blank.len() == 0:
        return frame, empty_setaside()
    mask = pl.lit(pl.zeros(frame.height, pl.Boolean, eager=True).scatter(blank, True))
    kept, aside = set_aside(
        frame, mask, table=table, file=file, kind="excluded", reason="blank_row"
    )
    notes.append(
        Message(
            N_("{table}: {rows} row(s) hold no value at all; they are listed as excluded."),
            table=table,
            rows=aside.height,
        )
    )
    return kept, aside


# a report's footer or total line, as its only text: "Total", "Grand Totals (120 records)",
# "Confidential Information - Do Not Distribute", "Copyright (c) 2024 ...", "Generated By:"
REPORT_FOOTER = (
    r"(?i)^\s*(?:(?:grand\s+|sub\s*)?totals?\s*(?:\(\s*[\d,.\s]+records?\s*\))?:?\s*$"
    r"|confidential information\b|copyright\b|\(c\)\s*\d{4}|©|generated by\s*:)"
)


def without_report_footer(
    frame: pl.DataFrame, *, table: str, file: str, notes: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows kept, the report footer at the end of the file set aside as excluded).

    A report export ends with lines that are no records: a total (``Total``, ``Grand Totals
    (120 records)``, its sums beside it), ``Confidential Information - Do Not Distribute``, a
    copyright, the lines of one cell around them (the organisation's name, "Exported by
    ..."). Left as they were, each was quarantined once per required column, and counted as
    a deal in the notes on empty owners and teams. A footer line is one whose only text (a
    cell with a letter) is such a line's: numbers may stand beside it, a record's words may
    not. Only the block at the end of the file is looked at (lines of one cell, footer
    lines and blank lines, from the last record on), and only when it holds a footer line:
    a one-cell line alone is left to the rules.
    """
    cols = [c for c in frame.columns if c != "source_row"]
    if not cols or frame.height == 0 or any(t != pl.String for t in frame.select(cols).dtypes):
        return frame, empty_setaside()
    # (the last 50 lines: a footer is a few lines long; a long file is not searched whole)
    tail = frame.tail(50)
    filled = [pl.col(c).str.strip_chars().fill_null("").ne("").cast(pl.Int32) for c in cols]
    worded = [pl.col(c).str.contains(r"\p{L}").fill_null(False).cast(pl.Int32) for c in cols]
    footer_cell = [pl.col(c).str.contains(REPORT_FOOTER).fill_null(False) for c in cols]
    marks = tail.select(
        (pl.sum_horizontal(worded).eq(1) & pl.any_horizontal(footer_cell)).alias("footer"),
        pl.sum_horizontal(filled).alias("filled"),
    )
    footer = marks["footer"]
    quiet = footer | marks["filled"].le(1)  # a footer line, one cell, or a blank line
    # the block at the end: every line from the last record on is quiet
    trailing = quiet.cast(pl.Int8).reverse().cum_min().reverse().eq(1)
    if not (footer & trailing).any():
        return frame, empty_setaside()
    aside_rows = (trailing & marks["filled"].ge(1)).arg_true() + (frame.height - tail.height)
    mask = pl.lit(pl.zeros(frame.height, pl.Boolean, eager=True).scatter(aside_rows, True))
    kept, aside = set_aside(
        frame, mask, table=table, file=file, kind="excluded", reason="report_footer"
    )
    first = frame.row(int(aside_rows[0]), named=True)
    text = next(str(first[c]).strip() for c in cols if first[c] and str(first[c]).strip())
    notes.append(
        Message(
            N_(
                "{file}: the last {rows} line(s) are a report's footer (e.g. line {line}: "
                "'{text}'), no records; they are listed as excluded."
            ),
            file=Path(file).name,
            rows=aside.height,
            line=aside["source_row"][0],
            text=text,
        )
    )
    return kept, aside


def empty_setaside() -> pl.DataFrame:
    """A set-aside frame with no rows."""
    return pl.DataFrame(schema=SETASIDE_SCHEMA)


# ----------------------------------------------------------------------------- currency


@functools.cache
def _currency_names() -> dict[str, str]:
    """ISO 4217 codes by their English names in upper case (CLDR, through Babel)."""
    from babel.numbers import get_currency_name, list_currencies

    names = {get_currency_name(c, locale="en").upper(): c for c in sorted(list_currencies())}
    # (the names Dynamics 365 gives its default currency records, where CLDR's differ)
    return names | {"POUND STERLING": "GBP", "US DOLLARS": "USD", "EUROS": "EUR"}


def _codes_for_names(frame: pl.DataFrame, column: str, file: str, notes: list[str]) -> pl.DataFrame:
    """A currency column holding names (``US Dollar``, ``Euro``) read as their codes.

    Dynamics 365 writes the currency record's name; read as a code, ``US DOLLAR`` had no rate
    and ``rates={"EUR": 0.9}`` did not apply to ``EURO``. The column is already stripped and
    upper-cased; a column of three-letter codes (the usual) returns after one pass (13 ms on 1M
    rows), else only its distinct values are looked up. A value that is neither a three-letter
    code nor a known name stays as it is.
    """
    if not frame.select(pl.col(column).str.len_bytes().ne(3).any()).item():
        return frame
    named = {
        v: code
        for v in frame.get_column(column).unique().drop_nulls().to_list()
        if not re.fullmatch(r"[A-Z]{3}", v) and (code := _currency_names().get(v)) is not None
    }
    if not named:
        return frame
    notes.append(
        Message(
            N_("{name}: currencies written by name are read as their codes ({pairs})."),
            name=str(Path(file).name),
            pairs=", ".join(f"{v} -> {c}" for v, c in sorted(named.items())),
        )
    )
    return frame.with_columns(pl.col(column).replace(named))


def to_reporting_currency(
    frame: pl.DataFrame,
    *,
    amount: str,
    currency: str | None,
    rates: dict[str, float] | None,
    reporting: str | None,
    table: str,
    file: str,
    notes: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Amounts in one reporting currency, never a sum of several.

    ``rates`` maps a currency code to the units of it worth one unit of the reporting currency
    (Salesforce's ``ConversionRate`` convention): ``amount_reporting = amount / rate``. The
    frame gains ``amount_original`` and ``currency``; ``amount`` holds the converted value.
    Rows in a currency without a rate are quarantined (``currency_without_rate``). With one
    currency and no rates, amounts are left as they are and a note names the currency. With
    rates but neither ``reporting`` nor a rate of 1, the one currency present without a rate
    is the reporting currency (noted); when there is not exactly one, a :class:`DataError`
    asks for ``reporting_currency`` (:func:`_unnamed_reporting_currency`).

    An amount written with its currency code (``EUR 1,000.50``, :func:`amount_code`) must
    name the row's currency: when they differ the row is quarantined
    (``amount_currency_differs``); a row without a currency takes the code. Without a currency
    column, amounts carrying codes are in the currency their code names (noted).
    """
    # (a code needs a letter: a plain-number column skips the code's two regexes per value)
    lettered = (
        frame.height > 0
        and frame.select(pl.col(amount).cast(pl.String).str.contains("[A-Za-z]").any()).item()
    )
    written = amount_code(pl.col(amount)) if lettered else pl.lit(None, pl.String)
    differ = empty_setaside()
    if currency is None or currency not in frame.columns:
        if frame.height == 0 or not frame.select(written.is_not_null().any()).item():
            return frame, empty_setaside()
        currency = "__amount_currency"
        frame = frame.with_columns(written.alias(currency))
        notes.append(
            Message(
                N_(
                    "{name}: there is no currency column, but amounts are written with their "
                    "currency code ({names}): each amount is in the currency its code names."
                ),
                name=str(Path(file).name),
                names=str(", ".join(sorted(frame[currency].drop_nulls().unique().to_list()))),
            )
        )
    else:
        own = pl.col(currency).str.strip_chars().str.to_uppercase()
        frame, differ = set_aside(
            frame,
            written.is_not_null() & own.is_not_null() & own.ne("") & written.ne(own),
            table=table,
            file=file,
            kind="quarantined",
            reason="amount_currency_differs",
        )
        frame = frame.with_columns(pl.coalesce(own.replace("", None), written).alias(currency))
        frame = _codes_for_names(frame, currency, file, notes)
    codes = frame.select(pl.col(currency).str.strip_chars().str.to_uppercase()).to_series()
    present = sorted(c for c in codes.drop_nulls().unique().to_list() if c)
    frame = frame.with_columns(
        pl.col(amount).alias("amount_original"),
        codes.alias("__code"),
    )
    if not rates:
        if len(present) <= 1:
            if present:
                notes.append(
                    Message(
                        N_("{name}: every amount is in {value}."),
                        name=str(Path(file).name),
                        value=str(present[0]),
                    )
                )
            return frame.drop(currency).rename({"__code": "currency"}), differ
        counts = codes.value_counts(sort=True)
        main = counts[0, 0] if reporting is None else reporting.upper()
        rates = {main: 1.0}
        notes.append(
            Message(
                N_(
                    "{name}: amounts are in {count} currencies ({names}) and no conversion "
                    "rates were given: {main} is the reporting currency, and the {others} "
                    "deal(s) in another currency are quarantined (give rates to convert them)."
                ),
                name=str(Path(file).name),
                count=len(present),
                names=str(", ".join(present)),
                main=str(main),
                others=int(codes.is_not_null().sum()) - int((codes == main).sum()),
            )
        )
    else:
        rates = {k.upper(): float(v) for k, v in rates.items()}
        main = (reporting or next((k for k, v in rates.items() if v == 1.0), "")).upper()
        if not main and present:
            main = _unnamed_reporting_currency(present, rates, file=file, column=currency)
            rates[main] = 1.0
            notes.append(
                Message(
                    N_(
                        "{name}: no reporting_currency was given and no rate is 1: {value}, "
                        "the one currency present without a rate, is taken as the reporting "
                        "currency (the rates are read as units per {value}). Give "
                        "reporting_currency= if that is wrong."
                    ),
                    name=str(Path(file).name),
                    value=str(main),
                )
            )
        notes.append(
            Message(
                N_(
                    "{name}: amounts converted to {value} with {count} rate(s) ({names}); "
                    "the original amount and currency are kept in amount_original and "
                    "currency."
                ),
                name=str(Path(file).name),
                value=str(main or "the reporting currency"),
                count=len(rates),
                names=str(", ".join(f"{k} {v:g}" for k, v in rates.items())),
            )
        )
    frame = frame.drop(currency).rename({"__code": "currency"})
    if len(present) == 1:  # an empty code in a one-currency export is that currency
        frame = frame.with_columns(pl.col("currency").fill_null(present[0]))
    rate = pl.col("currency").replace_strict(rates, default=None, return_dtype=pl.Float64)
    frame, aside = set_aside(
        frame,
        rate.is_null() & pl.col(amount).is_not_null(),
        table=table,
        file=file,
        kind="quarantined",
        reason="currency_without_rate",
    )
    # (the converted amount computed once, then read twice)
    converted = pl.col("__converted")
    frame = (
        frame.with_columns((plain_number(pl.col(amount), money=True) / rate).alias("__converted"))
        .with_columns(
            pl.when(converted.is_not_null())
            .then(converted.round(6).cast(pl.String))
            .otherwise(pl.col(amount))
            .alias(amount)
        )
        .drop("__converted")
    )
    return frame, pl.concat([differ, aside]) if differ.height else aside


def _unnamed_reporting_currency(
    present: list[str], rates: dict[str, float], *, file: str, column: str
) -> str:
    """The reporting currency when ``rates`` name none (no rate is 1, no reporting_currency).

    The rates are units per reporting unit, so the currency they are quoted in is the one
    without a rate: when exactly one currency present has none, it is that one (``USD`` for
    ``rates={"EUR": 0.9, "GBP": 0.8}`` on a USD/EUR/GBP export). Otherwise which currency the
    figures are in cannot be told: a :class:`DataError` asks for ``reporting_currency``.
    """
    missing = [c for c in present if c not in rates]
    if len(missing) == 1:
        return missing[0]
    raise DataError(
        problem=f"rates were given ({', '.join(f'{k} {v:g}' for k, v in rates.items())}) but "
        "no reporting currency: no rate is 1, and "
        + (
            f"{len(missing)} of the currencies present have no rate ({', '.join(missing)})"
            if missing
            else "every currency present has one"
        ),
        fix="give reporting_currency='<code>' (the currency the rates are units per one of; "
        "its rate is then 1), or add it to rates with rate 1",
        file=file,
        column=column,
        examples=[f"currencies present: {', '.join(present)}"],
    )


_THOUSANDS = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"
_DOT_GROUPED = r"^-?[1-9]\d{0,2}(\.\d{3})+$"
# A money value may carry its currency: an ISO 4217 code (three capitals) before or after the
# number (``EUR 1,000.50``, ``1,000.50 USD``, as multi-currency Salesforce reports write it),
# or one of a few symbols besides $ € £ ¥ (and the full-width ￥ of a Chinese or Japanese
# input method): RM (ringgit), S$, HK$ and NT$ (Singapore, Hong Kong and Taiwan dollars), kr
# (the Nordic crowns). The list is kept short on purpose: a symbol is read only when it cannot
# be part of a number.
_CODE = r"[A-Z]{3}"
_LEADING = rf"^(-?)\s*(?:{_CODE}|RM|S\$|HK\$|NT\$|kr\.?)\s*"
# Full-width digits and marks (１２３４．５０, typed with a Chinese or Japanese input method):
# the same characters as their ASCII forms (Unicode NFKC), read as those
_FULL_WIDTH = [chr(0xFF10 + i) for i in range(10)] + ["．", "，", "－", "＋", "＄", "￥"]
_HALF_WIDTH = [str(i) for i in range(10)] + [".", ",", "-", "+", "$", "¥"]
_TRAILING = rf"\s*(?:{_CODE}|kr\.?)$"


def plain_number(text: pl.Expr, *, money: bool = False) -> pl.Expr:
    """Float64 from a number as exported: the one reading of numbers in the kit.

    Spaces and currency symbols ignored, commas only as thousands separators (``$1,234.50``),
    and apostrophes (Swiss ``1'234.50``, only in groups of three);
    a decimal comma (``1234,50``) gives null rather than 123450. For ``money``, ``12.500``
    gives null too: a dot grouping thousands or a decimal point is never guessed. A money
    value may also carry a currency code before or after it (``EUR 1,000.50``,
    ``1,000.50 USD``) or the symbols RM, S$, HK$, NT$ or kr (``RM1,000.50``): they are read past,
    never as a hint to a decimal comma (``1.000,50 EUR`` is still null). Which currency a code
    names is :func:`amount_code`'s; adapters with a currency column check that the two agree
    (:func:`to_reporting_currency`). Full-width digits and marks (``１２３４．５０``, ``￥``,
    as a Chinese or Japanese input method types them) are their ASCII forms.
    """
    return text.cast(pl.String).map_batches(
        functools.partial(_plain_numbers, money=money),
        return_dtype=pl.Float64,
        is_elementwise=True,
    )


def _plain_numbers(values: pl.Series, *, money: bool) -> pl.Series:
    """:func:`plain_number` on a series, each step computed once.

    (As one expression, each use of the cleaned text evaluated its whole chain again: the
    money reading of 1M amounts took 0.58 s, four times its steps.)
    """
    x = pl.col("x")
    frame = values.to_frame("x")
    if frame.select(x.str.contains("[\uff04\uff0b-\uff0e\uff10-\uff19\uffe5]").any()).item():
        frame = frame.select(x.str.replace_many(_FULL_WIDTH, _HALF_WIDTH))
    if money and frame.select(x.str.contains("[A-Za-z]").any()).item():  # (a code or RM/kr)
        frame = frame.select(x.str.strip_chars().str.replace(_LEADING, "${1}"))
        frame = frame.select(x.str.replace(_TRAILING, ""))
    frame = frame.select(x.str.replace_all(r"[\s$€£¥]", ""))
    if frame.select(x.str.contains("['’]").any()).item():
        # Swiss thousands (1'234.50, 1’234.50): an apostrophe is never a decimal mark
        frame = frame.select(
            pl.when(x.str.contains(_APOSTROPHE_GROUPED))
            .then(x.str.replace_all("['’]", ""))
            .otherwise(x)
            .alias("x")
        )
    if money:
        frame = frame.select(
            pl.when(x.str.contains(_DOT_GROUPED)).then(None).otherwise(x).alias("x")
        )
    thousands = x.str.contains(_THOUSANDS)
    frame = frame.select(
        pl.when(thousands).then(x.str.replace_all(",", "", literal=True)).otherwise(x).alias("x")
    )
    return frame.to_series().cast(pl.Float64, strict=False).alias(values.name)


# thousands grouped by apostrophes (Switzerland, Liechtenstein): 1'234'567.50
_APOSTROPHE_GROUPED = r"^[-+]?\d{1,3}(?:['’]\d{3})+(?:\.\d+)?$"
# decimal comma: 1.234,50 / 1 234,50 (any space) / 1234,5 / 1234; optional sign
_DECIMAL_COMMA = r"^[-+]?(?:\d{1,3}(?:\.\d{3})+|\d{1,3}(?:[ \x{00A0}\x{202F}]\d{3})+|\d+)(?:,\d+)?$"


# a number followed by a unit word: 12.5万 (ten thousand), 3亿 (a hundred million), 5千
_UNIT_WORD = r"\d\s*(?:万|萬|亿|億|千)\s*(?:元|圆|圓)?\s*$"
# a header giving the amounts' unit: 金额（万元）, Amount (k), Value in thousands, Betrag (Tsd.)
_UNIT_HEADER = (
    r"(?i)[（(]\s*(?:万|萬|千|亿|億)|[（(]\s*(?:[$€£¥]\s*)?(?:k|m|mn|mio|tsd\.?|000s?|'000)\s*[)）]"
    r"|\bin\s+(?:thousands|millions)\b"
)


def amount_unit_hint(values: pl.Series) -> Message | None:
    """The fix for amounts written with a unit word (``12.5万``), or None when none is.

    Such a value is quarantined as unreadable like any other, but the generic fix ("write a
    plain number") did not say why: the kit never multiplies it out (no silent rescaling).
    """
    if not values.str.contains(_UNIT_WORD).any():
        return None
    return Message(
        N_(
            "Some amounts carry a unit word (12.5万: 万 is ten thousand, 亿 a hundred "
            "million, 千 a thousand): the kit never rescales a value; write every amount out "
            "in one unit (125000), or all of them in 万 without the word and a header saying so"
        )
    )


# accounting notation for a negative number: (1,200), ($1,200.00), (1 200)
_PARENTHESISED = r"^\s*\(\s*[$€£¥]?\s*\d[\d.,' \x{00A0}]*\s*\)\s*$"
# an amount abbreviated with a letter: 1.2K, $3M, 2.5 mn, 1bn
_ABBREVIATED = r"(?i)^\s*[$€£¥]?\s*\d[\d.,]*\s*(?:k|m|mn|mio|b|bn)\s*$"


def amount_form_hint(values: pl.Series) -> Message | None:
    """The fix for unreadable amounts written in a form the kit recognises, or None.

    A unit word (:func:`amount_unit_hint`); accounting parentheses (``(1,200)``: a negative
    amount, which a deal cannot have); a letter abbreviating thousands or millions (``1.2K``,
    ``$3M``: rounded figures, never multiplied out). Such a value is quarantined as
    unreadable like any other; the hint says why, instead of the generic "write a plain
    number".

    >>> str(amount_form_hint(pl.Series(["(1,200)", "800"])))[:48]
    'Some amounts are in parentheses, e.g. (1,200): a'
    >>> amount_form_hint(pl.Series(["n. a."])) is None
    True
    """
    values = values.cast(pl.String).drop_nulls()
    if (unit := amount_unit_hint(values)) is not None:
        return unit
    parenthesised = values.filter(values.str.contains(_PARENTHESISED))
    if parenthesised.len():
        return Message(
            N_(
                "Some amounts are in parentheses, e.g. {example}: accounting notation for a "
                "negative amount, which a deal cannot have (a credit note or a correction?); "
                "correct or remove those rows in the export"
            ),
            example=str(parenthesised[0]),
        )
    abbreviated = values.filter(values.str.contains(_ABBREVIATED))
    if abbreviated.len():
        return Message(
            N_(
                "Some amounts are abbreviated with a letter, e.g. {example} (K for thousands, M "
                "for millions): such a figure is rounded, and the kit never multiplies it out; "
                "export the amounts in full (a report's 'Export details' rather than its "
                "formatted view)"
            ),
            example=str(abbreviated[0]),
        )
    return None


def amount_unit_note(header: str, file: str) -> Message | None:
    """A note when the amount column's header gives a unit (``金额（万元）``, ``Amount (k)``).

    The amounts are then in that unit, as written: every amount figure is in 万 or thousands
    too. Said, never rescaled.
    """
    if not re.search(_UNIT_HEADER, header):
        return None
    return Message(
        N_(
            "{file}: the amounts come from '{header}', whose header gives a unit: every amount "
            "figure is in that unit, as written (the kit never rescales); multiply them out in "
            "the export if the figures should be in currency units."
        ),
        file=file,
        header=header,
    )


# values only a decimal comma reads (1.234,50; 1 234,50; 1234,5; 0,75) and values only a
# decimal point reads (1,234.50; 1234.5): 1,234 or 1.234 could be either
_COMMA_SIGNS = (
    r"^[-+]?\d{1,3}(?:\.\d{3})+,\d+$",
    r"^[-+]?\d{1,3}(?: \d{3})+,\d+$",
    r"^[-+]?\d+,(?:\d{1,2}|\d{4,})$",
)
_POINT_SIGNS = (r"^[-+]?\d{1,3}(?:,\d{3})+\.\d+$", r"^[-+]?\d+\.(?:\d{1,2}|\d{4,})$")


def decimal_evidence(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(values only a decimal comma reads, values only a decimal point reads) of ``values``.

    Currency symbols and surrounding spaces are ignored; a no-break space groups thousands as
    a space does. ``1.234,50`` and ``0,75`` are decimal-comma values, ``1,234.50`` and
    ``12.5`` decimal-point ones; ``1,234``, ``1.234`` and ``1234`` are neither.

    >>> comma, point = decimal_evidence(pl.Series(["1.200,50", "1,234", "€ 800,00", "12.5"]))
    >>> comma.to_list(), point.to_list()
    (['1.200,50', '800,00'], ['12.5'])
    """
    clean = (
        values.str.replace_all(r"[$€£¥]", "")
        .str.replace_all(r"[\x{00A0}\x{202F}]", " ")
        .str.strip_chars()
    )
    comma = clean.filter(clean.str.contains("|".join(f"(?:{p})" for p in _COMMA_SIGNS)))
    point = clean.filter(clean.str.contains("|".join(f"(?:{p})" for p in _POINT_SIGNS)))
    return comma, point


def decimal_comma_numbers(
    frame: pl.DataFrame, columns: list[str]
) -> tuple[pl.DataFrame, list[str]]:
    """Number columns written with a decimal comma as plain numbers; (frame, values left).

    For the exports said to use a decimal comma (a mapping's ``decimal = ","``, the canonical
    source's ``decimal=","``).

    Whether each value fits the decimal-comma form is computed once, into a working column
    the new values and the list of values left both read.
    """
    if not columns:
        return frame, []
    fits = {c: f"__fits_{c}" for c in columns}
    staged = frame.with_columns(
        pl.col(c)
        .str.replace_all(r"[$€£¥]", "")
        .str.strip_chars()
        .str.contains(_DECIMAL_COMMA)
        .alias(fits[c])
        for c in columns
    )
    left = [
        pl.col(c)
        .filter(pl.col(fits[c]).not_() & pl.col(c).str.strip_chars().ne(""))
        .unique(maintain_order=True)
        .implode()
        for c in columns
    ]
    unmatched = staged.select(pl.concat_list(left).alias("x"))["x"][0].to_list()
    exprs = []
    for c in columns:
        text = pl.col(c).str.replace_all(r"[$€£¥]", "").str.strip_chars()
        plain = text.str.replace_all(r"[.\s\x{00A0}\x{202F}]", "").str.replace(
            ",", ".", literal=True
        )
        # 1,234 is 1.234 here, which the money reading refuses as a dot grouping thousands
        # (plain_number): written 1.2340, the same number, it is read
        plain = pl.when(plain.str.contains(_DOT_GROUPED)).then(plain + "0").otherwise(plain)
        exprs.append(pl.when(pl.col(fits[c])).then(plain).otherwise(pl.col(c)).alias(c))
    return staged.with_columns(exprs).drop(*fits.values()), unmatched


# a whole number with its thousands grouped by commas (12,500): a decimal point's file
_COMMA_GROUPED = r"^[-+]?[$€£¥]?\s*\d{1,3}(?:,\d{3})+$"


def certain_decimal_comma(frame: pl.DataFrame, numbers: list[str]) -> list[str] | None:
    """The values showing that ``numbers`` are written with a decimal comma, if certain.

    Certain as `pipeline-kit inspect` reads it (:func:`~pipeline_kit.adapters._tools.
    decimal_evidence`): some value only a decimal comma reads (``1.200,50``, ``800,00``) and
    none, in any number column of the file, that only a decimal point reads (``12.5``,
    ``1,234.50``) or that groups thousands by commas (``100,000``: with a decimal comma,
    100). Only the distinct values of columns holding a comma are looked at. None when not
    certain (the values are then read as written, and a decimal comma is quarantined with a
    fix naming ``decimal=','``).
    """
    if not numbers or frame.height == 0:
        return None
    commas = frame.select(pl.col(numbers).str.contains(",", literal=True).any()).row(0)
    if not any(commas):
        return None
    values = pl.concat([frame[c].drop_nulls().unique() for c in numbers])
    comma, point = decimal_evidence(values)
    # 100,000 reads 100 with a decimal comma: a file holding such values is not read so
    # unasked, even beside a 1,50 (a typo there would divide every amount by 1000)
    grouped = values.str.strip_chars().str.contains(_COMMA_GROUPED).any()
    if comma.len() == 0 or point.len() > 0 or grouped:
        return None
    return comma.sort().to_list()


def check_decimal(decimal: str | None) -> None:
    """A DataError unless ``decimal`` is None, ``","`` or ``"."`` (the option's values)."""
    if decimal not in (None, ",", "."):
        raise DataError(
            problem=f"decimal={decimal!r}: only ',' or '.' are understood",
            fix="give decimal=',' for numbers written 1.234,50",
        )


def read_decimal_commas(
    frame: pl.DataFrame, numbers: list[str], file: str, notes: list[Any], decimal: str | None
) -> tuple[pl.DataFrame, str | None]:
    """``numbers`` (text columns) read with a decimal comma when asked or certain; a note.

    ``decimal=","`` reads every value in the ``1.234,50`` form so; ``decimal=None`` does so
    only when :func:`certain_decimal_comma` is certain (the note then says how to undo it:
    ``decimal='.'``); ``decimal="."`` leaves the values as written. Returns the frame and the
    decimal mark in force (``","`` when read so). The one place canonical tables and the CRM
    adapters read a decimal comma.

    >>> frame = pl.DataFrame({"amount": ["1.200,50", "800"]})
    >>> notes = []
    >>> read_decimal_commas(frame, ["amount"], "deals.csv", notes, None)[0]["amount"].to_list()
    ['1200.50', '800']
    """
    numbers = [
        c for c in dict.fromkeys(numbers) if c in frame.columns and frame.schema[c] == pl.String
    ]
    comma = certain_decimal_comma(frame, numbers) if decimal is None else None
    if comma is not None:
        frame, left = decimal_comma_numbers(frame, numbers)
        examples = ", ".join(repr(v) for v in comma[:2])
        notes.append(
            Message(
                N_(
                    "{file}: numbers in {columns} are written with a decimal comma (values "
                    "such as {examples} can only be read so): read as such; {values} value(s) "
                    "in another form were left as written (e.g. {left}). Give decimal='.' if "
                    "that is wrong."
                ),
                file=file,
                columns=", ".join(numbers),
                examples=examples,
                values=len(left),
                left=", ".join(repr(v) for v in left[:3]),
            )
            if left
            else Message(
                N_(
                    "{file}: numbers in {columns} are written with a decimal comma (values "
                    "such as {examples} can only be read so): read as such. Give decimal='.' "
                    "if that is wrong."
                ),
                file=file,
                columns=", ".join(numbers),
                examples=examples,
            )
        )
        decimal = ","
    elif numbers and decimal == ",":
        frame, left = decimal_comma_numbers(frame, numbers)
        notes.append(
            Message(
                N_(
                    "{file}: numbers in {columns} read with a decimal comma (decimal=','); "
                    "{values} value(s) not in the 1.234,50 form were left as written (e.g. "
                    "{examples})."
                ),
                file=file,
                columns=", ".join(numbers),
                values=len(left),
                examples=", ".join(repr(v) for v in left[:3]),
            )
            if left
            else Message(
                N_("{file}: numbers in {columns} read with a decimal comma (decimal=',')."),
                file=file,
                columns=", ".join(numbers),
            )
        )
    return frame, decimal


def amount_code(text: pl.Expr) -> pl.Expr:
    """The ISO 4217 code written with a money value (``EUR 1,000.50`` -> EUR), else null.

    Only a code before or after a number counts (``USD`` alone, or a symbol, gives null).
    """
    stripped = text.cast(pl.String).str.strip_chars()
    number = r"-?[\d.,\s]*\d"
    return pl.coalesce(
        stripped.str.extract(rf"^-?\s*({_CODE})\s*{number}$", 1),
        stripped.str.extract(rf"^{number}\s*({_CODE})$", 1),
    )


CURRENCY_MESSAGES = {
    "amount_period_unknown": (
        N_(
            "the deal's amount period (amount_period in the mapping) is none of one_time, "
            "monthly, quarterly, annual: what period its amount covers is not known"
        ),
        N_(
            "write the period as one_time, monthly, quarterly or annual (empty: a one-off "
            "amount), or leave amount_period out of the mapping to read every amount as written"
        ),
    ),
    "amount_not_minor_units": (
        N_(
            'the amount is not a whole number of minor units (cents), as amount_unit = "minor" '
            "in the mapping says the export writes them"
        ),
        N_(
            'correct the amount in the export, or leave amount_unit = "minor" out of the '
            "mapping if the export writes amounts as they are (1000.50)"
        ),
    ),
    "amount_currency_differs": (
        N_("the amount is written with a currency code that is not the deal's currency"),
        N_(
            "correct the amount or the currency of the deal in the CRM (which of the two is "
            "right cannot be told from the export)"
        ),
    ),
    "currency_without_rate": (
        N_("the amount is in a currency with no conversion rate to the reporting currency"),
        N_(
            "export the CRM's currency rates (Salesforce CurrencyType / DatedConversionRate) or "
            "give rates={'EUR': 0.92, ...} (units per one unit of the reporting currency) with "
            "reporting_currency='USD' naming that currency; amounts in different currencies "
            "are never summed"
        ),
    ),
}
