"""Excel output: the long metrics table and the definition of every metric in it.

A workbook people can pass around (``pipeline-kit metrics --xlsx``), written through polars'
``write_excel`` (XlsxWriter).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from pipeline_kit.errors import DataError
from pipeline_kit.metrics.cards import CATALOGUE, MetricCard

__all__ = ["NUMBER_FORMATS", "definitions_frame", "workbook_at", "write_metrics_workbook"]

# how each unit's values read in Excel
NUMBER_FORMATS = {
    "share": "0.0%",
    "currency": "#,##0",
    "days": "0.0",
    "hours": "0.0",
    "count": "#,##0",
}


def definitions_frame(
    names: list[str], cards: Mapping[str, MetricCard] = CATALOGUE
) -> pl.DataFrame:
    """The card of each metric in ``names`` (those in ``cards``), one row each."""
    return pl.DataFrame(
        [
            {
                "metric": n,
                "title": cards[n].title,
                "formula": cards[n].formula,
                "time basis": cards[n].time_basis,
                "which deals count": cards[n].counts,
                "interval": cards[n].interval,
                "how to read it": cards[n].reading,
            }
            for n in names
            if n in cards
        ]
    )


@contextmanager
def workbook_at(path: Path) -> Iterator[Any]:
    """An XlsxWriter workbook that appears at ``path`` only once it is complete.

    Written to a temporary file and renamed, so a failure leaves no partial workbook; a
    file-system error becomes a :class:`~pipeline_kit.errors.DataError`.
    """
    import xlsxwriter

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with xlsxwriter.Workbook(tmp) as workbook:
            yield workbook
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(
            problem=f"the workbook cannot be written: {exc.strerror or exc}",
            fix="free some disk space or pick another --out; nothing was written",
            file=str(path),
        ) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_metrics_workbook(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` (the long format of :func:`pipeline_kit.metrics_long`) to ``path``.

    Sheet ``metrics`` (one table; the value, the interval bounds and the unit side by side),
    a sheet per unit with that unit's number format, and ``definitions`` (each metric's card).
    Written to a temporary file and renamed, so a failure leaves no partial workbook.
    """
    with workbook_at(path) as workbook:
        frame.write_excel(workbook, "metrics", autofit=True, freeze_panes=(1, 1), float_precision=4)
        for unit, number_format in NUMBER_FORMATS.items():
            part = frame.filter(pl.col("unit") == unit)
            if part.height:
                part.write_excel(
                    workbook,
                    unit,
                    autofit=True,
                    freeze_panes=(1, 1),
                    column_formats={c: number_format for c in ("value", "ci_low", "ci_high")},
                )
        names = frame["metric"].unique(maintain_order=True).to_list()
        definitions_frame(names).write_excel(
            workbook, "definitions", autofit=True, freeze_panes=(1, 1)
        )
