"""Load a dataset: adapter -> typed parsing -> schema rules -> cross-table rules.

Nothing is lost on the way. Each input row ends up either in the validated table or in the
quarantine, with the rule(s) it broke, so that for every table
``read == valid + quarantined`` (checked on every load).

Three stages, each producing quarantine rows in the same shape:

1. *parsing*: strings become typed values; a value that cannot be read (``31/12/2025``, ``n/a``
   in a number column, status ``pending``) breaks the rule ``<column>|dtype``;
2. *schema rules*: :meth:`dataframely.Schema.filter` with the schemas of :mod:`pipeline_kit.schema`
   (required values, ranges, duplicate keys, closed before created, ...);
3. *cross-table rules*: a deal's stage must be a known stage, a stage change must belong to a
   valid deal, and so on (:data:`pipeline_kit.schema.FOREIGN_KEYS`).

Then gaps are filled and recorded in ``Dataset.notes``: stages derived from deals when
``stages`` is absent, probabilities on a 0-100 scale turned into 0-1, and a minimal
``stage_history`` derived from the deals when none was given (stage-level results are then
approximate).

Several pipelines: a stage name listed under several pipelines in ``stages`` (``Lost`` in New
business and in Renewals) is kept once with no pipeline (the other rows are excluded as
``stage_in_several_pipelines``); when ``deals`` has no ``pipeline`` column but ``stages`` has
one, each deal takes its stage's pipeline (a counted note when there are several pipelines).
A deal in a stage with no single pipeline takes the one pipeline of the other stages in its
exported stage_history, or stays without a pipeline (ambiguous: never guessed).

Deals, stages and stage_history are validated by :func:`load`; the other tables (leads,
activities, collateral usage, marketing spend, customers, targets, benchmarks), on which no
rule of those three depends, when first read (``ds.leads``). Reading the quarantine, the
counts, the notes or the exclusions validates them all first, so these always cover every
table, as if everything had been validated up front.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
import itertools
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import dataframely as dy
import numpy as np
import polars as pl

from pipeline_kit.adapters import get_adapter
from pipeline_kit.adapters._tools import (
    CURRENCY_MESSAGES,
    SETASIDE_SCHEMA,
    amount_form_hint,
    archive_problem,
    plain_number,
    set_aside,
)
from pipeline_kit.adapters.base import RawDataset, RawTable, file_state
from pipeline_kit.adapters.database import is_database_uri
from pipeline_kit.adapters.detect import AUTO, resolve_source
from pipeline_kit.dataset import Dataset, Tables
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import (
    DEFERRED_TABLES,
    FILLED_WHEN_ABSENT,
    FOREIGN_KEYS,
    ONE_TEAM,
    TABLES,
    UNDATED_DEALS,
    UNKNOWN_OWNER,
    ForeignKey,
    dtype_hint,
    needed_columns,
    optional_columns,
    required_columns,
)

__all__ = ["load", "validate_raw", "validate_table"]

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
# Accepted timestamp shapes: ISO 8601 date or date-time ("T" or space; seconds, fraction and a
# trailing "Z" optional) and YYYY/MM/DD. Day-first or month-first dates (31/12/2025, 12/31/2025)
# are ambiguous and are rejected with a message asking for ISO dates.
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
QUARANTINE_SCHEMA = pl.Schema(
    {
        "table": pl.String(),
        "file": pl.String(),
        "source_row": pl.Int64(),
        "rules": pl.List(pl.String),
        "record": pl.String(),
    }
)


# Datasets loaded with cache=True in this process, by folder, source and the size and
# modification time of every file in the folder.
_LOADED: dict[tuple, Dataset] = {}
_LOADED_MAX = 2

# The default of load()'s cache_dir when set (run_reports sets it for its report kernels).
CACHE_DIR_VARIABLE = "PIPELINE_KIT_CACHE_DIR"


def _folder_state(path: Path) -> tuple:
    if not path.is_dir():
        return ()
    return tuple(sorted(file_state(entry) for entry in path.iterdir() if entry.is_file()))


def load(
    path: str | Path | Mapping[str, Any],
    source: str = "auto",
    *,
    mapping: str | Path | Mapping[str, Any] | None = None,
    cache: bool = False,
    cache_dir: str | Path | bool | None = None,
    date_horizon_days: int = 366,
    **options: Any,
) -> Dataset:
    """Read, type and validate a dataset.

    Parameters
    ----------
    path
        One of:

        - a folder of canonical ``<table>.csv``/``.parquet`` files;
        - the folder (or the file) of a known export: Salesforce, HubSpot, Pipedrive or
          Maven CRM, recognised by its file names and headers (see ``source``, and README,
          "Getting your data in");
        - a folder (or one file) of any other export with ``mapping=``;
        - a dict of polars or pandas DataFrames by table name (``{"deals": df, ...}``), with
          or without a ``mapping``.
        - a database URI, ``duckdb:///path/to.db`` or ``postgresql://user@host:port/db``
          (:mod:`pipeline_kit.adapters.database`; drivers in the ``[db]`` extra): the
          canonical tables, or with ``source=`` a CRM-synced schema; options ``columns=``,
          ``since=``, ``until=``, ``period=`` and ``schema=`` are pushed into the SQL. The
          caches are not used for a database.
    source
        The adapter that reads ``path``: ``"canonical"``, a CRM's name (``"salesforce"``,
        ``"hubspot"``, ``"pipedrive"``, ``"maven"``), or ``"auto"`` (the default): canonical
        when the folder has a deals (or leads) file or the file has the canonical deals
        columns, else the CRM whose export it is, by its file names and header line, said in
        a note (:mod:`pipeline_kit.adapters.detect`); canonical when none claims it.
    mapping
        A mapping file (``mapping.toml``) or the same content as a dict: which file is which
        table, column renames, value maps, date format, decimal comma, encoding, constants.
    cache
        Loading the same folder again in this process, with no file added, removed, resized
        or modified since, returns the same :class:`Dataset` (read-only by contract; results
        derived from it are cached on it): the report templates use it, so a kernel running
        many team reports parses and validates once. The two most recent datasets loaded
        this way stay in memory; the default reads the files every time and keeps nothing.
    cache_dir
        A folder, or ``True`` for the user's cache folder: the validated dataset is also kept
        on disk (:mod:`pipeline_kit.cache`), so loading an unchanged export again, in any
        process, reads Parquet instead of parsing and validating; any change to the files,
        the mapping, the options or the kit's version makes a new entry. Results that every
        report derives from the dataset (the forecast and its backtest) are kept beside it
        (:meth:`Dataset.memoised`). Default: the folder named by the environment variable
        ``PIPELINE_KIT_CACHE_DIR`` when set (``run_reports`` sets it for its report kernels;
        a dataset read from that folder does not say so in its notes), else none; ``False``
        bypasses it.
    date_horizon_days
        A deal created or closed more than this many days after the day by which 99% of the
        deals were created (a placeholder year such as 2099), or before 1950, is quarantined.
    **options
        Passed to the adapter (e.g. ``reporting_currency="EUR"``, ``team="role"`` for
        Salesforce; ``encoding="latin-1"`` for canonical files); an unknown option is an
        error.

    Returns
    -------
    Dataset
        The valid rows of every table, the quarantine (one row per rejected input row, with
        the rules it broke), the rows left out by design (``excluded``: deleted, merged,
        exact copies, ...) and the per-table counts, for which
        read = valid + quarantined + excluded always holds.

    Raises
    ------
    DataError
        For problems no row-level quarantine can absorb: a missing folder, file or required
        column, an unreadable file.

    Examples
    --------
    >>> ds = load("data/sample")
    >>> ds.deals.height, ds.quarantine.height
    (5000, 0)
    >>> ds.counts.select(
    ...     (pl.col("read") == pl.col("valid") + pl.col("quarantined") + pl.col("excluded")).all()
    ... ).item()
    True

    Two deals in memory, the second one closed before it was created:

    >>> deals = pl.DataFrame({
    ...     "deal_id": ["D1", "D2"], "owner": ["Ann", "Bo"], "team": ["SMB", "SMB"],
    ...     "amount": ["1200", "800"], "created_at": ["2025-01-10", "2025-02-01"],
    ...     "stage": ["Won", "Lost"], "status": ["won", "lost"],
    ...     "closed_at": ["2025-03-01", "2025-01-15"]})
    >>> small = load({"deals": deals})
    >>> small.deals["deal_id"].to_list(), small.quarantine["source_row"].to_list()
    (['D1'], [2])
    >>> load("no/such/folder")
    Traceback (most recent call last):
    ...
    pipeline_kit.errors.DataError: ...

    Other exports (not shipped with the kit):

    >>> ds = load("exports/sfdc", source="salesforce", reporting_currency="USD")  # doctest: +SKIP
    >>> ds = load("exports/other_crm", mapping="my_crm.toml")  # doctest: +SKIP
    """
    if isinstance(path, str) and is_database_uri(path):  # tables fetched from a database
        from pipeline_kit.adapters.database import read_database

        if mapping is not None:
            options["mapping"] = mapping
        source = "canonical" if source == AUTO else source  # (a schema is not recognised)
        return validate_raw(read_database(path, source, **options), date_horizon_days)
    if not isinstance(path, (str, Path)):
        from pipeline_kit.adapters.frames import read_frames

        return validate_raw(read_frames(path, mapping=mapping, **options), date_horizon_days)
    # a folder named by the environment is not mentioned in the notes: the reports of a
    # batch (run_reports) read the same with it and without it
    noted = cache_dir is not None
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_DIR_VARIABLE) or None
    if cache_dir and not cache:
        return _load_through_disk_cache(
            Path(path), source, mapping, cache_dir, date_horizon_days, options, noted
        )

    def read() -> Dataset:
        if cache_dir:
            return _load_through_disk_cache(
                Path(path), source, mapping, cache_dir, date_horizon_days, options, noted
            )
        return validate_raw(_read(Path(path), source, mapping, options), date_horizon_days)

    if not cache:
        return read()
    folder = Path(path).resolve()
    key = (
        str(folder),
        source,
        _mapping_state(mapping),
        repr(sorted(options.items())),
        date_horizon_days,
        str(cache_dir),
        _folder_state(folder),
    )
    if key[2] is None:  # a mapping given as a dict: not cached
        return read()
    if key in _LOADED:
        return _LOADED[key]
    ds = read()
    if key[-1]:  # files to recognise the folder by
        while len(_LOADED) >= _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = ds
    return ds


def _load_through_disk_cache(
    path: Path,
    source: str,
    mapping: str | Path | Mapping[str, Any] | None,
    cache_dir: str | Path | Literal[True],
    date_horizon_days: int,
    options: dict[str, Any],
    noted: bool = True,
) -> Dataset:
    """:func:`load` through the on-disk cache of validated datasets.

    A dataset read from it says so in its notes when ``noted``.
    """
    from pipeline_kit.cache import (
        DIGEST_INDEX,
        cache_key,
        default_cache_dir,
        read_cached,
        results_dir,
        write_cached,
    )

    if not path.exists():  # the adapter says what is missing
        return validate_raw(_read(path, source, mapping, options), date_horizon_days)
    folder = default_cache_dir() if cache_dir is True else Path(cache_dir)
    key = cache_key(path, source, mapping, options, date_horizon_days, folder / DIGEST_INDEX)
    ds = read_cached(folder, key)
    if ds is not None and noted:
        ds = replace(
            ds,
            notes=[
                *ds.notes,
                Message(
                    N_(
                        "Read from the validated cache ({folder}, entry {key}): the export is "
                        "unchanged since it was validated."
                    ),
                    folder=str(folder),
                    key=key[:12],
                ),
            ],
        )
    elif ds is None:
        ds = validate_raw(_read(path, source, mapping, options), date_horizon_days)
        write_cached(folder, key, ds)
    object.__setattr__(ds, "_results_dir", results_dir(folder, key))
    return ds


def _mapping_state(mapping: str | Path | Mapping[str, Any] | None) -> tuple | str | None:
    """What identifies a mapping for the cache.

    Its file's path, size and modification time (an edited mapping file reloads); a dict
    mapping is never cached (None).
    """
    if mapping is None:
        return ""
    if not isinstance(mapping, (str, Path)):
        return None
    file = Path(mapping).resolve()
    stat = file.stat() if file.exists() else None
    return (str(file), stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1)


def _read(
    path: Path,
    source: str,
    mapping: str | Path | Mapping[str, Any] | None,
    options: dict[str, Any],
) -> RawDataset:
    """The adapter's raw tables: a mapping file's, or the named source's."""
    if (problem := archive_problem(path)) is not None:  # (a zip, a web page named .xls, ...)
        raise problem
    if mapping is not None:
        if source not in (AUTO, "canonical", "mapping"):
            raise DataError(
                problem=f"both source={source!r} and a mapping were given",
                fix="a mapping file describes the export itself: leave out the source",
            )
        from pipeline_kit.adapters.mapping import read_mapped

        return read_mapped(path, mapping, **options)
    source, recognised = resolve_source(path, source)
    adapter = get_adapter(source)
    try:
        inspect.signature(adapter).bind(path, **options)
    except TypeError:
        accepted = [
            p.name
            for p in inspect.signature(adapter).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        raise DataError(
            problem=f"unknown option(s) for source {source!r}: {', '.join(sorted(options))}",
            fix=f"this source accepts: {', '.join(accepted) or 'no options'}",
        ) from None
    raw = adapter(path, **options)
    if recognised is not None:
        raw.notes.insert(0, recognised)
    return raw


def validate_raw(raw: RawDataset, date_horizon_days: int = 366) -> Dataset:
    """Validate the raw tables an adapter produced (see module docstring)."""
    notes = list(raw.notes)
    raw.hints = dict(raw.hints)  # (a check may add one: an adapter's own dict is left as it is)
    undated = "deals" in raw.tables and "created_at" not in raw.tables["deals"].frame.columns
    # (the columns as read, for an error: not those the kit adds for a missing owner or team)
    as_read = {name: t.frame.columns for name, t in raw.tables.items()}
    absent = frozenset(
        f"{name}.{c}"
        for name, cols in as_read.items()
        for c in optional_columns(name)
        if c not in cols
    )
    if "deals" in raw.tables:
        # (before an empty owner or team is filled in, which would leave no row blank)
        _set_aside_blank_rows(raw, "deals", raw.setaside, notes)
        raw.tables["deals"] = _fill_owner_and_team(raw.tables["deals"], notes)
    if "deals" in raw.tables and "amount" not in raw.tables["deals"].frame.columns:
        # (counts, rates and cycles stand; every amount figure is unknown, not 0)
        deals = raw.tables["deals"]
        raw.tables["deals"] = replace(
            deals, frame=deals.frame.with_columns(pl.lit(None, pl.String).alias("amount"))
        )
        if not raw.no_deals:
            notes.append(
                Message(
                    N_(
                        "{file} has no amount column: deal counts, rates, cycles and "
                        "conversion are computed; every amount figure (deal size, bookings, "
                        "pipeline value, velocity, the forecast) is unknown and shown as '–'."
                    ),
                    file=Path(deals.file).name,
                )
            )
    if undated:
        deals = raw.tables["deals"]
        raw.tables["deals"] = RawTable(
            "deals",
            deals.frame.with_columns(pl.lit(None, pl.String).alias("created_at")),
            deals.file,
            UNDATED_DEALS,
        )
        notes.append(
            Message(
                N_(
                    "{file} has no created_at column: a win/loss export. Figures cover the "
                    "whole export (period 'all'); figures over time (per quarter, cycle "
                    "curves, snapshots, trends) need dates and are not computed; cycle length "
                    "comes from days_to_close."
                )
                if "days_to_close" in deals.frame.columns
                else N_(
                    "{file} has no created_at column: a win/loss export. Figures cover the "
                    "whole export (period 'all'); figures over time (per quarter, cycle "
                    "curves, snapshots, trends) need dates and are not computed."
                ),
                file=Path(deals.file).name,
            )
        )
    for table in raw.tables.values():
        # every column chunked alike (a frame given in memory may not be): otherwise each
        # select of the table copies it to align the chunks, and the typed columns no longer
        # share memory with the raw ones
        table.frame = _aligned(table.frame)
        _check_required_columns(table, as_read[table.name])
    setaside = [raw_aside for raw_aside in raw.setaside if raw_aside.height]
    # tables no rule of deals, stages or stage_history depends on: validated on first use,
    # each note put back where a load validating everything up front writes it
    deferred = _DeferredTables(raw, [n for n in raw.tables if n in DEFERRED_TABLES])
    for name, table in raw.tables.items():  # rows an adapter left to read on first use
        if table.reader is not None and name not in deferred.names:
            raw.tables[name] = _with_rows(table)
    for name in list(raw.tables):
        if name in deferred.names:
            deferred.mark(name, "copies", len(notes))
            continue
        _set_aside_copies(raw, name, setaside, notes)
        if name == "stages":
            _merge_shared_stages(raw, setaside, notes)
    aside = (
        pl.concat(setaside, how="vertical") if setaside else pl.DataFrame(schema=SETASIDE_SCHEMA)
    )

    valid: dict[str, pl.DataFrame] = {}
    quarantined: list[pl.DataFrame] = [
        aside.filter(pl.col("kind") == "quarantined").select(
            "table", "file", "source_row", pl.concat_list("reason").alias("rules"), "record"
        )
    ]
    for name, table in raw.tables.items():
        if name in deferred.names:
            deferred.mark(name, "validate", len(notes))
            continue
        good, bad = _validate_table(table, notes)
        valid[name] = good
        quarantined.append(bad)
        if name == "deals" and ("deals", "amount|dtype") not in raw.hints and bad.height:
            _hint_amount_form(bad, raw.hints)
    # an export of leads only (no deals file: the adapter gave an empty deals table): nothing
    # is derived from deals, so nothing to say about it
    leads_only = raw.no_deals
    if "stages" not in valid:
        valid["stages"] = _derive_stages(valid["deals"], valid.get("stage_history"))
        if not leads_only:
            notes.append(
                Message(
                    N_(
                        "No stages table: stages were derived from the deals (order inferred from "
                        "stage_history)."
                    )
                    if "stage_history" in valid
                    else N_(
                        "No stages table: stages were derived from the deals (order inferred; "
                        "provide stages.csv)."
                    )
                )
            )
    valid["stages"], stage_notes = _complete_stages(valid["stages"], valid["deals"])
    notes.extend(stage_notes)
    valid["deals"], deal_notes = _probability_scale(
        valid["deals"], N_("deal probabilities (deals.probability)")
    )
    notes.extend(deal_notes)
    valid["deals"], bad = _flag_deals(
        valid["deals"], raw, _implausible_dates(valid["deals"], date_horizon_days)
    )
    quarantined.append(bad)

    valid["deals"], bad = _check_status_matches_stage(valid, raw)
    quarantined.append(bad)
    for fk in FOREIGN_KEYS:  # in order: deals are settled before the tables that refer to them
        if leads_only and fk.parent == "deals":
            continue  # no deal in the export: a lead's deal_id says it became one, kept as given
        if fk.table in deferred.names and fk.parent in valid:
            deferred.mark(fk.table, fk, len(notes))
            continue
        if fk.table in valid and fk.parent in valid:
            if (fk.table, fk.column) in LINKS_DROPPED_NOT_QUARANTINED:
                valid[fk.table] = _drop_unknown_links(valid, fk, notes)
                continue
            valid[fk.table], bad = _check_foreign_key(valid, raw, fk, notes)
            quarantined.append(bad)

    if "pipeline" not in valid["deals"].columns and valid["stages"]["pipeline"].is_not_null().any():
        valid["deals"] = _derive_deal_pipeline(valid, notes)

    approximate = raw.stage_history_approximate
    if "stage_history" not in valid and undated:
        valid["stage_history"] = pl.DataFrame(
            schema={
                "source_row": pl.Int64,
                "deal_id": pl.String,
                "stage": pl.String,
                "entered_at": pl.Date,
            }
        )
        approximate = True
    elif "stage_history" not in valid:
        valid["stage_history"] = _derive_stage_history(valid["deals"], valid["stages"])
        approximate = True
        if not leads_only:
            notes.append(
                Message(
                    N_(
                        "No stage_history: a minimal history was derived from the deals (entered "
                        "the first stage when created, the closing stage when closed). Stage-level "
                        "figures are approximate; provide stage_history.csv for exact ones."
                    )
                )
            )

    if "deals.amount" not in absent:  # (an export without amounts has its own note)
        notes.extend(_deals_without_amount(valid["deals"]))
    rule_messages = {**CURRENCY_MESSAGES, **EXCLUSION_MESSAGES, **raw.rule_messages}
    if deferred.names:
        deferred.start(valid, quarantined, aside, notes)
        return Dataset(
            tables=Tables(
                dict(valid), [*raw.tables, *(n for n in valid if n not in raw.tables)], deferred
            ),
            quarantine=pl.DataFrame(schema=QUARANTINE_SCHEMA),  # (settled on first read)
            counts=pl.DataFrame(),
            notes=notes,
            source=raw.source,
            path=raw.path,
            fingerprint=raw.fingerprint,
            fingerprinter=raw.fingerprinter,
            stage_history_approximate=approximate,
            hints=raw.hints,
            undated=undated,
            rule_messages=rule_messages,
            absent_columns=absent,
        )
    quarantine, excluded = _quarantine_and_excluded(quarantined, aside)
    counts = _counts(raw, valid, quarantine, excluded)
    return Dataset(
        tables=valid,
        quarantine=quarantine,
        counts=counts,
        notes=notes,
        source=raw.source,
        path=raw.path,
        fingerprint=raw.fingerprint,
        fingerprinter=raw.fingerprinter,
        stage_history_approximate=approximate,
        hints=raw.hints,
        excluded=excluded,
        undated=undated,
        rule_messages=rule_messages,
        absent_columns=absent,
    )


def _hint_amount_form(bad: pl.DataFrame, hints: dict[tuple[str, str], Any]) -> None:
    """A specific fix for the deals quarantined for an unreadable amount, where one applies.

    :func:`~pipeline_kit.adapters._tools.amount_form_hint` on those rows' amounts as read
    (accounting parentheses, ``1.2K``, a unit word), for every source that set no hint of its
    own.
    """
    amounts = bad.filter(pl.col("rules").list.contains("amount|dtype")).select(
        pl.col("record").str.json_path_match("$.amount")
    )
    if amounts.height and (hint := amount_form_hint(amounts.to_series())) is not None:
        hints[("deals", "amount|dtype")] = hint


def _deals_without_amount(deals: pl.DataFrame) -> list[str]:
    """The note saying how many valid deals have a blank amount (see ``schema.required_columns``).

    They are kept: counted in rates and cycles, left out of amount figures (each says how many
    it left out in ``without_amount``).
    """
    missing = deals.select(
        pl.col("amount").is_null().sum().alias("all"),
        (pl.col("amount").is_null() & pl.col("status").eq("won")).sum().alias("won"),
        (pl.col("amount").is_null() & pl.col("status").eq("lost")).sum().alias("lost"),
        (pl.col("amount").is_null() & pl.col("status").eq("open")).sum().alias("open"),
    ).row(0, named=True)
    if not missing["all"]:
        return []
    return [
        Message(
            N_(
                "{count} deal(s) have no amount ({won} won, {lost} lost, {open} open): counted "
                "in rates and cycles, left out of amount figures (each amount figure gives how "
                "many it left out in without_amount)."
            ),
            count=missing["all"],
            won=missing["won"],
            lost=missing["lost"],
            open=missing["open"],
        )
    ]


def _with_rows(table: RawTable) -> RawTable:
    """``table`` with the rows its adapter left to read on first use (``RawTable.reader``)."""
    assert table.reader is not None
    return replace(table, frame=_aligned(table.reader()), reader=None)


def _aligned(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every column cut into chunks at the rows where most of its columns are.

    Only the columns cut otherwise are copied (source_row added to a file's columns, a few
    computed ones): polars copies every column of a frame whose columns are chunked unalike
    at each select that combines them, so the frames derived from it stop sharing its memory.
    """
    cuts = {c: tuple(map(len, frame[c].get_chunks())) for c in frame.columns}
    if len(set(cuts.values())) <= 1 or frame.height == 0:
        return frame
    common = Counter(cuts.values()).most_common(1)[0][0]
    starts = [0, *itertools.accumulate(common)][:-1]

    def cut(column: pl.Series) -> pl.Series:
        whole = column.rechunk()
        return pl.concat(
            [whole.slice(s, n) for s, n in zip(starts, common, strict=True)], rechunk=False
        )

    return pl.DataFrame([frame[c] if cuts[c] == common else cut(frame[c]) for c in frame.columns])


def _quarantine_and_excluded(
    quarantined: list[pl.DataFrame], aside: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The dataset's quarantine and excluded rows from the parts the checks produced."""
    quarantine = pl.concat(
        [q.select(list(QUARANTINE_SCHEMA)) for q in quarantined], how="vertical"
    ).sort("table", "source_row")
    excluded = aside.filter(pl.col("kind") == "excluded").drop("kind").sort("table", "source_row")
    return quarantine, excluded


def _set_aside_copies(
    raw: RawDataset, name: str, setaside: list[pl.DataFrame], notes: list[str]
) -> None:
    """Set aside the blank rows and the exact copies of earlier rows of ``raw.tables[name]``.

    Both as excluded: a row with no value at all (a line of separators, which Excel leaves
    where rows were cleared) is no data, and was quarantined once per required column.
    """
    _set_aside_blank_rows(raw, name, setaside, notes)
    table = raw.tables[name]
    kept, dupes, unique_key = _exact_duplicates(table)
    raw.tables[name] = replace(table, frame=kept, unique_key=unique_key)
    if dupes.height:
        setaside.append(dupes)
        notes.append(
            Message(
                N_(
                    "{table}: {rows} row(s) repeat an earlier row exactly (every column "
                    "equal); each is counted once and the copies are listed as excluded."
                ),
                table=name,
                rows=dupes.height,
            )
        )


def _set_aside_blank_rows(
    raw: RawDataset, name: str, setaside: list[pl.DataFrame], notes: list[str]
) -> None:
    """Set aside the rows of ``raw.tables[name]`` that hold no value at all (as excluded)."""
    table = raw.tables[name]
    blank = _blank_rows(table.frame)
    if blank is None:
        return
    kept, aside = set_aside(
        table.frame, blank, table=name, file=table.file, kind="excluded", reason="blank_row"
    )
    raw.tables[name] = replace(table, frame=kept)
    setaside.append(aside)
    notes.append(
        Message(
            N_("{table}: {rows} row(s) hold no value at all; they are listed as excluded."),
            table=name,
            rows=aside.height,
        )
    )


def _merge_shared_stages(raw: RawDataset, setaside: list[pl.DataFrame], notes: list[str]) -> None:
    """One stage row, with no pipeline, for a stage name listed under several pipelines.

    A stage's name is its key, so ``Lost`` listed under two pipelines would otherwise break
    the key and the deals in it would be quarantined. When the rows agree on is_won and
    is_lost, the first is kept with an empty pipeline, the largest of their orders (a
    shared stage is usually the closing one) and their probability if they agree; the others
    are set aside as excluded (``stage_in_several_pipelines``). Rows that disagree are left
    to the key rule.
    """
    table = raw.tables["stages"]
    frame = table.frame
    if "pipeline" not in frame.columns or "order" not in frame.columns:
        return
    flag = {
        c: pl.col(c).cast(pl.String).str.strip_chars().str.to_lowercase()
        if c in frame.columns
        else pl.lit(None)
        for c in ("is_won", "is_lost")
    }
    pipeline = pl.col("pipeline").cast(pl.String).str.strip_chars().replace("", None)
    order = pl.col("order").cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    work = frame.with_columns(
        (
            (pipeline.n_unique().over("stage") - pipeline.is_null().any().over("stage") > 1)
            & (flag["is_won"].n_unique().over("stage") == 1)
            & (flag["is_lost"].n_unique().over("stage") == 1)
            & order.is_not_null().all().over("stage")
        ).alias("__shared"),
        (pl.int_range(pl.len()).over("stage") == 0).alias("__first"),
    )
    if not work["__shared"].any():
        return
    names = work.filter(pl.col("__shared") & pl.col("__first"))["stage"].to_list()
    shared = pl.col("__shared")
    merged = [
        pl.when(shared)
        .then(pl.lit(None, frame.schema["pipeline"]))
        .otherwise(pl.col("pipeline"))
        .alias("pipeline"),
        pl.when(shared)
        .then(order.max().over("stage").cast(frame.schema["order"]))
        .otherwise(pl.col("order"))
        .alias("order"),
    ]
    if "probability" in frame.columns:  # kept when the pipelines agree, else unknown
        agree = pl.col("probability").n_unique().over("stage") == 1
        merged.append(pl.when(~shared | agree).then(pl.col("probability")).alias("probability"))
    extra = shared & ~pl.col("__first")
    kept = work.filter(~extra).with_columns(merged).drop("__shared", "__first")
    _, dropped = set_aside(
        frame.filter(work.select(extra).to_series()),
        pl.lit(True),
        table="stages",
        file=table.file,
        kind="excluded",
        reason="stage_in_several_pipelines",
    )
    raw.tables["stages"] = replace(table, frame=kept)
    setaside.append(dropped)
    notes.append(
        f"stages: {len(names)} stage name(s) are listed under several pipelines "
        f"({', '.join(names)}): each is kept once, with no pipeline and the largest of its "
        "orders; the other rows are listed as excluded."
    )


def _derive_deal_pipeline(valid: dict[str, pl.DataFrame], notes: list[str]) -> pl.DataFrame:
    """deals.pipeline from each deal's current stage (deals without a pipeline column).

    A deal in a stage without a pipeline (a stage name shared by several pipelines, see
    :func:`_merge_shared_stages`) takes the one pipeline of the other stages in its exported
    stage_history when they name exactly one; otherwise it is ambiguous and stays null.
    """
    stages = valid["stages"].select("stage", "pipeline")
    # (the left join on the stages' key as one added column: a join copies the whole table)
    pipeline = pl.col("stage").replace_strict(
        stages["stage"], stages["pipeline"], default=None, return_dtype=stages.schema["pipeline"]
    )
    deals = _aligned(valid["deals"].with_columns(pipeline.alias("pipeline")))
    unnamed = deals.filter(pl.col("pipeline").is_null())
    from_history = 0
    if unnamed.height and "stage_history" in valid:
        seen = (
            valid["stage_history"]
            .join(unnamed.select("deal_id"), on="deal_id", how="semi")
            .join(stages.filter(pl.col("pipeline").is_not_null()), on="stage", how="inner")
            .group_by("deal_id")
            .agg(pl.col("pipeline").unique())
            .filter(pl.col("pipeline").list.len() == 1)
            .select("deal_id", pl.col("pipeline").list.first().alias("_history_pipeline"))
        )
        from_history = seen.height
        deals = (
            deals.join(seen, on="deal_id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("pipeline", "_history_pipeline").alias("pipeline"))
            .drop("_history_pipeline")
        )
    named = deals.height - unnamed.height
    note = (
        f"deals: no pipeline column; pipeline taken from each deal's stage ({named:,} of "
        f"{deals.height:,} deals)"
    )
    if unnamed.height:
        names = sorted(unnamed["stage"].unique().to_list())
        left = unnamed.height - from_history
        note += (
            f". {unnamed.height:,} deal(s) are in a stage with no single pipeline "
            f"({', '.join(names)})"
            + (
                f": {from_history:,} took the one pipeline of the other stages in their "
                "stage_history"
                if from_history
                else ""
            )
            + (
                f"{';' if from_history else ':'} {left:,} have no pipeline (ambiguous; add a "
                "pipeline column to deals to name it)"
                if left
                else ""
            )
        )
    if stages["pipeline"].drop_nulls().n_unique() > 1:  # one pipeline: every deal is in it
        notes.append(note + ".")
    return deals


class _DeferredTables:
    """The validation of some tables of one load, run on first use (see :class:`Tables`).

    Each step a load validating everything would run for a table (exact copies, parsing and
    rules, links to the deals) runs in the same order, and its notes are put back at the
    place they would have had; settling gives the quarantine, exclusions, notes and counts
    a load validating everything up front gives.
    """

    def __init__(self, raw: RawDataset, names: list[str]) -> None:
        self.raw = raw
        self.names = set(names)
        # per table, its steps in the order of the load: (step, (place in the notes, rank))
        self.steps: dict[str, list[tuple[str | ForeignKey, tuple[int, int]]]] = {
            n: [] for n in names
        }
        # per validated table: valid rows, exact copies, quarantine rows, placed notes
        self.done: dict[
            str,
            tuple[pl.DataFrame, list[pl.DataFrame], list[pl.DataFrame], list[tuple[tuple, str]]],
        ] = {}
        self.settled: dict[str, Any] | None = None

    def mark(self, name: str, step: str | ForeignKey, position: int) -> None:
        """Step ``step`` of table ``name`` is due; its notes go at ``position`` in the notes."""
        self.steps[name].append((step, (position, sum(map(len, self.steps.values())))))

    def start(
        self,
        valid: dict[str, pl.DataFrame],
        quarantined: list[pl.DataFrame],
        aside: pl.DataFrame,
        notes: list[str],
    ) -> None:
        """The load's results without the deferred tables (the frames are not copied).

        Of the other tables' raw frames only ``source_row`` is kept, for the counts.
        """
        self.valid, self.quarantined, self.aside, self.notes = valid, quarantined, aside, notes
        self.raw = replace(
            self.raw,
            tables={
                n: t if n in self.names else RawTable(n, t.frame.select("source_row"), t.file)
                for n, t in self.raw.tables.items()
            },
        )

    def unsettled(self) -> bool:
        """Whether :meth:`settle` is still to run."""
        return self.settled is None

    def resolve(self, name: str) -> pl.DataFrame:
        """Validate table ``name`` (once): its valid rows."""
        if name not in self.done:
            if self.raw.tables[name].reader is not None:  # its rows were not read at load
                self.raw.tables[name] = _with_rows(self.raw.tables[name])
            setaside: list[pl.DataFrame] = []
            bad: list[pl.DataFrame] = []
            placed: list[tuple[tuple, str]] = []
            frame = pl.DataFrame()
            for step, position in self.steps[name]:
                notes: list[str] = []
                if step == "copies":
                    _set_aside_copies(self.raw, name, setaside, notes)
                elif step == "validate":
                    frame, quarantined = _validate_table(self.raw.tables[name], notes)
                    bad.append(quarantined)
                elif isinstance(step, ForeignKey):
                    valid = {name: frame, step.parent: self.valid[step.parent]}
                    if (step.table, step.column) in LINKS_DROPPED_NOT_QUARANTINED:
                        frame = _drop_unknown_links(valid, step, notes)
                    else:
                        frame, quarantined = _check_foreign_key(valid, self.raw, step, notes)
                        bad.append(quarantined)
                placed += [(position, note) for note in notes]
            self.done[name] = (frame, setaside, bad, placed)
        return self.done[name][0]

    def scan(self, name: str) -> None:
        """None: a table is validated before it is read (:meth:`resolve`)."""
        return None

    def settle(self) -> dict[str, Any]:
        """Validate every pending table: quarantine, counts, notes and excluded of the load."""
        if self.settled is None:
            for name in sorted(self.names, key=list(self.raw.tables).index):
                self.resolve(name)
            done = [self.done[n] for n in self.raw.tables if n in self.done]
            quarantine, excluded = _quarantine_and_excluded(
                [*self.quarantined, *(p for _, _, bad, _ in done for p in bad)],
                pl.concat([self.aside, *(p for _, copies, _, _ in done for p in copies)]),
            )
            valid = {**self.valid, **{n: found[0] for n, found in self.done.items()}}
            placed = sorted((p for *_, notes in done for p in notes), key=lambda p: p[0])
            notes: list[str] = []
            for i, note in enumerate([*self.notes, None]):
                notes += [text for (position, _), text in placed if position == i]
                if note is not None:
                    notes.append(note)
            self.settled = {
                "quarantine": quarantine,
                "excluded": excluded,
                "notes": notes,
                "counts": _counts(self.raw, valid, quarantine, excluded),
            }
        return self.settled


EXCLUSION_MESSAGES = {
    "blank_row": (
        N_("the row holds no value at all (a line of separators, or of white space)"),
        N_("nothing to do (delete the empty lines from the export to silence this)"),
    ),
    "repeated_header": (
        N_("the row repeats the header line (two exports joined, or a report's page headers)"),
        N_("nothing to do (delete the repeated header lines from the export to silence this)"),
    ),
    "report_footer": (N_("a report footer or total row, not a record"), N_("nothing to do")),
    "group_title": (
        N_("a group's title line above a repeated header (a board or grouped report)"),
        N_("nothing to do"),
    ),
    "exact_duplicate": (
        N_("the row repeats an earlier row exactly"),
        N_("nothing to do: it is counted once (remove the copy from the export to silence this)"),
    ),
    "stage_in_several_pipelines": (
        "the stage name is also listed under another pipeline; the stage is kept once, with "
        "no pipeline",
        "nothing to do if the stage means the same in each pipeline; otherwise give each "
        "pipeline its own stage name (Lost (Renewals)), or add a pipeline column to deals",
    ),
}


def _blank_rows(frame: pl.DataFrame) -> pl.Expr | None:
    """The rows of ``frame`` with every column but ``source_row`` empty, or None if none.

    Empty: missing, or white space alone (``  ,  , ,``: cells a spreadsheet cleared to a
    space are no more a value than cleared ones). Looked for among the rows whose first
    column is empty (a bitmap; its text is searched only when its lowest or highest value
    may begin with white space: 11 ms for 1M ids, where the search takes 25 ms), then
    checked whole.
    """
    cols = [c for c in frame.columns if c != "source_row"]
    if not cols or frame.height == 0:
        return None

    def empty(c: str) -> pl.Expr:
        if frame.schema[c] == pl.String:
            return pl.col(c).is_null() | pl.col(c).str.contains(r"^\s*$")
        return pl.col(c).is_null()

    first = frame[cols[0]]
    if first.null_count() == 0:
        if first.dtype != pl.String:
            return None
        # text of white space alone begins with an ASCII one (sorting below "!") or with
        # one from U+0085 up (sorting above every ASCII letter): else no value is blank
        low, high = str(first.min()), str(first.max())  # (text: no value is missing)
        if (low[:1] > " " and high[:1] < "\x85") or not frame.select(empty(cols[0]).any()).item():
            return None
    rows = pl.int_range(pl.len(), dtype=pl.UInt32)
    blank = (
        frame.lazy()
        .with_columns(rows.alias("__row"))
        .filter(empty(cols[0]))
        .filter(pl.all_horizontal(empty(c) for c in cols[1:]) if cols[1:] else pl.lit(True))
        .select("__row")
        .collect()
        .to_series()
    )
    return rows.is_in(blank.implode()) if blank.len() else None


def _exact_duplicates(table: RawTable) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    """(first copies, later exact copies set aside as excluded, whether the key is unique).

    Rows equal in every column but ``source_row`` are copies. Copies share their primary key,
    so when the table's key columns are all present only rows sharing a key's hash are
    compared (one column's hash for deals, not seventeen); the third value says whether the
    kept rows are known to have unique key values as read (see ``RawTable.unique_key``).
    """
    frame = table.frame
    cols = [c for c in frame.columns if c != "source_row"]
    keys = (table.schema or TABLES[table.name]).primary_key()
    by_key = bool(keys) and set(keys) <= set(cols)
    if not cols or frame.height < 2:
        return frame, pl.DataFrame(schema=SETASIDE_SCHEMA), by_key
    # equal rows hash equally: only rows sharing a hash with another can be copies (a cheap
    # pass on one u64 column; the exact comparison runs on those rows alone)
    candidates = _repeated(frame.select(keys if by_key else cols).hash_rows())
    if not candidates.any():
        return frame, pl.DataFrame(schema=SETASIDE_SCHEMA), by_key
    rows = candidates.arg_true()
    shared = frame[rows]
    copies = shared.select(pl.struct(cols).is_first_distinct().not_()).to_series()
    # once the copies are gone, is the key unique? (always, when it is made of every column)
    unique_key = by_key and (
        sorted(keys) == sorted(cols)
        or not shared.filter(~copies).select(pl.struct(keys).is_duplicated().any()).item()
    )
    if not copies.any():  # (hashes shared by chance: no copy of the table is made)
        return frame, pl.DataFrame(schema=SETASIDE_SCHEMA), unique_key
    later = pl.lit(pl.zeros(frame.height, pl.Boolean, eager=True).scatter(rows, copies))
    kept, dupes = set_aside(
        frame, later, table=table.name, file=table.file, kind="excluded", reason="exact_duplicate"
    )
    return kept, dupes, unique_key


def _repeated(hashes: pl.Series) -> pl.Series:
    """``hashes.is_duplicated()`` (hashes have no nulls), at a tenth of its peak memory.

    ``is_duplicated`` builds a hash table of every value (about 300 MB for 3.9M row hashes);
    here the values that occur twice are read from a sorted copy (usually none or few) and
    looked up. NumPy sorts the copy: its vectorised sort of 64-bit integers takes a fifth of
    polars' time (20 ms against 96 ms for 3.9M hashes).
    """
    ranked = np.sort(hashes.to_numpy())
    # (compared through two views of it, not a shifted copy: 31 MB less for 3.9M hashes)
    values = ranked[1:][ranked[1:] == ranked[:-1]]
    del ranked
    if len(values) == 0:
        return pl.zeros(hashes.len(), pl.Boolean, eager=True)
    return hashes.is_in(pl.Series(values, dtype=hashes.dtype).implode())


# ----------------------------------------------------------------------------- structure


# Required deal columns an export may lack, and the one value that then stands for all
DEFAULTED_DEAL_COLUMNS = {
    "team": (
        ONE_TEAM,
        N_(
            "{file}: no team column: every deal is in one team 'All' (give a team column, or "
            "map one, to compare teams)."
        ),
    ),
    "owner": (
        UNKNOWN_OWNER,
        N_(
            "{file}: no owner column: every deal's owner reads '(unknown)', so there are no "
            "rep-level figures."
        ),
    ),
}


def _fill_owner_and_team(table: RawTable, notes: list[str]) -> RawTable:
    """A deals table without a team (owner) column gets one team 'All'.

    Owner '(unknown)', with a note; the other required columns stay required. A deal whose
    owner or team cell is empty is counted under '(unknown)', with a note counting them.
    """
    missing = [c for c in DEFAULTED_DEAL_COLUMNS if c not in table.frame.columns]
    frame = table.frame.with_columns(pl.lit(DEFAULTED_DEAL_COLUMNS[c][0]).alias(c) for c in missing)
    notes.extend(Message(DEFAULTED_DEAL_COLUMNS[c][1], file=Path(table.file).name) for c in missing)
    # an empty cell: the deal's owner (team) is not known, as when the column is missing; the
    # deal still counts (quarantined, an unassigned deal left every count-based figure: a
    # win rate of 10/20 read as 10/15 when lost deals were the unassigned ones)
    # (looked for among the distinct names: a handful, where the rows are a million)
    names = {
        c: frame.get_column(c).cast(pl.String).unique()
        for c in DEFAULTED_DEAL_COLUMNS
        if c not in missing
    }
    empty = {
        c: values.filter(
            values.is_null()
            | values.str.replace_all("\x00", "", literal=True).str.strip_chars().eq("")
        )
        for c, values in names.items()
    }
    filled = [c for c, values in empty.items() if values.len()]
    blank = {
        c: pl.col(c).is_null() | pl.col(c).is_in(empty[c].drop_nulls().implode()) for c in filled
    }
    counts = (
        frame.select(blank[c].sum().alias(c) for c in filled).row(0, named=True) if filled else {}
    )
    frame = frame.with_columns(
        pl.when(blank[c]).then(pl.lit(UNKNOWN_OWNER)).otherwise(pl.col(c)).alias(c) for c in filled
    )
    notes.extend(
        Message(
            N_(
                "{file}: {rows} deal(s) have an empty {column}: they are counted under "
                "'{unknown}' (give each deal its {column} in the CRM to see them under theirs)."
            ),
            file=Path(table.file).name,
            rows=counts[c],
            column=c,
            unknown=UNKNOWN_OWNER,
        )
        for c in filled
    )
    return replace(table, frame=frame) if missing or filled else table


def _optional(table: str) -> str:
    """``; owner, team and created_at may be left out``: the columns the loader fills."""
    filled = FILLED_WHEN_ABSENT.get(table, ())
    return f"; {', '.join(filled)} may be left out" if filled else ""


def _check_required_columns(table: RawTable, as_read: list[str] | None = None) -> None:
    missing = [c for c in required_columns(table.name) if c not in table.frame.columns]
    if missing:
        raise DataError(
            problem=f"required column(s) missing: {', '.join(missing)}",
            fix=f"add {' and '.join(missing)} to the {table.name} export (the {table.name} "
            f"table needs {', '.join(needed_columns(table.name))}{_optional(table.name)}); "
            "column names are matched case-insensitively. An export with its own column names "
            "needs a mapping: "
            f"`pipeline-kit inspect {Path(table.file).name}` drafts one",
            file=table.file,
            column=missing[0],
            examples=[
                "columns found: "
                + ", ".join(c for c in as_read or table.frame.columns if c != "source_row")
            ],
        )


# ----------------------------------------------------------------------------- parsing


def _parse_timestamp(text: pl.Expr) -> pl.Expr:
    """ISO-like strings -> Datetime(us); one normalisation, then a single strict parse."""
    norm = (
        text.str.replace("T", " ", literal=True)
        .str.strip_suffix("Z")
        .str.replace_all("/", "-", literal=True)
    )
    length = norm.str.len_chars()
    norm = (
        pl.when(length == 10)
        .then(norm + " 00:00:00")
        .when(length == 16)
        .then(norm + ":00")
        .otherwise(norm)
    )
    naive = norm.str.to_datetime(_TIMESTAMP_FORMAT, strict=False, time_unit="us")
    # a UTC offset (Salesforce's +0000, ISO +01:00): the instant in UTC, as the kit's
    # timestamps are (a trailing Z was already read as UTC)
    with_offset = (
        norm.str.replace(r"([+-]\d{2}):?(\d{2})$", "${1}${2}")
        .str.to_datetime(_TIMESTAMP_FORMAT + "%z", strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    return (
        pl.when(norm.str.contains(r"\d:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}:?\d{2}$"))
        .then(with_offset)
        .otherwise(naive)
    )


# money columns, where "12.500" could be twelve and a half or twelve thousand five hundred
_MONEY_COLUMNS = {"amount", "target", "mrr"}


def _parse_number(text: pl.Expr, dtype: pl.DataType, column: str = "") -> pl.Expr:
    """Numbers as :func:`pipeline_kit.adapters._tools.plain_number` reads them.

    A decimal comma, or ``12.500`` in a money column, is rejected rather than guessed. A
    probability may end in ``%``: ``40%`` reads as 0.40 whatever the column's other values
    (a column mixing ``40%`` and ``0.4`` was judged on its bulk and every fraction divided by
    100).
    """
    if column == "probability":
        stripped = text.str.strip_chars()
        percent = stripped.str.ends_with("%")
        value = plain_number(stripped.str.strip_suffix("%"))
        return pl.when(percent).then(value / 100).otherwise(value)
    number = plain_number(text, money=column in _MONEY_COLUMNS)
    if dtype == pl.Int64:
        return pl.when(number == number.round(0)).then(number.cast(pl.Int64, strict=False))
    return number


def _parse_expr(col: str, dtype: pl.DataType, source: pl.DataType) -> pl.Expr:
    """Expression turning column ``col`` (of dtype ``source``) into ``dtype``; null where it cannot.

    Strings are parsed; already-typed columns (Parquet) are cast when that is exact.
    """
    value = pl.col(col)
    if dtype == pl.Date:
        if source == pl.Date:
            return value
        if isinstance(source, pl.Datetime):
            return value.dt.date()
    elif isinstance(dtype, pl.Datetime):
        if source == pl.Date or isinstance(source, pl.Datetime):
            return value.cast(pl.Datetime("us"))
    elif dtype in (pl.Float64, pl.Int64) and source.is_numeric():
        number = value.cast(pl.Float64)
        if col == "amount":  # NaN is how a typed frame (Parquet from pandas) leaves it blank
            number = number.fill_nan(None)
        if dtype == pl.Int64:
            return pl.when(number == number.round(0)).then(value.cast(pl.Int64, strict=False))
        return number
    elif dtype == pl.Boolean and source == pl.Boolean:
        return value
    text = value if source == pl.String else value.cast(pl.String)
    return _from_string(text, dtype, col)


# a time with a UTC offset other than zero at its end (+05:30, -0800)
_NONZERO_OFFSET = (
    r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*[+-](?:0[1-9]|1\d|2[0-3]):?\d{2}$|[+-]00:?(?:[1-5]\d|0[1-9])$"
)


def _note_utc_offsets(
    raw: pl.DataFrame, dated: list[str], table: RawTable, notes: list[str]
) -> None:
    """A note per date column whose values carry a UTC offset that moves their day.

    ``2024-03-31T23:30:00-08:00`` is read as its instant in UTC, 2024-04-01 07:30, and so
    counted on 1 April, in the next quarter: the kit's days are UTC days. Said, with how
    many values fall on another day than the one written (it was silent). Only columns with
    values longer than a date and time are searched (a date alone has no offset).
    """
    if not dated or raw.height == 0:
        return
    longest = raw.select(pl.col(c).str.len_bytes().max() for c in dated).row(0)
    for c, length in zip(dated, longest, strict=True):
        if length is None or length <= 20:
            continue
        offset = raw.lazy().select(c).filter(pl.col(c).str.contains(_NONZERO_OFFSET))
        moved = (
            offset.with_columns(
                (
                    _parse_timestamp(pl.col(c)).dt.date()
                    != pl.col(c)
                    .str.slice(0, 10)
                    .str.replace_all("/", "-")
                    .str.to_date(strict=False)
                ).alias("moved")
            )
            .select(pl.len().alias("n"), pl.col("moved").sum().alias("moved"), pl.col(c).first())
            .collect()
        )
        n, moved_n, example = moved.row(0)
        if n:
            notes.append(
                Message(
                    N_(
                        "{column}: {values} value(s) carry a UTC offset (e.g. {example}): each "
                        "is read as its time in UTC, and counted on its day in UTC; {moved} of "
                        "them fall on another day than the one written."
                    ),
                    column=f"{table.name}.{c}",
                    values=n,
                    example=repr(example),
                    moved=int(moved_n or 0),
                )
            )


def _is_dated(dtype: pl.DataType) -> bool:
    return dtype == pl.Date or isinstance(dtype, pl.Datetime)


def _iso_date(col: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``col`` read as a plain ISO date or date-time; null for any other text.

    ``2025-01-15`` and ``2025-01-15 09:30:00`` (what the CRM adapters write). What it reads,
    :func:`_parse_timestamp` reads the same: such text has no ``T``, ``Z``, ``/`` or UTC
    offset to normalise (the first becomes ``2025-01-15 00:00:00`` there). A tenth of its
    cost, so the full parser runs only on the rows this leaves null (:func:`_reparse_dates`).
    (The length tests keep out ``2025-1-5``, which the date format alone would accept and the
    full parser refuses.)
    """
    text = pl.col(col)
    length = text.str.len_bytes()
    read = (
        pl.when(length == 10)
        .then(text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")))
        .when(length == 19)
        .then(text.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us"))
    )
    return read.dt.date() if dtype == pl.Date else read.cast(dtype)


def _reparse_dates(typed: pl.DataFrame, dated: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows :func:`_iso_date` could not read, read by the full parser (``_from_string``).

    ``typed`` holds each column ``c`` as text, ``__c`` as read and the flag ``c|dtype``; both
    are replaced on those rows alone.
    """
    for c, dtype in dated.items():
        rows = typed[f"{c}|dtype"].arg_true()
        if rows.len() == 0:
            continue
        again = typed[rows].select(_from_string(pl.col(c), dtype, c)).to_series()
        typed = typed.with_columns(
            typed[f"__{c}"].clone().scatter(rows, again),
            typed[f"{c}|dtype"].clone().scatter(rows, again.is_null()),
        )
    return typed


def _from_string(text: pl.Expr, dtype: pl.DataType, column: str = "") -> pl.Expr:
    if dtype == pl.Date:
        return _parse_timestamp(text).dt.date()
    if isinstance(dtype, pl.Datetime):
        return _parse_timestamp(text)
    if dtype in (pl.Float64, pl.Int64):
        return _parse_number(text, dtype, column)
    if dtype == pl.Boolean:
        low = text.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    if isinstance(dtype, pl.Enum):
        low = text.str.to_lowercase()
        return pl.when(low.is_in(dtype.categories.to_list())).then(low).cast(dtype)
    return text


def validate_table(table: RawTable) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate one table on its own (no cross-table rules): (valid rows, quarantine rows)."""
    _check_required_columns(table)
    return _validate_table(table)


def _validate_table(
    table: RawTable, notes: list[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse and check one table: (valid typed rows, quarantine rows).

    What was normalised on the way is added to ``notes``.

    Rows are told apart by ``source_row``. When an adapter derives several rows from one
    source line (two stage entries from one Maven row) or builds one table from two files
    (Salesforce Task and Event), the rows are numbered uniquely for the checks and given
    their source lines back afterwards.
    """
    lines = table.frame["source_row"]
    notes = [] if notes is None else notes
    if lines.n_unique() == lines.len():  # (is_unique() holds a hash table of every row)
        return _validate_unique_rows(table, notes)
    numbered = table.frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("source_row"))
    good, bad = _validate_unique_rows(replace(table, frame=numbered), notes)
    # each row's number is its position: its source line is read off by position (a lookup
    # table from numbers to lines took 1.3 s for 2.9M HubSpot stage entries)
    good = good.with_columns(lines.gather(good["source_row"]).alias("source_row"))
    return good, bad.with_columns(lines.gather(bad["source_row"]).alias("source_row"))


def _validate_unique_rows(table: RawTable, notes: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`_validate_table` for a table whose ``source_row`` values are unique."""
    schema = table.schema or TABLES[table.name]
    columns = schema.columns()
    targets = {c: col.dtype for c, col in columns.items() if c != "source_row"}
    raw = table.frame
    # strings: trim spaces and NUL bytes, and treat empty cells as missing
    text_cols = [c for c, t in raw.schema.items() if t == pl.String]
    raw, trimmed = _normalise_text(raw, text_cols, table, notes)
    if table.name == "deals":
        _note_case_variants(raw, notes)
    raw = raw.with_columns(
        pl.lit(None, pl.String).alias(c) for c in targets if c not in raw.columns
    )

    # 1. parsing: one pass computes every typed column and its "could not be read" flag
    # (dates written as text are first read as plain ISO dates; the others, if any, are
    # read again below by the full parser)
    dated = [c for c, t in targets.items() if raw.schema[c] == pl.String and _is_dated(t)]
    _note_utc_offsets(raw, dated, table, notes)
    parsing = raw.lazy().with_columns(
        (_iso_date(c, t) if c in dated else _parse_expr(c, t, raw.schema[c])).alias(f"__{c}")
        for c, t in targets.items()
    )
    flag_cols = [f"{c}|dtype" for c, t in targets.items() if t != raw.schema[c]]
    typed = parsing.with_columns(
        (pl.col(c).is_not_null() & pl.col(f"__{c}").is_null()).alias(f"{c}|dtype")
        for c, t in targets.items()
        if t != raw.schema[c]
    ).collect()
    typed = _reparse_dates(typed, {c: targets[c] for c in dated})
    raw, typed = _drop_unreadable_optional(raw, typed, table, targets, notes)
    extra = [c for c in raw.columns if c not in columns]
    typed = _aligned(typed)  # (computed columns may come chunked unlike the ones passed on)
    unreadable = typed.filter(pl.any_horizontal(flag_cols)) if flag_cols else typed.clear()
    parse_failures = _quarantine_rows(
        table, raw, unreadable.select("source_row", *flag_cols), flag_cols
    )

    # 2. schema rules (dataframely) on the readable rows
    # (no copy when every row could be read, the usual case)
    readable = typed.filter(~pl.any_horizontal(flag_cols)) if unreadable.height else typed
    parsed = readable.select("source_row", *[pl.col(f"__{c}").alias(c) for c in targets])
    good: pl.DataFrame  # (joined below: no longer dataframely's typed frame)
    # a key seen unique when the exact copies were looked for holds as long as its values
    # are the ones compared there (not trimmed, not parsed)
    keys = schema.primary_key()
    key_holds = table.unique_key and all(
        c in table.frame.columns and raw.schema[c] == targets[c] and c not in trimmed for c in keys
    )
    good, failed, rule_cols = _schema_filter(schema, parsed, key_holds=key_holds)
    if "primary_key" in rule_cols and len(keys) == 1:
        notes.extend(_ids_in_scientific_notation(table.name, keys[0], parsed, failed))
    rule_failures = _quarantine_rows(table, raw, failed, rule_cols)
    if extra:
        good = good.join(readable.select("source_row", *extra), on="source_row", how="left")
    return good, pl.concat([parse_failures, rule_failures])


def _ids_in_scientific_notation(
    table: str, key: str, parsed: pl.DataFrame, failed: pl.DataFrame
) -> list[str]:
    """A note when the ids of rows sharing a key are numbers in scientific notation.

    ``1.52346E+13``: Excel showed a long numeric id rounded and saved it so, which makes
    thousands of ids equal; only a new export, not opened in Excel, has them.
    """
    shared = failed.filter(pl.col("primary_key")).select("source_row")
    if shared.height == 0 or parsed.schema[key] != pl.String:
        return []
    ids = parsed.join(shared, on="source_row", how="semi")[key]
    rounded = ids.filter(ids.str.contains(r"^\d(\.\d+)?[Ee]\+\d+$"))
    if rounded.len() == 0:
        return []
    return [
        Message(
            N_(
                "{table}.{key}: {rows} id(s) are written in scientific notation (e.g. {example}): "
                "Excel rounded long numeric ids when the file was opened and saved, so different "
                "records now share an id. Export the data again and load it without opening it "
                "in Excel."
            ),
            table=table,
            key=key,
            rows=rounded.len(),
            example=rounded[0],
        )
    ]


def _schema_filter(
    schema: type[dy.Schema], parsed: pl.DataFrame, *, key_holds: bool = False
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """:meth:`dataframely.Schema.filter`, its primary-key rule checked by hashing.

    Returns the valid rows, one row per failing row (``source_row`` and a boolean column per
    rule, in dataframely's order of rules) and the rule names. dataframely checks a key with
    ``pl.struct(key).is_unique()`` over every row; here rows are compared exactly only when
    their key's hash is shared (same rows flagged, at a fraction of the cost on a 3-column
    key). With ``key_holds`` (the caller knows no two rows share a key) the key is not checked.
    """
    keys = schema.primary_key()
    good: pl.DataFrame
    if not keys or parsed.height < 2:
        good, failure = schema.filter(parsed)
        details = failure.details()
        rule_cols = [c for c in details.columns if c not in schema.columns()]
        return good, _failed_rules(details, rule_cols), rule_cols
    duplicate = pl.zeros(parsed.height, pl.Boolean, eager=True)
    candidates = duplicate if key_holds else _repeated(parsed.select(keys).hash_rows())
    if candidates.any():
        rows = candidates.arg_true()
        shared = parsed[rows].select(pl.struct(keys).is_duplicated()).to_series()
        duplicate = duplicate.scatter(rows, shared)
    good, failure = _without_key(schema).filter(parsed)
    good = good.select(list(schema.columns()))
    details = failure.details()
    order = list(schema._validation_rules(with_cast=False))  # dataframely's, with the key's
    rule_cols = [r for r in order if r in details.columns or r == "primary_key"]
    rule_cols += [c for c in details.columns if c not in schema.columns() and c not in order]
    failed = _failed_rules(details, [c for c in rule_cols if c != "primary_key"])
    if not duplicate.any():
        return (
            good,
            failed.with_columns(pl.lit(False).alias("primary_key")).select(
                "source_row", *rule_cols
            ),
            rule_cols,
        )
    copies = parsed.filter(duplicate).select("source_row", pl.lit(True).alias("primary_key"))
    good = good.join(copies, on="source_row", how="anti", maintain_order="left")
    failed = (
        failed.join(copies, on="source_row", how="full", coalesce=True, maintain_order="left_right")
        .with_columns(pl.col(rule_cols).fill_null(False))
        .select("source_row", *rule_cols)
    )
    return good, failed, rule_cols


def _failed_rules(details: pl.DataFrame, rule_cols: list[str]) -> pl.DataFrame:
    """The failure details of dataframely: ``source_row`` and one boolean column per rule."""
    return details.select("source_row", *[pl.col(c).eq("invalid").alias(c) for c in rule_cols])


_KEYLESS: dict[type[dy.Schema], type[dy.Schema]] = {}


def _without_key(schema: type[dy.Schema]) -> type[dy.Schema]:
    """``schema`` with the same columns and rules but no primary key (checked apart)."""
    if schema not in _KEYLESS:
        columns = {}
        for name, column in schema.columns().items():
            if column.primary_key:
                columns[name] = copy.copy(column)
                columns[name].primary_key = False
        _KEYLESS[schema] = type(f"{schema.__name__}WithoutKey", (schema,), columns)
    return _KEYLESS[schema]


def _normalise_text(
    raw: pl.DataFrame, text_cols: list[str], table: RawTable, notes: list[str]
) -> tuple[pl.DataFrame, list[str]]:
    """Strip surrounding spaces and NUL bytes from every text value; empty -> missing.

    Returns the frame and the columns that held something to change.

    When a name changed (``'Ann '`` and ``'Ann'`` would otherwise be two reps), a note says so.
    """
    if text_cols and raw.height:
        # only the columns with a value to change (a clean column, such as the ids of typed
        # Parquet, is not rewritten)
        text_cols = _columns_to_normalise(raw, text_cols)
    if not text_cols:
        return raw, []
    cleaned = raw.with_columns(
        pl.col(text_cols).str.replace_all("\x00", "", literal=True).str.strip_chars()
    )
    for c in (c for c in text_cols if c in ("owner", "team", "stage", "source", "lead_source")):
        changed = raw[c].is_not_null() & raw[c].ne(cleaned[c])
        if changed.any():
            notes.append(
                Message(
                    N_(
                        "{column}: {values} value(s) had surrounding spaces or NUL bytes (e.g. "
                        "{example}); they were removed, so such names match their plain spelling."
                    ),
                    column=f"{table.name}.{c}",
                    values=int(changed.sum()),
                    example=repr(raw[c].filter(changed)[0]),
                )
            )
    return cleaned.with_columns(pl.col(text_cols).replace("", None)), text_cols


def _note_case_variants(raw: pl.DataFrame, notes: list[str]) -> None:
    """A note per deals column (team, owner, stage) whose names differ only in case.

    ``EMEA`` and ``emea`` are two teams (two reports, split win rates), ``Proposal`` and
    ``PROPOSAL`` two stages of the open pipeline: kept apart, as written (merging them would
    change values silently), and said, with what to do. One pass over the distinct names
    (0.12 s for 10M deals).
    """
    cols = [c for c in ("team", "owner", "stage") if raw.schema.get(c) == pl.String]
    if not cols or raw.height == 0:
        return
    names = raw.lazy().select(pl.col(c).drop_nulls().unique().implode() for c in cols).collect()
    for c in cols:
        values = names[c][0]
        if values.len() < 2:
            continue
        spelled = pl.DataFrame({"name": values}).with_columns(
            pl.col("name").str.to_lowercase().alias("key")
        )
        clashes = (
            spelled.filter(pl.col("key").is_duplicated())
            .sort("key", "name")
            .group_by("key", maintain_order=True)
            .agg("name")
        )
        if clashes.height:
            notes.append(
                Message(
                    N_(
                        "{column}: {names} name(s) are written in ways that differ only in case "
                        "(e.g. {example}); they are kept apart as written: write them alike in "
                        "the export (or map them to one spelling) to count them as one."
                    ),
                    column=f"deals.{c}",
                    names=clashes.height,
                    example=" / ".join(repr(v) for v in clashes["name"][0]),
                )
            )


# a value to normalise: surrounding white space, a NUL byte, or an empty cell
_NEEDS_NORMALISING = r"^\s|\s$|\x00|^$"
# the first rows of a column choose how it is checked (see _columns_to_normalise)
_SAMPLE_ROWS, _FEW_DISTINCT, _FEW_RUNS = 10_000, 0.05, 0.5


def _columns_to_normalise(raw: pl.DataFrame, text_cols: list[str]) -> list[str]:
    """The columns of ``text_cols`` holding a value :func:`_normalise_text` would change.

    A value is checked by one regular expression, about 20 ns each. Two kinds of column are
    checked on fewer values, with the same answer:

    * repeated names (team, stage, owner: a handful of values a million times): their
      distinct values, since every value is among them; hashing costs a fifth of the check;
    * runs of one value (a stage history's deal ids, grouped by deal): each value that
      differs from the one before it, since a value equal to the one before is checked with
      it; comparing neighbours reads the 16-byte string views alone.

    The first rows choose the way; a column the sample misjudges is still checked whole,
    only more slowly. On 1M deals and their 3.9M stage entries, 14 columns: 0.12 s instead
    of 0.20 s.
    """
    first = raw.head(_SAMPLE_ROWS)
    distinct = first.select(pl.col(text_cols).n_unique()).row(0, named=True)

    def values(c: str) -> pl.Expr:
        if distinct[c] <= max(1, _FEW_DISTINCT * first.height):
            return pl.col(c).unique()
        if _in_runs(first, c):
            return pl.col(c).filter(pl.col(c).ne_missing(pl.col(c).shift(1)))
        return pl.col(c)

    needs = raw.select(
        values(c).str.contains(_NEEDS_NORMALISING).any().alias(c) for c in text_cols
    ).row(0, named=True)
    return [c for c in text_cols if needs[c]]


def _in_runs(frame: pl.DataFrame, column: str) -> bool:
    """Whether ``column`` mostly repeats the value of the row before (judged on its first rows).

    A check of each value against the one before reads the 16-byte string views alone, far
    cheaper than hashing or matching the values themselves.
    """
    first = frame.head(_SAMPLE_ROWS)
    changes = first.select(pl.col(column).ne_missing(pl.col(column).shift(1)).sum()).item()
    return bool(first.height) and changes <= _FEW_RUNS * first.height


# optional columns a rule needs: left out, they would quarantine every row the rule reads
# (a closed_at in another format, dropped, made every won and lost deal "without closed_at")
_NEVER_LEFT_OUT = {("deals", "closed_at"), ("deals", "amount")}


def _drop_unreadable_optional(
    raw: pl.DataFrame,
    typed: pl.DataFrame,
    table: RawTable,
    targets: dict[str, pl.DataType],
    notes: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Leave out, with a note, an optional column that is mostly unreadable.

    Another format, another meaning: better than quarantining every row for a column the kit
    can do without. Read from the parsing pass's flags (``typed``: ``__c`` and ``c|dtype``);
    a column left out is kept as ``c_as_given`` and reads as missing, in ``raw`` and in
    ``typed`` alike.
    """
    optional = {
        c
        for c, col in TABLES[table.name].columns().items()
        if col.nullable
        and c in raw.columns
        and raw.schema[c] == pl.String
        and (table.name, c) not in _NEVER_LEFT_OUT
    }
    checks = [c for c in optional if targets.get(c) not in (None, pl.String)]
    if not checks or raw.height == 0:
        return raw, typed
    share = typed.select(
        [
            (pl.col(f"{c}|dtype").sum() / pl.col(c).is_not_null().sum().clip(lower_bound=1)).alias(
                c
            )
            for c in checks
        ]
    ).row(0, named=True)
    dropped = [c for c in checks if share[c] > 0.5]
    for c in dropped:
        example = raw.filter(pl.col(c).is_not_null())[c][0]
        notes.append(
            Message(
                N_(
                    "{column}: {share} of the values cannot be read as {dtype} (e.g. "
                    "{example}), so the column was left out rather than quarantining those "
                    "rows; its values are kept as {kept}."
                ),
                column=f"{table.name}.{c}",
                share=f"{share[c]:.0%}",
                dtype=dtype_hint(targets[c]),
                example=repr(example),
                kept=f"{c}_as_given",
            )
        )
    if not dropped:
        return raw, typed
    kept = {c: f"{c}_as_given" for c in dropped}
    missing = [pl.lit(None, pl.String).alias(c) for c in dropped]
    return raw.rename(kept).with_columns(missing), typed.rename(kept).with_columns(
        *missing,
        *(pl.lit(None, targets[c]).alias(f"__{c}") for c in dropped),
        *(pl.lit(False).alias(f"{c}|dtype") for c in dropped),
    )


def _quarantine_rows(
    table: RawTable, raw: pl.DataFrame, flags: pl.DataFrame, rule_cols: list[str]
) -> pl.DataFrame:
    """Quarantine rows (in QUARANTINE_SCHEMA) for the rows of ``flags``; rules = true flags."""
    if flags.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    rules = (
        pl.concat_list([pl.when(pl.col(r)).then(pl.lit(r)) for r in rule_cols]).list.drop_nulls()
        if rule_cols
        else pl.lit([], pl.List(pl.String))
    )
    record_cols = [c for c in table.frame.columns if c != "source_row"]
    # rows an adapter derives from one source line share its source_row: one record per line
    # (only the flagged lines are encoded, not the whole table)
    records = (
        raw.lazy()
        .join(flags.lazy().select("source_row"), on="source_row", how="semi", maintain_order="left")
        .select("source_row", pl.struct(record_cols).struct.json_encode().alias("record"))
        .unique("source_row", keep="first")
        .collect()
    )
    return (
        flags.select("source_row", rules.alias("rules"))
        .join(records, on="source_row", how="left", maintain_order="left")
        .select(
            pl.lit(table.name).alias("table"),
            pl.lit(table.file).alias("file"),
            "source_row",
            "rules",
            "record",
        )
    )


# ----------------------------------------------------------------------------- cross-table


# A lead is a lead whether or not the deal it became is in the export (a marketing export
# holds the won deals only; a deal may have been quarantined): its link to an unknown deal is
# dropped, with a note, instead of quarantining the lead.
LINKS_DROPPED_NOT_QUARANTINED = {("leads", "deal_id")}


def _drop_unknown_links(
    valid: dict[str, pl.DataFrame], fk: ForeignKey, notes: list[str]
) -> pl.DataFrame:
    frame = valid[fk.table]
    known = pl.col(fk.column).is_in(valid[fk.parent][fk.parent_column].unique().implode())
    unknown = frame.select((pl.col(fk.column).is_not_null() & ~known).sum()).item()
    if not unknown:
        return frame
    notes.append(
        Message(
            N_(
                "{table}: {rows} row(s) name a {column} that is not among the valid {parent} "
                "(not in the export, or quarantined): the rows are kept and that link is left "
                "empty, so they count as converted only by their converted_at, and never as "
                "won."
            ),
            table=fk.table,
            rows=unknown,
            column=fk.column,
            parent=fk.parent,
        )
    )
    return frame.with_columns(pl.when(known).then(pl.col(fk.column)).alias(fk.column))


def _check_foreign_key(
    valid: dict[str, pl.DataFrame],
    raw: RawDataset,
    fk: ForeignKey,
    notes: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``fk.table`` into rows whose key exists in the parent (or is empty) and the rest."""
    frame = valid[fk.table]
    key = pl.col(fk.column)
    # a key in runs (a stage history's deal ids, grouped by deal) is looked up once a run:
    # a row with the key of the row before is known when that row is
    runs = _in_runs(frame, fk.column)
    looked_up = key.is_not_null() & key.ne_missing(key.shift(1)) if runs else key.is_not_null()
    # an anti-join: the rows whose key is not among the parent's (no unique ids recomputed)
    rows = (
        frame.lazy()
        .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__row"), fk.column)
        .filter(looked_up)
        .join(
            valid[fk.parent].lazy().select(pl.col(fk.parent_column).alias(fk.column)),
            on=fk.column,
            how="anti",
        )
        .select("__row")
        .collect()
        .to_series()
    )
    if runs and rows.len():  # every row of an unknown key's run
        run = frame.select(key.rle_id()).to_series()
        rows = run.is_in(run.gather(rows).implode()).arg_true()
    if rows.len() == 0:  # no copy when every key is known
        keep, flags = frame, frame.clear().select("source_row", pl.lit(True).alias(fk.rule))
    else:
        unknown = pl.zeros(frame.height, pl.Boolean, eager=True).scatter(rows, True)
        keep = frame.filter(~unknown)
        flags = frame.filter(unknown).select("source_row", pl.lit(True).alias(fk.rule))
        if notes is not None:
            notes.extend(_names_differing_in_case(frame.filter(unknown), valid, fk))
        stripped = _ids_lost_leading_zeros(frame.filter(unknown), valid, fk)
        if stripped is not None:
            raw.hints[(fk.table, fk.rule)] = stripped
    rawt = raw.tables[fk.table]
    return keep, _quarantine_rows(rawt, rawt.frame, flags, [fk.rule])


def _names_differing_in_case(
    unknown: pl.DataFrame, valid: dict[str, pl.DataFrame], fk: ForeignKey
) -> list[str]:
    """A note for each unknown name the parent has in another case (at most 5).

    'Closed Won' for 'Closed won': the quarantine's fix ("add the stage") does not show it.
    """
    names = unknown[fk.column].drop_nulls().unique()
    known = valid[fk.parent][fk.parent_column].drop_nulls().unique()
    if names.dtype != pl.String or known.dtype != pl.String:
        return []
    pairs = (
        pl.DataFrame({"name": names})
        .with_columns(pl.col("name").str.to_lowercase().alias("key"))
        .join(
            pl.DataFrame({"known": known}).with_columns(
                pl.col("known").str.to_lowercase().alias("key")
            ),
            on="key",
        )
        .sort("name")
    )
    return [
        Message(
            N_(
                "{table}.{column}: '{name}' is not in {parent}, which has '{known}' (the names "
                "differ in case only): the rows naming it are quarantined; write the name the "
                "same way in both files."
            ),
            table=fk.table,
            column=fk.column,
            name=name,
            parent=fk.parent,
            known=known_name,
        )
        for name, _, known_name in pairs.head(5).iter_rows()
    ]


def _ids_lost_leading_zeros(
    unknown: pl.DataFrame, valid: dict[str, pl.DataFrame], fk: ForeignKey
) -> Message | None:
    """The quarantine's hint when leading zeros explain the unknown keys, else None.

    Explained: at least half of the distinct unknown keys are digits that equal a parent's
    key of digits once leading zeros are removed from both (``1`` for ``00001``, or the
    other way round). Excel reads such ids as numbers when a file is opened and drops the
    zeros when it is saved, in one file and not in the other; "export the matching deal"
    does not say so.
    """
    names = unknown[fk.column].drop_nulls().unique()
    known = valid[fk.parent][fk.parent_column].drop_nulls().unique()
    if names.dtype != pl.String or known.dtype != pl.String or names.len() == 0:
        return None

    def unpadded(ids: pl.Series, name: str) -> pl.LazyFrame:
        return (
            ids.to_frame(name)
            .lazy()
            .filter(pl.col(name).str.contains(r"^[0-9]+$"))
            .with_columns(pl.col(name).str.strip_chars_start("0").alias("__key"))
        )

    pairs = (
        unpadded(names, "name")
        .join(unpadded(known, "known"), on="__key")
        .filter(pl.col("name") != pl.col("known"))
        .unique("name", keep="first")
        .sort("name")
        .collect()
    )
    if pairs.height == 0 or 2 * pairs.height < names.len():
        return None
    return Message(
        N_(
            "{rows} of the {total} unknown {column} value(s) are a {parent} id with leading "
            "zeros added or removed (e.g. '{name}' and '{known}'): the ids lost their leading "
            "zeros, probably when a file was opened and saved in Excel. Export the data again "
            "and load it without opening it in Excel"
        ),
        rows=pairs.height,
        total=names.len(),
        column=fk.column,
        parent=fk.parent,
        name=pairs["name"][0],
        known=pairs["known"][0],
    )


def _check_status_matches_stage(
    valid: dict[str, pl.DataFrame], raw: RawDataset
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A deal in a won stage must have status won; in a lost stage, status lost."""
    deals = valid["deals"]
    # (the three columns the rule reads, not a joined copy of the whole table)
    read = deals.select("source_row", "stage", "status")
    flags = read.join(
        valid["stages"].select("stage", "is_won", "is_lost"), on="stage", how="left"
    ).select(
        "source_row",
        (
            (pl.col("is_won").fill_null(False) & pl.col("status").ne("won"))
            | (pl.col("is_lost").fill_null(False) & pl.col("status").ne("lost"))
        ).alias("status_contradicts_stage"),
    )
    bad_rows = flags.filter(pl.col("status_contradicts_stage"))
    rawt = raw.tables["deals"]
    bad = _quarantine_rows(rawt, rawt.frame, bad_rows, ["status_contradicts_stage"])
    if bad_rows.height == 0:
        return deals, bad
    return deals.join(bad_rows.select("source_row"), on="source_row", how="anti"), bad


# ----------------------------------------------------------------------------- gap filling


def _derive_stages(deals: pl.DataFrame, history: pl.DataFrame | None) -> pl.DataFrame:
    """A stages table from the stage names in use; order from history ranks when available."""
    if history is not None and history.height:
        ranked = history.with_columns(
            pl.col("entered_at").rank("ordinal").over("deal_id").alias("rank")
        )
        order = ranked.group_by("stage").agg(pl.col("rank").mean().alias("key"))
    else:
        order = deals.group_by("stage").agg(
            pl.col("status").ne("open").all().cast(pl.Float64).alias("key")
        )
    names = pl.concat(
        [
            deals.select("stage"),
            history.select("stage") if history is not None else deals.select("stage"),
        ]
    ).unique()
    return (
        names.join(order, on="stage", how="left")
        .sort("key", "stage", nulls_last=True)
        .with_row_index("order", offset=1)
        .select(
            pl.lit(None, pl.Int64).alias("source_row"),
            "stage",
            pl.col("order").cast(pl.Int64),
            pl.lit(None, pl.Float64).alias("probability"),
            pl.lit(None, pl.String).alias("pipeline"),
            pl.lit(None, pl.Boolean).alias("is_won"),
            pl.lit(None, pl.Boolean).alias("is_lost"),
        )
    )


def _complete_stages(stages: pl.DataFrame, deals: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Fill is_won/is_lost from the deals' statuses; put probabilities on a 0-1 scale."""
    notes: list[str] = []
    # (lazily: the eager group_by of the whole table holds a copy of it, ~250 MB at 1M deals)
    status = (
        deals.lazy()
        .group_by("stage")
        .agg(
            pl.col("status").eq("won").all().alias("_all_won"),
            pl.col("status").eq("lost").all().alias("_all_lost"),
        )
        .collect()
    )
    stages = stages.join(status, on="stage", how="left")
    if stages["is_won"].null_count() or stages["is_lost"].null_count():
        notes.append(
            Message(
                N_(
                    "is_won/is_lost were not given for every stage: a stage is taken as won "
                    "(lost) when every deal in it is won (lost)."
                )
            )
        )
    stages = stages.with_columns(
        pl.col("is_won").fill_null(pl.col("_all_won").fill_null(False)),
        pl.col("is_lost").fill_null(pl.col("_all_lost").fill_null(False)),
    ).drop("_all_won", "_all_lost")
    stages, scale_notes = _probability_scale(stages, N_("stage probabilities"))
    return stages.sort("order"), notes + scale_notes


def _probability_scale(frame: pl.DataFrame, label: str) -> tuple[pl.DataFrame, list[str]]:
    """Probabilities on one scale, 0-1, decided by the bulk of the values.

    A 0-100 column (more values above 1 than strictly between 0 and 1) is divided by 100, and
    noted. On a 0-1 column, a stray value above 1 (a typo such as 1.5) rescales nothing: it is
    flagged in ``probability_off_scale`` (deals: quarantined; stages: left empty, noted).
    """
    p = frame["probability"]
    above = int((p > 1).sum())
    if above == 0:
        return frame, []
    between = int(((p > 0) & (p < 1)).sum())
    if above > between:
        note = Message(
            N_(
                "The {label} are on a 0-100 scale ({above} of {values} values above 1); they "
                "were divided by 100 before any use."
            ),
            label=Message(label),
            above=above,
            values=int(p.is_not_null().sum()),
        )
        return frame.with_columns(pl.col("probability") / 100), [note]
    off = {"label": Message(label), "above": above, "example": f"{p.filter(p > 1)[0]:g}"}
    if "deal_id" in frame.columns:
        return frame.with_columns(
            (pl.col("probability") > 1).fill_null(False).alias("probability_off_scale")
        ), [
            Message(
                N_(
                    "The {label} are on a 0-1 scale, but {above} value(s) are above 1 (e.g. "
                    "{example}): those deals are quarantined (probability_off_scale)."
                ),
                **off,
            )
        ]
    return frame.with_columns(
        pl.when(pl.col("probability") <= 1).then(pl.col("probability")).alias("probability")
    ), [
        Message(
            N_(
                "The {label} are on a 0-1 scale, but {above} value(s) are above 1 (e.g. "
                "{example}): those probabilities were left empty."
            ),
            **off,
        )
    ]


# Dates of events (created, closed) must fall inside the export's time span: a deal created
# in 2099 would make "latest" resolve to 2099 and every snapshot empty.
EARLIEST_PLAUSIBLE = dt.date(1950, 1, 1)


def _implausible_dates(deals: pl.DataFrame, horizon_days: int) -> pl.Expr:
    """Deals with implausible dates.

    Created or closed before 1950 or more than ``horizon_days`` after the day by which 99% of
    the deals were created (the export's date, read from the data, never today).
    """
    if deals.height == 0 or deals["created_at"].null_count() == deals.height:
        return pl.lit(False).alias("date_implausible")
    reference = deals["created_at"].sort().gather(int(0.99 * (deals.height - 1)))[0]
    latest = reference + dt.timedelta(days=horizon_days)
    return (
        pl.col("created_at").gt(latest)
        | pl.col("closed_at").gt(latest).fill_null(False)
        | pl.col("created_at").lt(EARLIEST_PLAUSIBLE)
        | pl.col("closed_at").lt(EARLIEST_PLAUSIBLE).fill_null(False)
    ).alias("date_implausible")


def _flag_deals(
    deals: pl.DataFrame, raw: RawDataset, date_rule: pl.Expr
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quarantine deals with an implausible date or an off-scale probability."""
    flags = deals.select(
        "source_row",
        date_rule,
        *(["probability_off_scale"] if "probability_off_scale" in deals.columns else []),
    )
    rules = [c for c in flags.columns if c != "source_row"]
    bad_rows = flags.filter(pl.any_horizontal(rules))
    deals = deals.drop("probability_off_scale", strict=False)
    rawt = raw.tables["deals"]
    bad = _quarantine_rows(rawt, rawt.frame, bad_rows, rules)
    if bad_rows.height == 0:
        return deals, bad
    return deals.join(bad_rows.select("source_row"), on="source_row", how="anti"), bad


def _derive_stage_history(deals: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """Minimal history: first open stage at created_at; the current stage at closed_at.

    With several pipelines, the first open stage of the deal's pipeline (a closed deal with no
    pipeline keeps only its closing stage).
    """
    open_stages = stages.filter(~pl.col("is_won") & ~pl.col("is_lost")).sort("order")
    first: pl.Expr = pl.lit(open_stages["stage"][0] if open_stages.height else None, pl.String)
    if "pipeline" in deals.columns and open_stages["pipeline"].drop_nulls().n_unique() > 1:
        firsts = (
            open_stages.filter(pl.col("pipeline").is_not_null())
            .group_by("pipeline")
            .agg(pl.col("stage").first().alias("_first"))
        )
        deals = deals.join(firsts, on="pipeline", how="left", maintain_order="left")
        first = pl.col("_first")
    entry = deals.select(
        "deal_id",
        pl.when(pl.col("status").eq("open") | first.is_null())
        .then(pl.col("stage"))
        .otherwise(first)
        .alias("stage"),
        pl.col("created_at").alias("entered_at"),
    )
    exit_ = deals.filter(pl.col("status").ne("open")).select(
        "deal_id", "stage", pl.col("closed_at").alias("entered_at")
    )
    return (
        pl.concat([entry, exit_])
        .unique(["deal_id", "stage"], keep="first", maintain_order=True)
        .select(pl.lit(None, pl.Int64).alias("source_row"), "deal_id", "stage", "entered_at")
        .sort("deal_id", "entered_at")
    )


def _counts(
    raw: RawDataset,
    valid: dict[str, pl.DataFrame],
    quarantine: pl.DataFrame,
    excluded: pl.DataFrame,
) -> pl.DataFrame:
    """Rows read per table = valid + quarantined + excluded (checked: nothing is lost).

    Rows read are the rows the adapter produced plus the rows it set aside (deleted in the
    CRM, not a stage change, ...) plus exact duplicates.
    """
    set_aside_tables = set(quarantine["table"]) | set(excluded["table"])
    names = list(raw.tables) + sorted(set_aside_tables - set(raw.tables))
    rows = []
    for name in names:
        table = raw.tables.get(name)
        n_valid = valid[name].height if table is not None else 0  # derived tables: not read
        n_bad = quarantine.filter(pl.col("table") == name).height
        n_excluded = excluded.filter(pl.col("table") == name).height
        read = (
            (table.frame.height if table is not None else 0)
            + n_excluded
            + _set_aside_by_adapter(raw, name, "quarantined")
        )
        if read != n_valid + n_bad + n_excluded:  # an invariant, not a data problem
            raise AssertionError(
                f"{name}: read {read} != valid {n_valid} + quarantined {n_bad} "
                f"+ excluded {n_excluded}"
            )
        files = pl.concat(
            [excluded.select("table", "file"), quarantine.select("table", "file")]
        ).filter(pl.col("table") == name)
        rows.append(
            {
                "table": name,
                "file": table.file if table is not None else files["file"].first(),
                "read": read,
                "valid": n_valid,
                "quarantined": n_bad,
                "excluded": n_excluded,
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "file": pl.String,
            "read": pl.Int64,
            "valid": pl.Int64,
            "quarantined": pl.Int64,
            "excluded": pl.Int64,
        },
        orient="row",
    )


def _set_aside_by_adapter(raw: RawDataset, table: str, kind: str) -> int:
    return sum(
        f.filter((pl.col("table") == table) & (pl.col("kind") == kind)).height for f in raw.setaside
    )
