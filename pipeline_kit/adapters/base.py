"""What every adapter hands to the loader: raw tables of strings, with where each row came from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline_kit.errors import DataError

__all__ = ["RawDataset", "RawTable", "fingerprint", "read_table_file"]


@dataclass
class RawTable:
    """One canonical table before validation: every column a string, plus ``source_row``."""

    name: str
    frame: pl.DataFrame
    file: str


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


def fingerprint(files: Iterable[Path]) -> str:
    """Short SHA-256 over the names and bytes of the input files: identifies the data exactly."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _normalise_header(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower().replace(" ", "_")


def _sniff_separator(path: Path) -> str:
    """The most frequent of , ; tab and | in the header line (many European exports use ;)."""
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8", "replace")
    return max([",", ";", "\t", "|"], key=header.count)


def read_table_file(path: Path) -> pl.DataFrame:
    """Read a CSV (every column a string) or Parquet file (as typed), adding ``source_row``.

    ``source_row`` is the 1-based line in a CSV (header = line 1) or the 1-based row + 1 in a
    Parquet file, so that both read the same way in messages.
    """
    try:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)  # typed columns are kept; the loader casts them
        else:
            frame = pl.read_csv(
                path, separator=_sniff_separator(path), infer_schema=False, encoding="utf8-lossy"
            )
    except (pl.exceptions.PolarsError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            problem=f"the file cannot be read as {path.suffix.lstrip('.').upper()}: {first_line}",
            fix="export it again as UTF-8 CSV with a header row (or as Parquet)",
            file=str(path),
        ) from exc
    names = [_normalise_header(c) for c in frame.columns]
    duplicated = sorted({c for c in names if names.count(c) > 1 or c.endswith("_duplicated_0")})
    if duplicated:
        raise DataError(
            problem=f"the header repeats column(s) {', '.join(duplicated)}",
            fix="give every column a unique name",
            file=str(path),
        )
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    return frame.with_row_index("source_row", offset=2).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )
