"""A validated dataset kept on disk, so that loading an unchanged export again costs a scan.

The key is a SHA-256 of every input file's name and bytes (a folder's files, or the one file
given), the source, the mapping file's bytes, the adapter options, the date horizon, the
kit's version and its modules' bytes: any change to one of them is a new key, so a stale entry
is never read. An entry is a folder holding each validated table, the quarantine and the
excluded rows as Parquet (types kept) and ``meta.json`` (counts, notes, hints, flags).
Entries are written to a temporary folder and renamed into place, so a crash leaves no half
entry.

Results derived from a cached dataset that every report of a batch needs (the organisation-wide
comparison, the forecast and its backtest) are kept beside it, in ``results/<entry key>/``
(:func:`stored_result`): computed once, by whichever process gets there first, and read by the
others.

>>> ds = pk.load("exports/sfdc", source="salesforce", cache_dir=True)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import polars as pl

from pipeline_kit.adapters.base import content_digest
from pipeline_kit.dataset import Dataset, Tables
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import Message

__all__ = ["cache_key", "default_cache_dir", "read_cached", "stored_result", "write_cached"]

T = TypeVar("T")

_FRAMES = ("quarantine", "excluded", "counts")
# the tables' Parquet compression: a cache is read far more often than written, and decoding
# uncompressed columns takes a third of the CPU zstd's take (1M deals: 0.029 s against 0.064
# s; 54 MB on disk against 12 MB)
TABLE_COMPRESSION: Literal["uncompressed", "lz4", "zstd"] = "uncompressed"
# the cache folder's size budget, beyond which the least recently used entries are removed
CACHE_MAX_VARIABLE = "PIPELINE_KIT_CACHE_MAX_MB"
DEFAULT_CACHE_MAX_BYTES = 4_096_000_000
# in the cache folder: the input files' digests by their states (content_digest)
DIGEST_INDEX = "file-digests.json"


def default_cache_dir() -> Path:
    """The user's cache folder for pipeline_kit (platformdirs).

    >>> default_cache_dir().parts[-2:]
    ('pipeline_kit', 'datasets')
    """
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pipeline_kit")) / "datasets"


def cache_key(
    path: Path,
    source: str,
    mapping: str | Path | Mapping[str, Any] | None,
    options: Mapping[str, Any],
    date_horizon_days: int,
    index: Path | None = None,
) -> str:
    """SHA-256 over everything the validated dataset depends on (see module docstring).

    ``index``: where the input files' digests are remembered across processes
    (:func:`~pipeline_kit.adapters.base.content_digest`), so an unchanged export is not
    hashed again; :func:`pipeline_kit.load` keeps it in the cache folder.

    >>> key = cache_key(Path("data/sample"), "canonical", None, {}, 366)
    >>> len(key), key == cache_key(Path("data/sample"), "canonical", None, {}, 366)
    (32, True)
    >>> key == cache_key(Path("data/sample"), "canonical", None, {"encoding": "latin-1"}, 366)
    False
    """
    from pipeline_kit import __version__

    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    digest.update(content_digest(files, index).encode())
    if isinstance(mapping, (str, Path)) and Path(mapping).is_file():
        digest.update(Path(mapping).read_bytes())
    elif mapping is not None:
        digest.update(json.dumps(mapping, sort_keys=True, default=str).encode())
    settings = [
        source,
        repr(sorted(options.items())),
        date_horizon_days,
        __version__,
        _code_digest(),
    ]
    digest.update(json.dumps(settings, default=str).encode())
    return digest.hexdigest()[:32]


@functools.cache
def _code_digest() -> str:
    """SHA-256 of the kit's own modules.

    A development build that changes how a table is validated (same version number) never
    reads an entry the previous code wrote.
    """
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for module in sorted(package.rglob("*.py")):
        digest.update(str(module.relative_to(package)).encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


def read_cached(folder: Path, key: str) -> Dataset | None:
    """The dataset stored under ``key``, or ``None`` when there is none.

    Also ``None`` when it is unreadable: a damaged entry is read again from the export, never
    trusted.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "damaged").mkdir()
    ...     _ = (Path(tmp) / "damaged" / "meta.json").write_text("{not json")
    ...     read_cached(Path(tmp), "absent"), read_cached(Path(tmp), "damaged")
    (None, None)
    """
    entry = folder / key
    if not (entry / "meta.json").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        for name in meta["tables"]:  # every table's footer read: a cut file is caught here
            pl.read_parquet_schema(entry / f"table_{name}.parquet")
        frames = {name: pl.read_parquet(entry / f"{name}.parquet") for name in _FRAMES}
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None
    with contextlib.suppress(OSError):  # used now: the last entry the budget evicts (_evict)
        os.utime(entry / "meta.json")
    return Dataset(
        tables=Tables({}, list(meta["tables"]), _StoredTables(entry)),
        quarantine=frames["quarantine"],
        counts=frames["counts"],
        notes=[Message.from_json(n) for n in meta["notes"]],
        source=meta["source"],
        path=Path(meta["path"]),
        fingerprint=meta["fingerprint"],
        stage_history_approximate=meta["stage_history_approximate"],
        hints={_hint_key(k): Message.from_json(v) for k, v in meta["hints"].items()},
        excluded=frames["excluded"],
        undated=meta["undated"],
        absent_columns=frozenset(meta.get("absent_columns", ())),
        rule_messages={
            k: (Message.from_json(v[0]), Message.from_json(v[1]))
            for k, v in meta["rule_messages"].items()
        },
    )


def _hint_key(joined: str) -> tuple[str, str]:
    """A hint's (table, column) key, stored joined by a unit separator."""
    table, column = joined.split("\x1f", 1)
    return table, column


