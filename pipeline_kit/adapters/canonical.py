"""The canonical format: a folder of ``<table>.csv``, ``.parquet`` or workbook (``.xlsx``) files."""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl

from pipeline_kit.adapters._tools import WORKBOOK_SUFFIXES
from pipeline_kit.adapters.base import (
    RawDataset,
    RawTable,
    check_unchanged,
    file_state,
    lazy_fingerprint,
    read_table_file,
)
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import DEFERRED_TABLES, TABLES

__all__ = ["read_canonical"]

SUFFIXES = (".csv", ".parquet", *WORKBOOK_SUFFIXES)
# files named like a table that the kit does not read (said, not ignored)
UNREAD_SUFFIXES = (".numbers", ".json", ".tsv", ".txt")


def find_table_file(folder: Path, table: str) -> Path | None:
    """``folder/<table>.csv``, ``.parquet`` or a workbook; an error if two of them exist."""
    found = [
        folder / f"{table}{suffix}" for suffix in SUFFIXES if (folder / f"{table}{suffix}").exists()
    ]
    if len(found) > 1:
        raise DataError(
            problem=f"both {found[0].name} and {found[1].name} exist",
            fix=f"keep only one file for the {table} table",
            file=str(folder),
        )
    return found[0] if found else None


def read_canonical(
    path: Path, *, encoding: str | None = None, separator: str | None = None
) -> RawDataset:
    """Read every canonical table present in ``path``; only ``deals`` is mandatory.

    CSV files may be in any encoding (detected, and said in a note) unless ``encoding`` is
    given; the separator (, ; tab |) is read from the header unless ``separator`` is given.
    """
    if not path.is_dir():
        raise DataError(
            problem="the data folder does not exist" if not path.exists() else "not a folder",
            fix="pass the folder that holds deals.csv (and the other tables) with --data",
            file=str(path),
        )
    tables: dict[str, RawTable] = {}
    files: list[Path] = []
    notes: list[str] = []
    for table in TABLES:
        file = find_table_file(path, table)
        if file is None:
            unread = _unread_table_files(path, table)
            if unread and table != "deals":
                expected = table + unread[0].suffix.lower()
                notes.append(
                    Message(
                        N_(
                            "{file} was not read: table files are named in lower case "
                            "({expected}); rename it to use it."
                        ),
                        file=unread[0].name,
                        expected=expected,
                    )
                    if unread[0].suffix.lower() in SUFFIXES
                    else Message(
                        N_(
                            "{file} was not read: the kit reads each table from a .csv, "
                            ".parquet or .xlsx file (save it as CSV UTF-8 to use it)."
                        ),
                        file=unread[0].name,
                    )
                )
            continue
        files.append(file)
        if table in DEFERRED_TABLES and file.suffix == ".parquet":
            # validated on first use (pipeline_kit.load): read then too; its columns now
            tables[table] = RawTable(
                table,
                read_table_file(file, notes, header_only=True),
                str(file),
                reader=functools.partial(_read_unchanged, file, file_state(file)),
            )
            continue
        tables[table] = RawTable(
            table,
            read_table_file(file, notes, encoding=encoding, separator=separator),
            str(file),
        )
    if "deals" not in tables:
        present = sorted(p.name for p in path.iterdir() if p.suffix in SUFFIXES)
        unread = _unread_table_files(path, "deals")
        if unread and unread[0].suffix.lower() in SUFFIXES:
            expected = "deals" + unread[0].suffix.lower()
            raise DataError(
                problem=f"the deals file is named {unread[0].name}; the kit looks for {expected}",
                fix=f"rename it to {expected} (table files are named in lower case)",
                file=str(unread[0]),
            )
        if unread:
            raise DataError(
                problem=f"{unread[0].name} is not a file the kit reads: each table is read "
                "from a .csv, .parquet or .xlsx file",
                fix=f"save {unread[0].name} as CSV UTF-8 (deals.csv), Parquet or an Excel "
                "workbook (deals.xlsx) in the same folder",
                file=str(unread[0]),
                examples=[f"files found: {', '.join(present) or 'none'}"],
            )
        raise DataError(
            problem="no deals.csv or deals.parquet in this folder",
            fix="export your opportunities as deals.csv (see README, 'Data model'), or pass "
            "--source for a known export format such as maven",
            file=str(path),
            examples=[f"files found: {', '.join(present) or 'none'}"],
        )
    return RawDataset(
        source="canonical",
        path=path,
        tables=tables,
        fingerprint="",  # (the files are hashed when the fingerprint is first asked for)
        fingerprinter=lazy_fingerprint(files),
        notes=notes,
    )


def _unread_table_files(folder: Path, table: str) -> list[Path]:
    """Files named like ``table`` that :func:`find_table_file` does not find.

    In a format the kit does not read (``deals.json``, ...), or in one it reads under another
    case (``Deals.CSV``): the folder's other files are not looked at.
    """
    suffixes = (*UNREAD_SUFFIXES, *SUFFIXES)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.stem.lower() == table and p.suffix.lower() in suffixes
    )


def _read_unchanged(file: Path, state: tuple) -> pl.DataFrame:
    """The rows of ``file``, read after the load: an error if it changed since."""
    check_unchanged([file], [state], "before its rows were read (on the table's first use)")
    return read_table_file(file)
