"""Adapters map a source's files, columns and stage names onto the canonical tables.

An adapter is a function ``(path, **options) -> RawDataset``: it only renames and reshapes
(all values stay strings, dates as ISO text); typing and validation happen once, for every
source, in :mod:`pipeline_kit.loading`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pipeline_kit.adapters.base import RawDataset, RawTable
from pipeline_kit.errors import DataError

__all__ = ["ADAPTERS", "RawDataset", "RawTable", "get_adapter"]

# source name -> "module:function"; imported on first use
ADAPTERS: dict[str, str] = {
    "canonical": "pipeline_kit.adapters.canonical:read_canonical",
    "maven": "pipeline_kit.adapters.maven:read_maven",
    "salesforce": "pipeline_kit.adapters.salesforce:read_salesforce",
    "hubspot": "pipeline_kit.adapters.hubspot:read_hubspot",
    "pipedrive": "pipeline_kit.adapters.pipedrive:read_pipedrive",
}


def get_adapter(source: str) -> Callable[..., RawDataset]:
    """The adapter registered under ``source``: ``(path, **options) -> RawDataset``."""
    if source not in ADAPTERS:
        raise DataError(
            problem=f"unknown source {source!r}",
            fix=f"use one of: {', '.join(ADAPTERS)}; for any other export write a mapping "
            "file (pipeline-kit inspect PATH drafts one) and pass --mapping",
        )
    module, _, function = ADAPTERS[source].partition(":")
    return getattr(importlib.import_module(module), function)
