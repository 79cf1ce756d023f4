"""DataFrames already in memory (``load({"deals": df, ...})``), polars or pandas.

=====================  =========================================================================
input                  what the loader gets
=====================  =========================================================================
dict keys              canonical table names (``deals``, ``stages``, ...); with a mapping, the
                       ``file`` of a mapping section names a key instead (default: the
                       section's table name), and a key no section names must be a table name
polars DataFrame,      as it is (a LazyFrame is collected)
LazyFrame
pandas DataFrame       ``pl.from_pandas`` (pandas is imported only if given); named index
                       levels (``set_index("deal_id")``) become columns again; an object column
                       of mixed values is read as text
column names           without a mapping, lower case with spaces as ``_`` (``Deal ID`` is
                       ``deal_id``), as for canonical CSV files
typed columns          kept: the loader casts dates, date-times, numbers and booleans itself;
                       time-zone-aware date-times become UTC (as text with an offset does);
                       categoricals, enums and anything else the loader does not read become
                       text; a float column of whole numbers feeding a text column (an id
                       that pandas turned into ``123.0`` because of a missing value) becomes
                       ``123``
``currency`` column    of the deals, holding several codes: converted with ``rates=`` (and
                       ``reporting_currency=``), else only the most common currency kept and
                       the other deals quarantined, as for files
                       (:func:`~pipeline_kit.adapters.mapping.convert_currency`)
``source_row``         the row's position + 1 (``row N`` counted from 1, as a user counts);
                       a ``source_row`` column in the frame is replaced (a note says so)
file label             ``<DataFrame 'deals'>``
fingerprint            a hash of the frames' names, columns, types and row contents
=====================  =========================================================================
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from pipeline_kit.adapters._tools import without_repeated_headers
from pipeline_kit.adapters.base import RawDataset, RawTable, leads_only_note, no_deals_table
from pipeline_kit.adapters.mapping import (
    Section,
    annualise_amounts,
    apply_mapping,
    convert_currency,
    parse_mapping,
)
from pipeline_kit.adapters.snapshots import SNAPSHOT_MESSAGES, Snapshots, latest_snapshot
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import TABLES

__all__ = ["read_frames", "to_polars"]

FRAMES_PATH = Path("<DataFrames>")


def _label(key: str) -> str:
    return f"<DataFrame {key!r}>"


def _from_pandas(frame: Any, key: str, notes: list[str]) -> pl.DataFrame:
    import pandas as pd  # only when a pandas frame was given

    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.rename(
            columns=lambda c: " ".join(map(str, c)) if isinstance(c, tuple) else str(c)
        )
    named = [n for n in frame.index.names if n is not None]
    if named:  # set_index("deal_id") must not lose the ids
        frame = frame.reset_index(level=named)
    try:
        return pl.from_pandas(frame)
    except Exception:  # pyarrow's conversion errors have no common base worth importing
        pass
    mixed = []
    for c in frame.columns:
        if frame[c].dtype == object:
            try:
                pl.from_pandas(frame[[c]])
            except Exception:
                frame = frame.assign(**{c: frame[c].astype(pd.StringDtype())})
                mixed.append(c)
    if mixed:
        notes.append(
            Message(
                N_(
                    "{value}: column(s) {names} mix several kinds of values (numbers and "
                    "text): read as text."
                ),
                value=str(_label(key)),
                names=str(", ".join(mixed)),
            )
        )
    try:
        return pl.from_pandas(frame)
    except Exception as exc:
        raise DataError(
            problem=f"the pandas DataFrame {key!r} cannot be converted to polars: {exc}",
            fix="convert unusual columns (objects, nested values) to text or numbers first",
        ) from exc


def to_polars(key: str, frame: Any, notes: list[str]) -> pl.DataFrame:
    """``frame`` (polars DataFrame or LazyFrame, or pandas DataFrame) as a polars DataFrame."""
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame
    if type(frame).__module__.split(".")[0] == "pandas" and hasattr(frame, "columns"):
        return _from_pandas(frame, key, notes)
    raise DataError(
        problem=f"{key!r} is a {type(frame).__name__}, not a DataFrame",
        fix="give a polars DataFrame or LazyFrame, or a pandas DataFrame, for each table",
    )


def _as_text(value: object) -> str:
    return f"{value}"


def _loader_ready(
    frame: pl.DataFrame, key: str, table: str | None, notes: list[str]
) -> pl.DataFrame:
    """Columns the loader reads, the rest converted, and a ``source_row``.

    The loader reads text, numbers, booleans, dates and naive date-times; ``source_row`` is
    the row position + 1.
    """
    targets = (
        {c: col.dtype for c, col in TABLES[table].columns().items()} if table in TABLES else {}
    )
    exprs: list[pl.Expr] = []
    utc, as_text, whole = [], [], []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(col.dt.convert_time_zone("UTC").dt.replace_time_zone(None))
            utc.append(f"{name} ({dtype.time_zone})")
        elif isinstance(dtype, (pl.Categorical, pl.Enum, pl.Null, pl.Time, pl.Binary)):
            exprs.append(col.cast(pl.String, strict=False))
        elif isinstance(dtype, pl.Duration):
            exprs.append(col.dt.to_string())
            as_text.append(name)
        elif isinstance(dtype, pl.Struct):
            exprs.append(col.struct.json_encode())
            as_text.append(name)
        elif isinstance(dtype, (pl.List, pl.Array)):
            exprs.append(col.cast(pl.List(pl.String), strict=False).list.join(", "))
            as_text.append(name)
        elif isinstance(dtype, pl.Object):
            # Python objects have no native conversion: one str() per value
            exprs.append(col.map_elements(_as_text, return_dtype=pl.String, skip_nulls=True))
            as_text.append(name)
        elif dtype.is_float() and targets.get(name) == pl.String:
            values = frame[name].drop_nulls()
            if values.len() and (values == values.round(0)).all():
                exprs.append(col.cast(pl.Int64).cast(pl.String))
                whole.append(name)
        # everything else (text, numbers, booleans, dates, naive date-times) as it is
    if exprs:
        try:
            frame = frame.with_columns(exprs)
        except pl.exceptions.PolarsError as exc:
            raise DataError(
                problem=f"a column of DataFrame {key!r} cannot be turned into text: {exc}",
                fix="convert nested or object columns to text or numbers first",
            ) from exc
    if utc:
        notes.append(
            Message(
                N_(
                    "{value}: time-zone-aware column(s) {names} converted to UTC (as text "
                    "timestamps with an offset are); date columns take the UTC day."
                ),
                value=str(_label(key)),
                names=str(", ".join(utc)),
            )
        )
    if whole:
        notes.append(
            Message(
                N_(
                    "{value}: {names} held whole numbers as floats (a missing value makes "
                    "pandas do that): read as 123, not 123.0."
                ),
                value=str(_label(key)),
                names=str(", ".join(whole)),
            )
        )
    if as_text:
        notes.append(
            Message(
                N_("{value}: {names} read as text."),
                value=str(_label(key)),
                names=str(", ".join(as_text)),
            )
        )
    if "source_row" in frame.columns:
        frame = frame.drop("source_row")
    return frame.with_row_index("source_row", offset=1).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )


def _canonical_headers(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    names = [c if c == "source_row" else c.strip().lower().replace(" ", "_") for c in frame.columns]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise DataError(
            problem=f"DataFrame {key!r} has several columns named {', '.join(repeated)} once "
            "case and spaces are ignored",
            fix="give every column a unique name",
            file=_label(key),
        )
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def _frame_digest(key: str, frame: pl.DataFrame) -> str:
    content = frame.with_row_index("__i").hash_rows().sum() if frame.height else 0
    return f"{key}|{frame.schema}|{frame.height}|{content}"


def _without_header_rows(
    frame: pl.DataFrame, table: str, label: str, notes: list[str], setaside: list[pl.DataFrame]
) -> pl.DataFrame:
    """``frame`` without the rows repeating its header, set aside as ``repeated_header``.

    Two sheets or CSVs concatenated in pandas (``pd.concat`` of files read with
    ``header=None``) keep the second header as a row: as for a file, it is excluded and said
    (:func:`without_repeated_headers`), where it was quarantined once per column.
    """
    kept, aside = without_repeated_headers(frame, table=table, file=label, notes=notes)
    if aside.height:
        setaside.append(aside)
    return kept


def read_frames(
    frames: Mapping[str, Any],
    mapping: str | Path | Mapping[str, Any] | None = None,
    **options: Any,
) -> RawDataset:
    """Raw tables from DataFrames by table name (see module docstring).

    With a ``mapping`` (file or dict, see :mod:`pipeline_kit.adapters.mapping`) the frames are
    renamed and their text values normalised as for files; ``options`` (``date_format``,
    ``decimal``) then apply as the mapping's top-level settings, also without a mapping.
    """
    if not isinstance(frames, Mapping) or not frames:
        raise DataError(
            problem="load() got neither a folder nor a dict of DataFrames",
            fix='pass a data folder, or {"deals": deals_df, ...}',
        )
    bad_keys = [k for k in frames if not isinstance(k, str)]
    if bad_keys:
        raise DataError(
            problem=f"DataFrames must be given by table name, not {bad_keys[0]!r}",
            fix=f"use table names as keys: {', '.join(TABLES)}",
        )
    notes: list[str] = []
    polars_frames = {key: to_polars(key, frame, notes) for key, frame in frames.items()}
    replaced = [k for k, f in polars_frames.items() if "source_row" in f.columns]
    if replaced:
        notes.append(
            Message(
                N_(
                    "DataFrame(s) {names} had a source_row column: replaced by the row "
                    "position (row 1 = the first row), the line numbers of every DataFrame."
                ),
                names=str(", ".join(replaced)),
            )
        )
    if mapping is None and not options:
        sections = None
    else:
        spec = parse_mapping({} if mapping is None else mapping, **options)
        sections = dict(spec.sections)
        named = {s.file if s.file is not None else s.table for s in sections.values()}
        for key in frames:
            if key not in named and key in TABLES and key not in sections:
                sections[key] = Section(key)
        missing = sorted(n for n in named if n not in frames)
        if missing:
            raise DataError(
                problem=f"the mapping names DataFrame(s) {', '.join(map(repr, missing))}, "
                "which were not given",
                fix="with DataFrames, a section's `file` is a key of the dict: give "
                f"{{{missing[0]!r}: df, ...}} or correct `file` in the mapping",
                file=None if spec.folder is None else spec.origin,
                examples=[f"DataFrames given: {', '.join(frames)}"],
            )
        named = {s.file if s.file is not None else s.table for s in sections.values()}
    unknown = [k for k in frames if k not in (named if sections is not None else TABLES)]
    if unknown:
        near = difflib.get_close_matches(unknown[0], list(TABLES), n=1)
        raise DataError(
            problem=f"no table is called {', '.join(map(repr, unknown))}"
            + (f" (did you mean {near[0]}?)" if near else ""),
            fix=f"use canonical table names as keys: {', '.join(TABLES)}"
            + (" (or name the DataFrame in a mapping section's `file`)" if sections else ""),
            examples=[f"DataFrames given: {', '.join(frames)}"],
        )
    given = frames if sections is None else sections
    no_deals = "deals" not in given and "leads" in given
    if "deals" not in given and not no_deals:
        raise DataError(
            problem="no deals (nor leads): neither a 'deals' DataFrame nor a [deals] mapping "
            "section",
            fix='give the opportunities as {"deals": deals_df, ...} (other tables optional), '
            "or a [deals] mapping section whose file names your DataFrame",
            examples=[f"DataFrames given: {', '.join(frames)}"],
        )
    tables: dict[str, RawTable] = {}
    hints: dict[tuple[str, str], str] = {}
    ready: dict[str, pl.DataFrame] = {}
    setaside: list[pl.DataFrame] = []
    snapshots: Snapshots | None = None  # a deals table of snapshots (see adapters.snapshots)
    if sections is None:
        for key, frame in polars_frames.items():
            ready[key] = _loader_ready(_canonical_headers(frame, key), key, key, notes)
            out = _without_header_rows(ready[key], key, _label(key), notes, setaside)
            if key == "deals":
                out = convert_currency(
                    out,
                    file=_label(key),
                    notes=notes,
                    setaside=setaside,
                    rates=None,
                    reporting_currency=None,
                )
                out, snapshots = latest_snapshot(
                    out, file=_label(key), notes=notes, setaside=setaside
                )
            tables[key] = RawTable(key, out, _label(key))
    else:
        for key, frame in polars_frames.items():
            ready[key] = _loader_ready(frame, key, None, notes)
        for table, section in sections.items():
            key = section.file if section.file is not None else table
            label = _label(key)
            settings = section.settings.over(spec.defaults)
            rows = _without_header_rows(ready[key], table, label, notes, setaside)
            out = apply_mapping(section, settings, rows, label, notes, hints, label=label)
            # float ids of the canonical columns as text (same rows, same order)
            out = _loader_ready(out.drop("source_row"), key, table, notes)
            if table == "deals" and "amount_period" in out.columns:  # (as for files)
                out = annualise_amounts(
                    out, label, section.columns.get("amount_period"), notes, setaside
                )
            if table == "deals":  # (as for files: several currencies are never summed)
                out = convert_currency(
                    out,
                    file=label,
                    notes=notes,
                    setaside=setaside,
                    rates=settings.rates,
                    reporting_currency=settings.reporting_currency,
                )
                out, snapshots = latest_snapshot(out, file=label, notes=notes, setaside=setaside)
            tables[table] = RawTable(table, out, label)
    derived_history = snapshots is not None and snapshots.add_history(tables, notes)
    digest = hashlib.sha256()
    for key in sorted(ready):
        digest.update(_frame_digest(key, ready[key]).encode())
    if sections is not None:
        digest.update(spec.digest.encode())
    if no_deals:
        tables = {"deals": no_deals_table(_label("deals")), **tables}
        notes.append(leads_only_note("the DataFrames given"))
    return RawDataset(
        no_deals=no_deals,
        source="frames",
        path=FRAMES_PATH,
        tables=tables,
        fingerprint=digest.hexdigest()[:12],
        notes=notes,
        hints=hints,
        setaside=setaside,
        stage_history_approximate=derived_history,
        rule_messages=dict(SNAPSHOT_MESSAGES) if snapshots is not None else {},
    )
