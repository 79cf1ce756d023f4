"""Adapters map a source's files, columns and stage names onto the canonical tables.

An adapter is a function ``(path) -> RawDataset``: it only renames and reshapes (all values stay
strings); typing and validation happen once, for every source, in :mod:`pipeline_kit.loading`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline_kit.adapters.base import RawDataset, RawTable
from pipeline_kit.adapters.canonical import read_canonical
from pipeline_kit.adapters.maven import read_maven
from pipeline_kit.errors import DataError

__all__ = ["ADAPTERS", "RawDataset", "RawTable", "get_adapter"]

ADAPTERS: dict[str, Callable[[Path], RawDataset]] = {
    "canonical": read_canonical,
    "maven": read_maven,
}


def get_adapter(source: str) -> Callable[[Path], RawDataset]:
    """The adapter registered under ``source``."""
    try:
        return ADAPTERS[source]
    except KeyError:
        raise DataError(
            problem=f"unknown source {source!r}",
            fix=f"use one of: {', '.join(ADAPTERS)}",
        ) from None
