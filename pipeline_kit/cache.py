"""A validated dataset kept on disk, so that loading an unchanged export again costs a scan.

The key is a SHA-256 of every input file's name and bytes (a folder's files, or the one file
given), the source, the mapping file's bytes, the adapter options, the date horizon and the
kit's version: any change to one of them is a new key, so a stale entry is never read. An
entry is a folder holding each validated table, the quarantine and the excluded rows as Parquet
(types kept) and ``meta.json`` (counts, notes, hints, flags). Entries are written to a
temporary folder and renamed into place, so a crash leaves no half entry.

>>> ds = pk.load("exports/sfdc", source="salesforce", cache_dir=True)   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.i18n import Message

__all__ = ["cache_key", "default_cache_dir", "read_cached", "write_cached"]

_FRAMES = ("quarantine", "excluded", "counts")


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
) -> str:
    """SHA-256 over everything the validated dataset depends on (see module docstring).

    >>> key = cache_key(Path("data/sample"), "canonical", None, {}, 366)
    >>> len(key), key == cache_key(Path("data/sample"), "canonical", None, {}, 366)
    (32, True)
    >>> key == cache_key(Path("data/sample"), "canonical", None, {"encoding": "latin-1"}, 366)
    False
    """
    from pipeline_kit import __version__

    digest = hashlib.sha256()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    digest.update(_files_digest(files).encode())
    if isinstance(mapping, (str, Path)) and Path(mapping).is_file():
        digest.update(Path(mapping).read_bytes())
    elif mapping is not None:
        digest.update(json.dumps(mapping, sort_keys=True, default=str).encode())
    settings = [source, repr(sorted(options.items())), date_horizon_days, __version__]
    digest.update(json.dumps(settings, default=str).encode())
    return digest.hexdigest()[:32]


# files' content digests by (path, size, modification time): a kernel running many reports
# hashes a large export once, not once per report
_DIGESTS: dict[tuple, str] = {}


def _files_digest(files: list[Path]) -> str:
    state = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if state not in _DIGESTS:
        digest = hashlib.sha256()
        for file in files:
            digest.update(file.name.encode())
            with file.open("rb") as handle:
                for block in iter(functools.partial(handle.read, 1 << 20), b""):
                    digest.update(block)
        _DIGESTS[state] = digest.hexdigest()
    return _DIGESTS[state]


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
        tables = {name: pl.read_parquet(entry / f"table_{name}.parquet") for name in meta["tables"]}
        frames = {name: pl.read_parquet(entry / f"{name}.parquet") for name in _FRAMES}
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None
    return Dataset(
        tables=tables,
        quarantine=frames["quarantine"],
        counts=frames["counts"],
        notes=[Message.from_json(n) for n in meta["notes"]],
        source=meta["source"],
        path=Path(meta["path"]),
        fingerprint=meta["fingerprint"],
        stage_history_approximate=meta["stage_history_approximate"],
        hints={tuple(k.split("\x1f", 1)): Message.from_json(v) for k, v in meta["hints"].items()},
        excluded=frames["excluded"],
        undated=meta["undated"],
        rule_messages={
            k: tuple(Message.from_json(t) for t in v) for k, v in meta["rule_messages"].items()
        },
    )


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
    >>> back.deals.equals(ds.deals), back.counts.equals(ds.counts), back.notes == ds.notes
    (True, True, True)
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder))
    except OSError:
        return
    try:
        for name, frame in ds.tables.items():
            frame.write_parquet(work / f"table_{name}.parquet")
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
            "rule_messages": {k: [_json(t) for t in v] for k, v in ds.rule_messages.items()},
        }
        (work / "meta.json").write_text(json.dumps(meta))
        os.replace(work, folder / key)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if work.exists():  # another process stored the same key first
            shutil.rmtree(work, ignore_errors=True)
