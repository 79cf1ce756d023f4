"""Tables in a database: ``pk.load("duckdb:///path/to.db")``, ``pk.load("postgresql://...")``.

The tables are fetched into polars DataFrames and handed to the code path of the source:

=========================  =====================================================================
source                     what is read, and by which code
=========================  =====================================================================
``canonical`` (default)    the tables named like the canonical ones (``deals``,
                           ``stage_history``, ``stages``, ... those present; names compared
                           without case), read as DataFrames in memory
                           (:func:`~pipeline_kit.adapters.frames.read_frames`): typed columns
                           stay typed, the loader casts them
``salesforce``,            the tables that adapter recognises by name (a Fivetran- or
``hubspot``, ``pipedrive``  Stitch-synced schema: ``opportunity``, ``opportunity_history``,
                           ``deal``, ``deal_stage``, ...; or ``tables=[...]``), as text
                           (dates ISO, time-zone-aware ones in UTC with ``Z``), given to the
                           adapter as one Parquet file per table in a temporary folder
=========================  =====================================================================

What is pushed into the SQL (canonical source):

* ``columns="canonical"`` reads only the canonical columns of each table; a list of names
  reads the canonical columns plus those (``columns=["segment"]`` to group by a segment);
  the default ``"all"`` reads every column (extra columns are usable in ``by=``);
* ``since=`` (a day) leaves out the deals closed before it, ``until=`` the deals created after
  it, and ``period="2025-Q4"`` means both (its first and last day); the rows of other tables
  that point at a left-out deal (stage history, activities, ...) are left out with it. Figures
  for periods inside ``[since, until]`` are unchanged; trends, baselines and backtests that
  look further back see less history. A note says what was filtered.

URIs: ``duckdb:///abs/path.db`` or ``duckdb://relative/path.db`` (opened read-only, with
duckdb's Python API); ``postgresql://user[:password]@host[:port]/db[?host=/socket/dir]`` or
``postgres://...`` (libpq syntax, read with ADBC: ``adbc-driver-postgresql``; ``PGPASSWORD``
and ``~/.pgpass`` work as usual). ``schema=`` picks the schema (default ``main`` for DuckDB,
``public`` for PostgreSQL). The drivers are the optional extra ``pipeline_kit[db]``, imported
only when a URI is given. A password is never shown: labels and messages write it ``***``.

``source_row`` is the row's position in the query result (row 1 = the first row fetched); file
labels read ``<uri> table <name>``. The fingerprint is a SHA-256 over the URI (password left
out), the source, the options and the *contents* of every table fetched (names, types and a
hash of every row, as for DataFrames): exact, at the price of reading the rows, which the load
does anyway. The on-disk and in-process caches of :func:`pipeline_kit.load` are not used for a
database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeGuard
from urllib.parse import unquote, urlsplit, urlunsplit

import polars as pl

from pipeline_kit.adapters.base import RawDataset
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import FOREIGN_KEYS, TABLES

__all__ = ["absolute", "is_database_uri", "read_database", "redact"]

SCHEMES = {"duckdb": "duckdb", "postgresql": "postgresql", "postgres": "postgresql"}
EXTRA = "pip install 'pipeline_kit[db]'"
CRM_SOURCES = ("salesforce", "hubspot", "pipedrive")
_DATE_TYPES = re.compile(r"(?i)^(date|timestamp)")


def is_database_uri(path: object) -> TypeGuard[str]:
    """Whether ``path`` is a database URI (``duckdb://...``, ``postgresql://...``)."""
    if not isinstance(path, str):
        return False
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def redact(uri: str) -> str:
    """The URI with its password (if any) replaced by ``***``.

    Examples
    --------
    >>> redact("postgresql://ann:s3cret@db.example:5432/crm")
    'postgresql://ann:***@db.example:5432/crm'
    >>> redact("duckdb:///data/crm.db")
    'duckdb:///data/crm.db'
    """
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def absolute(uri: str) -> str:
    """A DuckDB URI with an absolute file path (another process may run elsewhere).

    Other URIs are returned as they are.
    """
    scheme, _, rest = uri.partition("://")
    if SCHEMES.get(scheme.lower()) != "duckdb":
        return uri
    return f"{scheme}://{Path(rest).resolve()}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class _Column:
    name: str
    data_type: str


@dataclass
class _Connection:
    """One open database: its tables' columns, a query runner and what closes it."""

    label: str
    schema: str
    fetch: Callable[[str], pl.DataFrame]
    close: Callable[[], None]
    secret: str | None = None
    tables: dict[str, list[_Column]] = field(default_factory=dict)

    def clean(self, text: str) -> str:
        """``text`` without the password (a driver's message may quote the URI)."""
        return text.replace(self.secret, "***") if self.secret else text

    def query(self, sql: str) -> pl.DataFrame:
        """Run ``sql``; a driver error becomes a :class:`DataError` naming the URI."""
        try:
            return self.fetch(sql)
        except Exception as exc:  # the drivers' errors share no base class worth importing
            raise DataError(
                problem=f"the database refused a query: {self.clean(str(exc)).splitlines()[0]}",
                fix="check that the user may read the tables (and the schema= option)",
                file=self.label,
                examples=[self.clean(sql)],
            ) from None

    def read_catalogue(self) -> None:
        """Fill :attr:`tables` from ``information_schema.columns`` of :attr:`schema`."""
        rows = self.query(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = {_literal(self.schema)} "
            "ORDER BY table_name, ordinal_position"
        )
        for table, column, data_type in rows.iter_rows():
            self.tables.setdefault(str(table), []).append(_Column(str(column), str(data_type)))


def _missing_driver(package: str, exc: ImportError) -> DataError:
    return DataError(
        problem=f"reading a database needs {package}, which is not installed ({exc})",
        fix=f"install the optional database drivers: {EXTRA}",
    )


def _connect_duckdb(uri: str, schema: str | None) -> _Connection:
    try:
        import duckdb
    except ImportError as exc:
        raise _missing_driver("duckdb", exc) from None
    file = Path(uri.partition("://")[2])
    if not file.is_file():
        raise DataError(
            problem="the DuckDB database file does not exist",
            fix="give the path of an existing .db/.duckdb file: duckdb:///absolute/path.db "
            "or duckdb://relative/path.db",
            file=uri,
        )
    try:
        con = duckdb.connect(str(file), read_only=True)
    except duckdb.Error as exc:
        raise DataError(
            problem=f"DuckDB cannot open the file: {exc}", fix="check the file", file=uri
        ) from None
    return _Connection(
        label=uri, schema=schema or "main", fetch=lambda sql: con.sql(sql).pl(), close=con.close
    )


def _connect_postgresql(uri: str, schema: str | None) -> _Connection:
    try:
        import adbc_driver_postgresql.dbapi as pg
    except ImportError as exc:
        raise _missing_driver("adbc-driver-postgresql", exc) from None
    label = redact(uri)
    password = urlsplit(uri).password
    secret = unquote(password) if password else None
    target = "postgresql://" + uri.partition("://")[2]  # libpq also reads postgres://
    try:
        con = pg.connect(target)
    except Exception as exc:  # adbc's errors: see _Connection.query
        message = str(exc).replace(password or "\0", "***")
        if secret:
            message = message.replace(secret, "***")
        raise DataError(
            problem=f"cannot connect to PostgreSQL: {message.splitlines()[0]}",
            fix="check the host, port, user, database name and password (PGPASSWORD or "
            "~/.pgpass keep it out of the URI)",
            file=label,
        ) from None

    def fetch(sql: str) -> pl.DataFrame:
        import pyarrow as pa

        with con.cursor() as cursor:
            cursor.execute(sql)
            table = cursor.fetch_arrow_table()
        # NUMERIC (and other types Arrow has no match for) arrive as extension types over
        # text: their storage, which the loader reads as it reads a CSV's text
        for i, column in enumerate(table.columns):
            if hasattr(column.type, "storage_type"):
                storage = pa.chunked_array(
                    [chunk.storage for chunk in column.chunks], type=column.type.storage_type
                )
                table = table.set_column(i, table.field(i).name, storage)
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    return _Connection(
        label=label, schema=schema or "public", fetch=fetch, close=con.close, secret=secret
    )


def _connect(uri: str, schema: str | None) -> _Connection:
    kind = SCHEMES[uri.partition("://")[0].lower()]
    con = _connect_duckdb(uri, schema) if kind == "duckdb" else _connect_postgresql(uri, schema)
    try:
        con.read_catalogue()
    except DataError:
        con.close()
        raise
    return con


# ------------------------------------------------------------------------ canonical tables


def _canonical_name(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _date_bound(value: str | dt.date | None, option: str) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise DataError(
            problem=f"{option}={value!r} is not a day",
            fix=f"write {option} as YYYY-MM-DD",
        ) from None


def _compare(column: _Column, op: str, day: dt.date) -> str:
    """``column op day`` in SQL: as a date for date/timestamp columns, else on ISO text."""
    if _DATE_TYPES.match(column.data_type):
        return f"{_quote(column.name)} {op} DATE {_literal(day.isoformat())}"
    return f"CAST({_quote(column.name)} AS VARCHAR) {op} {_literal(day.isoformat())}"


def _deal_filter(columns: dict[str, _Column], since: dt.date | None, until: dt.date | None):
    """The SQL condition on deals for ``since``/``until``, or None when neither applies."""
    parts = []
    if since is not None and "closed_at" in columns:
        closed = columns["closed_at"]
        parts.append(f"({_quote(closed.name)} IS NULL OR {_compare(closed, '>=', since)})")
    if until is not None and "created_at" in columns:
        parts.append(_compare(columns["created_at"], "<=", until))
    return " AND ".join(parts) or None


def _selected(
    table: str, columns: dict[str, _Column], wanted: Literal["all", "canonical"] | Sequence[str]
) -> list[_Column]:
    if wanted == "all":
        return list(columns.values())
    extra = [] if wanted == "canonical" else [_canonical_name(c) for c in wanted]
    keep = [*TABLES[table].columns(), *extra]
    return [columns[c] for c in dict.fromkeys(keep) if c in columns]


def _canonical_frames(
    con: _Connection,
    columns: Literal["all", "canonical"] | Sequence[str],
    since: dt.date | None,
    until: dt.date | None,
    notes: list[str],
) -> dict[str, pl.DataFrame]:
    found = {_canonical_name(t): t for t in sorted(con.tables, reverse=True)}
    present = [t for t in TABLES if t in found]
    if "deals" not in present:
        raise DataError(
            problem=f"no deals table in schema {con.schema!r}",
            fix="name the opportunities table deals (with the canonical columns), pass "
            "schema= for another schema, or source='salesforce'/'hubspot'/'pipedrive' for a "
            "CRM-synced schema",
            file=con.label,
            examples=[f"tables found: {', '.join(sorted(con.tables)) or 'none'}"],
        )
    by_name = {t: {_canonical_name(c.name): c for c in con.tables[found[t]]} for t in present}
    if not isinstance(columns, str):
        absent = [c for c in columns if not any(_canonical_name(c) in b for b in by_name.values())]
        if absent:
            raise DataError(
                problem=f"columns={list(columns)!r}: no table has {', '.join(absent)}",
                fix="name columns of the tables (see the columns found)",
                file=con.label,
                examples=[f"deals columns: {', '.join(by_name['deals'])}"],
            )
    where = _deal_filter(by_name["deals"], since, until)
    deals_from = f"{_quote(con.schema)}.{_quote(found['deals'])}"
    frames: dict[str, pl.DataFrame] = {}
    for table in present:
        selected = _selected(table, by_name[table], columns)
        listed = ", ".join(_quote(c.name) for c in selected) or "*"
        sql = f"SELECT {listed} FROM {_quote(con.schema)}.{_quote(found[table])}"
        if where is not None and table == "deals":
            sql += f" WHERE {where}"
        elif (
            where is not None
            and any(fk.table == table and fk.column == "deal_id" for fk in FOREIGN_KEYS)
            and "deal_id" in by_name[table]
        ):
            deal_id = _quote(by_name["deals"]["deal_id"].name)
            own = _quote(by_name[table]["deal_id"].name)
            sql += (
                f" WHERE {own} IS NULL OR {own} IN (SELECT {deal_id} FROM {deals_from} "
                f"WHERE {where})"
            )
        frames[table] = _plain(con.query(sql))
        dropped = sorted(set(by_name[table]) - {_canonical_name(c.name) for c in selected})
        if dropped and table == "deals":
            notes.append(
                Message(
                    N_("{database} table {table}: {count} column(s) not read ({option}): {names}"),
                    database=con.label,
                    table=found[table],
                    count=str(len(dropped)),
                    option=f"columns={columns!r}",
                    names=", ".join(dropped[:8]) + (", ..." if len(dropped) > 8 else ""),
                )
            )
    if where is not None:
        notes.append(
            Message(
                N_(
                    "{label}: read only the deals kept by the filter {value}{value2}{value3} "
                    "(SQL: {where}), and the rows of other tables that belong to them or to "
                    "no deal: figures for periods outside these days are incomplete."
                ),
                label=str(con.label),
                value=str("since=" + since.isoformat() if since else ""),
                value2=str(" " if since and until else ""),
                value3=str("until=" + until.isoformat() if until else ""),
                where=str(where),
            )
        )
    return frames


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Decimals as floats (the loader reads numbers, not fixed-point decimals)."""
    decimals = [c for c, t in frame.schema.items() if isinstance(t, pl.Decimal)]
    return frame.with_columns(pl.col(decimals).cast(pl.Float64)) if decimals else frame


# ------------------------------------------------------------------------------ CRM tables


def _crm_table_filter(source: str) -> Callable[[str], bool]:
    """Whether a table name is one the CRM adapter reads (as it tells its files apart)."""
    if source == "salesforce":
        from pipeline_kit.adapters.salesforce import object_of

        return lambda name: object_of(Path(name)) is not None
    if source == "hubspot":
        from pipeline_kit.adapters.hubspot import API_TABLES, ENGAGEMENT_KINDS

        known = set(API_TABLES) | {f"engagement_{kind}" for kind in ENGAGEMENT_KINDS}
        return lambda name: name.lower().removesuffix("_data") in known
    from pipeline_kit.adapters._tools import squash
    from pipeline_kit.adapters.pipedrive import API_FILES

    names = {n for group in API_FILES.values() for n in group}
    return lambda name: squash(name) in names


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, as a CSV export would have it (dates ISO, UTC with ``Z``)."""
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                utc = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
                exprs.append(utc.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"))
            else:
                exprs.append(col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f"))
        elif isinstance(dtype, pl.Date):
            exprs.append(col.dt.to_string("%Y-%m-%d"))
        elif isinstance(dtype, pl.Decimal):
            exprs.append(col.cast(pl.Float64).cast(pl.String))
        elif dtype.is_nested():
            exprs.append(col.cast(pl.List(pl.String), strict=False).list.join(", "))
        else:
            exprs.append(col.cast(pl.String, strict=False))
    return frame.select(exprs)


def _crm_frames(
    con: _Connection, source: str, tables: Sequence[str] | None
) -> dict[str, pl.DataFrame]:
    if tables is None:
        wanted = _crm_table_filter(source)
        names = [t for t in sorted(con.tables) if wanted(t)]
    else:
        unknown = [t for t in tables if t not in con.tables]
        if unknown:
            raise DataError(
                problem=f"no table {unknown[0]!r} in schema {con.schema!r}",
                fix="name tables as the database does (tables=[...]), or pass schema=",
                file=con.label,
                examples=[f"tables found: {', '.join(sorted(con.tables)) or 'none'}"],
            )
        names = list(tables)
    if not names:
        raise DataError(
            problem=f"no {source} table in schema {con.schema!r}",
            fix="pass schema= (the schema your connector syncs into) or tables=[...]",
            file=con.label,
            examples=[f"tables found: {', '.join(sorted(con.tables)) or 'none'}"],
        )
    return {
        name: _as_text(con.query(f"SELECT * FROM {_quote(con.schema)}.{_quote(name)}"))
        for name in names
    }


def _relabel(raw: RawDataset, labels: dict[str, str]) -> RawDataset:
    """Replace temporary file paths (keys) by database labels in every table, note and row."""

    def fix(text: str) -> str:
        for old, new in labels.items():
            text = text.replace(old, new)
        return text

    tables = {n: replace(t, file=fix(t.file)) for n, t in raw.tables.items()}
    setaside = []
    for frame in raw.setaside:
        if "file" in frame.columns and frame.height:
            expr = pl.col("file")
            for old, new in labels.items():
                expr = expr.str.replace_all(old, new, literal=True)
            frame = frame.with_columns(expr)
        setaside.append(frame)
    return replace(raw, tables=tables, notes=[fix(n) for n in raw.notes], setaside=setaside)


# --------------------------------------------------------------------------------- reading


def _digest(label: str, source: str, options: dict[str, Any], frames: dict[str, pl.DataFrame]):
    digest = hashlib.sha256(f"{label}|{source}|{sorted(options.items())!r}".encode())
    for name in sorted(frames):
        frame = frames[name]
        content = frame.with_row_index("__i").hash_rows().sum() if frame.height else 0
        digest.update(f"{name}|{frame.schema}|{frame.height}|{content}".encode())
    return digest.hexdigest()[:12]


def read_database(
    uri: str,
    source: str = "canonical",
    *,
    schema: str | None = None,
    columns: Literal["all", "canonical"] | Sequence[str] = "all",
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    period: str | None = None,
    tables: Sequence[str] | None = None,
    **options: Any,
) -> RawDataset:
    """Raw tables from a database (see module docstring).

    Parameters
    ----------
    uri
        ``duckdb:///path/to.db`` or ``postgresql://user@host:port/db``.
    source
        ``"canonical"`` (tables named deals, stage_history, ...) or a CRM whose synced tables
        the schema holds (``"salesforce"``, ``"hubspot"``, ``"pipedrive"``).
    schema
        The database schema (default ``main`` for DuckDB, ``public`` for PostgreSQL).
    columns
        ``"all"``, ``"canonical"``, or the extra columns to read besides the canonical ones
        (canonical source only).
    since, until, period
        Days (or a period such as ``"2025-Q4"``, meaning its first and last day) pushed into
        the SQL: deals closed before ``since`` and deals created after ``until`` are not read
        (canonical source only).
    tables
        The CRM tables to read (default: those the adapter recognises by name).
    **options
        Passed to the CRM adapter (``reporting_currency=``, ``team=``, ...), or as the
        DataFrames' ``mapping`` settings for the canonical source.

    Returns
    -------
    RawDataset
        The raw tables, labelled ``<uri> table <name>``, with a content fingerprint.
    """
    if source not in ("canonical", *CRM_SOURCES):
        raise DataError(
            problem=f"source {source!r} cannot be read from a database",
            fix=f"use source='canonical' or one of {', '.join(CRM_SOURCES)}",
            file=redact(uri),
        )
    if period is not None:
        from pipeline_kit.periods import Period

        try:
            bounds = Period.parse(period)
        except ValueError as exc:
            raise DataError(problem=str(exc), fix="write period as 2025-Q4, 2025-11, ...") from None
        since, until = since or bounds.start, until or bounds.end
    since_day, until_day = _date_bound(since, "since"), _date_bound(until, "until")
    if source != "canonical" and (since_day or until_day or columns != "all"):
        raise DataError(
            problem=f"columns=, since=, until= and period= work on canonical tables, not on "
            f"{source}'s",
            fix="leave them out: the CRM tables are read whole (tables=[...] picks tables)",
            file=redact(uri),
        )
    if isinstance(columns, str) and columns not in ("all", "canonical"):
        raise DataError(
            problem=f"columns={columns!r} is not understood",
            fix='use columns="all" (default), "canonical", or a list of the extra columns',
            file=redact(uri),
        )
    if source == "canonical" and tables is not None:
        raise DataError(
            problem="tables= picks CRM tables; canonical tables are found by name",
            fix="leave out tables=, or name the tables deals, stage_history, stages, ...",
            file=redact(uri),
        )
    con = _connect(uri, schema)
    notes: list[str] = []
    try:
        if source == "canonical":
            frames = _canonical_frames(con, columns, since_day, until_day, notes)
        else:
            frames = _crm_frames(con, source, tables)
    finally:
        con.close()
    fingerprint = _digest(
        con.label,
        source,
        {"schema": con.schema, "columns": repr(columns), "since": since_day, "until": until_day},
        frames,
    )
    notes.insert(
        0,
        Message(
            N_("Read from {database} (schema {schema}): {tables}."),
            database=con.label,
            schema=con.schema,
            tables=Message.joined(
                [
                    Message(N_("{table} ({rows} rows)"), table=name, rows=str(frame.height))
                    for name, frame in frames.items()
                ],
                ", ",
            ),
        ),
    )
    if source == "canonical":
        from pipeline_kit.adapters.frames import read_frames

        raw = read_frames(frames, **options)
        labels = {f"<DataFrame {name!r}>": f"{con.label} table {name}" for name in frames}
        raw = _relabel(raw, labels)
        return replace(
            raw,
            source="canonical",
            path=Path(con.label),
            fingerprint=fingerprint,
            notes=[*notes, *raw.notes],
        )
    from pipeline_kit.adapters import get_adapter

    with tempfile.TemporaryDirectory(prefix="pipeline_kit_db_") as tmp:
        folder = Path(tmp)
        for name, frame in frames.items():
            frame.write_parquet(folder / f"{name}.parquet")
        raw = get_adapter(source)(folder, **options)
        labels = {str(folder / f"{name}.parquet"): f"{con.label} table {name}" for name in frames}
        labels |= {f"{name}.parquet": f"table {name}" for name in frames}
        labels[str(folder)] = con.label
        raw = _relabel(raw, labels)
    return replace(raw, path=Path(con.label), fingerprint=fingerprint, notes=[*notes, *raw.notes])
