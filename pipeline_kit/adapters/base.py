"""What every adapter hands to the loader: raw tables of strings, with where each row came from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import dataframely as dy

from pipeline_kit.adapters._tools import read_export_file
from pipeline_kit.errors import DataError

__all__ = ["RawDataset", "RawTable", "fingerprint", "read_table_file"]


@dataclass
class RawTable:
    """One canonical table before validation: every column a string, plus ``source_row``."""

    name: str
    frame: pl.DataFrame
    file: str
    # the dataframely schema to validate against, when not the table's usual one
    schema: type[dy.Schema] | None = None
    # set by the loader once the exact copies are set aside: no two rows are equal in every
    # column but source_row (a key made of every column then needs no check of its own)
    distinct: bool = False


@dataclass
class RawDataset:
    """The output of an adapter: canonical tables (as strings) and what the adapter did."""

    source: str
    path: Path
    tables: dict[str, RawTable]
    fingerprint: str
    notes: list[str] = field(default_factory=list)
    # (table, rule) -> extra advice specific to this source, shown with the generic fix
    hints: dict[tuple[str, str], str] = field(default_factory=dict)
    stage_history_approximate: bool = False
    # rows the adapter left out of its tables, each with a reason (see _tools.set_aside):
    # "excluded" by design (deleted, merged, not a stage change) or "quarantined"
    setaside: list[pl.DataFrame] = field(default_factory=list)
    # reason -> (problem, fix) for the adapter's own set-aside reasons
    rule_messages: dict[str, tuple[str, str]] = field(default_factory=dict)


def fingerprint(files: Iterable[Path]) -> str:
    """Short SHA-256 over the names and bytes of the input files: identifies the data exactly."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _normalise_header(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower().replace(" ", "_")


def read_table_file(
    path: Path,
    notes: list[str] | None = None,
    *,
    encoding: str | None = None,
    separator: str | None = None,
) -> pl.DataFrame:
    """A canonical table file: CSV (every column a string) or Parquet (typed).

    With ``source_row`` (the physical line in a CSV, header = line 1; row + 1 in Parquet) and
    headers lower-cased with spaces as underscores, so ``Deal ID`` reads as ``deal_id``.

    A non-UTF-8 CSV is decoded with its detected encoding and a note is added to ``notes``.
    """
    frame = read_export_file(
        path, [] if notes is None else notes, encoding=encoding, separator=separator
    )
    names = [_normalise_header(c) if c != "source_row" else c for c in frame.columns]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    if duplicated:
        raise DataError(
            problem=f"the header repeats column(s) {', '.join(duplicated)} (names are "
            "compared without case)",
            fix="give every column a unique name",
            file=str(path),
        )
    return frame.rename(dict(zip(frame.columns, names, strict=True)))