class _StoredTables:
    """The tables of a cache entry, each read from its Parquet file on first use.

    They were validated when the entry was written, so nothing is pending: the quarantine,
    counts, notes and exclusions of every table are the entry's own. A metric that reads
    only the deals reads only the deals' file.
    """

    def __init__(self, entry: Path) -> None:
        self.entry = entry

    def unsettled(self) -> bool:
        """Never: the entry holds the totals of every table."""
        return False

    def resolve(self, table: str) -> pl.DataFrame:
        """The stored valid rows of ``table``.

        Raises
        ------
        DataError
            When the entry was removed (the cache cleared) after the dataset was loaded.
        """
        try:
            return pl.read_parquet(self.entry / f"table_{table}.parquet")
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise DataError(
                problem=f"the cached copy of this export was removed or damaged after it was "
                f"loaded, before its {table} table was read ({type(exc).__name__})",
                fix="load the export again (pk.load, or the command again); with --no-cache "
                "(cache=False) the export is read without the cache",
                file=str(self.entry),
            ) from None

    def scan(self, table: str) -> pl.LazyFrame:
        """A scan of the stored valid rows of ``table`` (an error as :meth:`resolve`'s)."""
        file = self.entry / f"table_{table}.parquet"
        if not file.is_file():
            self.resolve(table)  # (raises the error that says what happened)
        return pl.scan_parquet(file)

    def settle(self) -> dict[str, Any]:
        """Nothing to settle (:meth:`unsettled` is false, so a dataset never asks)."""
        raise RuntimeError("a cached dataset's totals are read with it; nothing is pending")


def _json(text: str) -> str | dict[str, Any]:
    """A note, hint or rule message as JSON: a Message keeps its template and parameters."""
    return text.to_json() if isinstance(text, Message) else text


