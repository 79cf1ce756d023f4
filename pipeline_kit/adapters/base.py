"""What every adapter hands to the loader: raw tables of strings, with where each row came from."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import dataframely as dy

from pipeline_kit._files import write_atomic
from pipeline_kit.adapters._tools import read_export_file
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = [
    "RawDataset",
    "RawTable",
    "check_unchanged",
    "content_digest",
    "file_state",
    "fingerprint",
    "lazy_fingerprint",
    "read_table_file",
]


@dataclass
class RawTable:
    """One canonical table before validation: every column a string, plus ``source_row``."""

    name: str
    frame: pl.DataFrame
    file: str
    # the dataframely schema to validate against, when not the table's usual one
    schema: type[dy.Schema] | None = None
    # set by the loader when it has seen that no two rows share the values of the table's
    # primary key as read (before trimming and parsing): the key then needs no check of its
    # own unless trimming or parsing changed a key value
    unique_key: bool = False
    # when set, ``frame`` holds the columns alone and this reads the rows: the loader calls it
    # when the table is first used (a Parquet table whose validation is deferred)
    reader: Callable[[], pl.DataFrame] | None = None


@dataclass
class RawDataset:
    """The output of an adapter: canonical tables (as strings) and what the adapter did."""

    source: str
    path: Path
    tables: dict[str, RawTable]
    fingerprint: str
    notes: list[str] = field(default_factory=list)
    # when ``fingerprint`` is "": computes it when first asked for (lazy_fingerprint)
    fingerprinter: Callable[[], str] | None = None
    # (table, rule) -> extra advice specific to this source, shown with the generic fix
    hints: dict[tuple[str, str], str] = field(default_factory=dict)
    stage_history_approximate: bool = False
    # rows the adapter left out of its tables, each with a reason (see _tools.set_aside):
    # "excluded" by design (deleted, merged, not a stage change) or "quarantined"
    setaside: list[pl.DataFrame] = field(default_factory=list)
    # reason -> (problem, fix) for the adapter's own set-aside reasons
    rule_messages: dict[str, tuple[str, str]] = field(default_factory=dict)
    # an export of leads only: the deals table is empty because there was no deals file
    no_deals: bool = False


def fingerprint(files: Iterable[Path]) -> str:
    """Short SHA-256 over the names and bytes of the input files: identifies the data exactly.

    (The first 12 hex digits of :func:`content_digest` of the files in sorted order.)
    """
    return content_digest(sorted(files))[:12]


def lazy_fingerprint(files: Iterable[Path]) -> Callable[[], str]:
    """:func:`fingerprint` of ``files``, computed when called.

    An error if a file changed since this was made: the fingerprint must be that of the
    bytes that were loaded. (A partial of a module function: a dataset holding it pickles.)
    """
    ordered = sorted(files)
    return functools.partial(_unchanged_fingerprint, ordered, [file_state(f) for f in ordered])


def _unchanged_fingerprint(files: list[Path], loaded: list[tuple]) -> str:
    check_unchanged(files, loaded, "so its fingerprint can no longer be taken")
    return fingerprint(files)


def check_unchanged(files: Sequence[Path], loaded: Sequence[tuple], why: str) -> None:
    """Raise a :class:`DataError` if a file changed since its state ``loaded`` was taken.

    It names the first of ``files`` whose :func:`file_state` differs; ``why`` says what is
    therefore refused.
    """
    changed = [f for f, state in zip(files, loaded, strict=True) if file_state(f) != state]
    if changed:
        raise DataError(
            problem=f"the file changed after the dataset was loaded, {why}",
            fix="load the export again",
            file=str(changed[0]),
        )


# content digests by the files' states: a process loading an unchanged export again (a kernel
# running many reports) hashes it once
_DIGESTS: dict[tuple, str] = {}
# an index entry is trusted only for files last changed this long before they were hashed:
# a write within the clock's resolution of the hashing could leave the state unchanged
_SETTLED_NS = 2_000_000_000


def file_state(file: Path) -> tuple[str, int, int, int, int]:
    """What changes whenever a file's bytes do.

    Path, size, inode, modification and change times (the change time cannot be set back, so
    a restored modification time is seen).
    """
    stat = file.stat()
    return str(file.resolve()), stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns


def content_digest(files: Sequence[Path], index: Path | None = None) -> str:
    """SHA-256 (hex) over each file's name and bytes, in the order given.

    Memoised in the process by the files' states (:func:`file_state`). With ``index`` (a JSON
    file, e.g. in the validated-dataset cache) also across processes: a digest recorded there
    for the same states is reused when every file had last changed at least 2 s before it was
    hashed, the rule git uses for its index (otherwise the files are hashed again).
    """
    state = tuple(file_state(f) for f in files)
    if state in _DIGESTS:
        return _DIGESTS[state]
    key = json.dumps(state)
    recorded = _read_index(index).get(key) if index is not None else None
    if recorded is not None and all(recorded[1] - max(s[3], s[4]) >= _SETTLED_NS for s in state):
        _DIGESTS[state] = recorded[0]
        return recorded[0]
    started = time.time_ns()
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for block in iter(functools.partial(handle.read, 1 << 20), b""):
                digest.update(block)
    _DIGESTS[state] = digest.hexdigest()
    if index is not None:
        _write_index(index, key, [_DIGESTS[state], started])
    return _DIGESTS[state]


_INDEX_ENTRIES = 256


def _read_index(index: Path) -> dict[str, list]:
    try:
        entries = json.loads(index.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write_index(index: Path, key: str, entry: list) -> None:
    """Add ``key`` to the index (the newest 256 kept); written to a temporary file, renamed."""
    entries = _read_index(index)
    entries.pop(key, None)
    entries[key] = entry
    kept = dict(list(entries.items())[-_INDEX_ENTRIES:])
    try:
        index.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(index, json.dumps(kept))
    except OSError:  # a read-only cache folder: the digest is simply not remembered
        pass


def normalise_header(name: str) -> str:
    r"""A canonical table's column name: lower case, each run of white space an underscore.

    Any white space: a no-break space typed or pasted into a header (``Created\u00a0At``)
    matches as a plain one does.

    >>> normalise_header("\ufeff Created\u00a0At "), normalise_header("Deal  ID")
    ('created_at', 'deal_id')
    """
    return re.sub(r"\s+", "_", name.strip().lstrip("\ufeff").strip().lower())


def read_table_file(
    path: Path,
    notes: list[str] | None = None,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    header_only: bool = False,
    sheet: str | int | None = None,
) -> pl.DataFrame:
    """A canonical table file: CSV (every column a string) or Parquet (typed).

    With ``source_row`` (the physical line in a CSV, header = line 1; row + 1 in Parquet) and
    headers lower-cased with spaces as underscores, so ``Deal ID`` reads as ``deal_id``.
    With ``header_only`` a Parquet file's columns are read without its rows.

    A non-UTF-8 CSV is decoded with its detected encoding and a note is added to ``notes``.
    """
    frame = read_export_file(
        path,
        [] if notes is None else notes,
        encoding=encoding,
        separator=separator,
        header_only=header_only,
        sheet=sheet,
    )
    names = [normalise_header(c) if c != "source_row" else c for c in frame.columns]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise DataError(
            problem=f"the header repeats column(s) {', '.join(duplicated)} (names are "
            "compared without case)",
            fix="give every column a unique name",
            file=str(path),
        )
    return frame.rename(dict(zip(frame.columns, names, strict=True)))


def no_deals_table(file: str) -> RawTable:
    """An empty deals table, for an export of leads only (``file``: where deals were sought).

    The leads are validated and their figures computed as usual; :attr:`Dataset.leads_only`
    tells the commands and reports that no deal figure can be computed.
    """
    from pipeline_kit.schema import TABLES

    columns = [c for c in TABLES["deals"].columns() if c != "source_row"]
    schema = {"source_row": pl.Int64, **dict.fromkeys(columns, pl.String)}
    return RawTable("deals", pl.DataFrame(schema=schema), file)


def leads_only_note(where: str) -> Message:
    """The note of an export of leads only."""
    return Message(
        N_(
            "{where} has leads but no deals: the lead figures (created, qualified, converted, "
            "response time) are computed; deal figures (win rate, pipeline, bookings, the team "
            "reports) need the deals (opportunities) export."
        ),
        where=where,
    )