def write_cached(folder: Path, key: str, ds: Dataset) -> None:
    """Store ``ds`` under ``key``, atomically (a temporary folder renamed into place).

    A cache that cannot be written (read-only disk, full disk) is skipped: it is only a cache.

    >>> import tempfile
    >>> import pipeline_kit as pk
    >>> ds = pk.load("data/sample", cache=True)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_cached(Path(tmp), "k1", ds)
    ...     back = read_cached(Path(tmp), "k1")
    ...     back.deals.equals(ds.deals), back.counts.equals(ds.counts), back.notes == ds.notes
    (True, True, True)
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder))
    except OSError:
        return
    try:
        for name, frame in ds.tables.items():
            frame.write_parquet(work / f"table_{name}.parquet", compression=TABLE_COMPRESSION)
        ds.quarantine.write_parquet(work / "quarantine.parquet")
        ds.excluded.write_parquet(work / "excluded.parquet")
        ds.counts.write_parquet(work / "counts.parquet")
        meta = {
            "tables": list(ds.tables),
            "notes": [_json(n) for n in ds.notes],
            "source": ds.source,
            "path": str(ds.path),
            "fingerprint": ds.fingerprint,
            "stage_history_approximate": ds.stage_history_approximate,
            "hints": {"\x1f".join(k): _json(v) for k, v in ds.hints.items()},
            "undated": ds.undated,
            "absent_columns": sorted(ds.absent_columns),
            "rule_messages": {k: [_json(t) for t in v] for k, v in ds.rule_messages.items()},
        }
        (work / "meta.json").write_text(json.dumps(meta))
        os.replace(work, folder / key)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if work.exists():  # another process stored the same key first
            shutil.rmtree(work, ignore_errors=True)
    _evict(folder, keep=key)


def max_cache_bytes() -> int:
    """The cache folder's budget: ``PIPELINE_KIT_CACHE_MAX_MB`` megabytes, else 4,096.

    >>> max_cache_bytes() >= 0
    True
    """
    text = os.environ.get(CACHE_MAX_VARIABLE, "")
    try:
        return int(float(text) * 1e6) if text.strip() else DEFAULT_CACHE_MAX_BYTES
    except ValueError:
        return DEFAULT_CACHE_MAX_BYTES


def _evict(folder: Path, keep: str) -> None:
    """Remove the least recently used entries (and their results) beyond the budget.

    An entry's use is its ``meta.json``'s modification time, which :func:`read_cached`
    renews; the entry just written (``keep``) always stays. Best effort: an entry that
    cannot be removed is left.
    """

    def size(path: Path) -> int:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    try:
        entries = sorted(
            # (an entry being written is a folder whose name starts with a dot)
            (
                p
                for p in folder.iterdir()
                if not p.name.startswith(".") and (p / "meta.json").is_file()
            ),
            key=lambda p: (p.name != keep, -(p / "meta.json").stat().st_mtime_ns),
        )
        total = 0
        for entry in entries:
            results = results_dir(folder, entry.name)
            total += size(entry) + (size(results) if results.is_dir() else 0)
            if total > max_cache_bytes() and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)
                shutil.rmtree(results, ignore_errors=True)
    except OSError:
        pass


# The result types stored_result keeps on disk: frozen dataclasses whose fields are polars
# frames, dates, periods or JSON values, and polars frames (the organisation-wide comparison)
# that read back from Parquet equal, column types included. Anything else is computed and kept
# in memory only.
PERSISTED_TYPES = (
    "pipeline_kit.forecasting.model.BookingsForecast",
    "pipeline_kit.forecasting.backtest.Backtest",
    "polars.dataframe.frame.DataFrame",
)


def results_dir(folder: Path, key: str) -> Path:
    """Where the results derived from the dataset cached under ``key`` are kept."""
    return folder / "results" / key


def stored_result(folder: Path, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``'s result kept in ``folder`` under ``key``, computed at most once.

    The first process to ask computes it while holding a lock on the entry; the others wait
    for it and read what it wrote (on systems without ``fcntl`` they may compute it too; the
    entry is written atomically either way). A result of a type not in
    :data:`PERSISTED_TYPES`, a damaged entry or a folder that cannot be written: computed
    again, never an error.

    >>> import tempfile
    >>> from pipeline_kit.periods import Period
    >>> from pipeline_kit.forecasting.backtest import Backtest
    >>> calls = []
    >>> def compute():
    ...     calls.append(1)
    ...     return Backtest(["team"], pl.DataFrame({"p50": [1.5]}), pl.DataFrame({"x": [1]}))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     a = stored_result(Path(tmp), ("backtest", 1), compute)
    ...     b = stored_result(Path(tmp), ("backtest", 1), compute)
    >>> b.by, b.forecasts.equals(a.forecasts), b.deals.equals(a.deals), len(calls)
    (['team'], True, True, 1)
    """
    from pipeline_kit import __version__

    name = hashlib.sha256(repr((__version__, key)).encode()).hexdigest()[:32]
    entry = folder / name
    found = _read_result(entry)
    if found is not None:
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / f"{name}.lock").open("a")
    except OSError:
        return compute()
    with lock:
        _lock_exclusive(lock)  # released when the file is closed
        found = _read_result(entry)
        if found is not None:
            return found
        value = compute()
        _write_result(entry, value)
    return value


def _lock_exclusive(handle: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no lock, at worst the result is computed twice
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _type_name(value: object) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _write_result(entry: Path, value: object) -> None:
    if _type_name(value) not in PERSISTED_TYPES or not (
        dataclasses.is_dataclass(value) or isinstance(value, pl.DataFrame)
    ):
        return
    from pipeline_kit.periods import Period

    try:
        work = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    except OSError:
        return
    try:
        if isinstance(value, pl.DataFrame):
            value.write_parquet(work / "frame.parquet")
            # stored only when it reads back as it is (a type Parquet changes: kept in memory)
            back = pl.read_parquet(work / "frame.parquet")
            if back.schema != value.schema or not back.equals(value, null_equal=True):
                raise TypeError("the frame does not read back from Parquet as it was")
            meta: dict[str, Any] = {"type": _type_name(value), "frame": "frame.parquet"}
            (work / "meta.json").write_text(json.dumps(meta))
            os.replace(work, entry)
            return
        assert dataclasses.is_dataclass(value) and not isinstance(value, type)
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if isinstance(item, pl.DataFrame):
                item.write_parquet(work / f"{f.name}.parquet")
                fields[f.name] = {"frame": f"{f.name}.parquet"}
            elif isinstance(item, Period):
                fields[f.name] = {"period": [item.start.isoformat(), item.end.isoformat()]}
                fields[f.name]["label"] = item.label
            elif isinstance(item, dt.date) and not isinstance(item, dt.datetime):
                fields[f.name] = {"date": item.isoformat()}
            elif item is None or isinstance(item, (str, int, float, list)):
                fields[f.name] = {"json": item}
            else:  # a tuple, a set, an object: not kept as it is by JSON
                raise TypeError(f"{f.name}: {type(item).__name__} is not stored")
        meta = {"type": _type_name(value), "fields": fields}
        (work / "meta.json").write_text(json.dumps(meta))
        os.replace(work, entry)
    except (OSError, TypeError, ValueError, pl.exceptions.PolarsError):
        pass
    finally:
        if work.exists():  # not writable, not serialisable, or stored by another process
            shutil.rmtree(work, ignore_errors=True)


def _read_result(entry: Path) -> Any:
    if not (entry / "meta.json").is_file():
        return None
    from pipeline_kit.periods import Period

    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta["type"] not in PERSISTED_TYPES:
            return None
        if "frame" in meta:
            return pl.read_parquet(entry / meta["frame"])
        module, _, name = meta["type"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        values: dict[str, Any] = {}
        for field_name, item in meta["fields"].items():
            if "frame" in item:
                values[field_name] = pl.read_parquet(entry / item["frame"])
            elif "period" in item:
                start, end = (dt.date.fromisoformat(d) for d in item["period"])
                values[field_name] = Period(start, end, item["label"])
            elif "date" in item:
                values[field_name] = dt.date.fromisoformat(item["date"])
            else:
                values[field_name] = item["json"]
        return cls(**values)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ImportError):
        return None
    except pl.exceptions.PolarsError:
        return None
