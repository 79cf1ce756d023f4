"""Excel output: the long metrics table and the definition of every metric in it.

A workbook people can pass around (``pipeline-kit metrics --xlsx``), written through polars'
``write_excel`` (XlsxWriter).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from pipeline_kit.errors import DataError
from pipeline_kit.metrics.cards import CATALOGUE

__all__ = ["write_metrics_workbook"]

# how each unit's values read in Excel
_FORMATS = {"share": "0.0%", "currency": "#,##0", "days": "0.0", "hours": "0.0", "count": "#,##0"}


def write_metrics_workbook(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` (the long format of :func:`pipeline_kit.metrics_long`) to ``path``.

    Sheet ``metrics`` (one table; the value, the interval bounds and the unit side by side),
    a sheet per unit with that unit's number format, and ``definitions`` (each metric's card).
    Written to a temporary file and renamed, so a failure leaves no partial workbook.
    """
    import xlsxwriter

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with xlsxwriter.Workbook(tmp) as workbook:
            frame.write_excel(
                workbook, "metrics", autofit=True, freeze_panes=(1, 1), float_precision=4
            )
            for unit, number_format in _FORMATS.items():
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
            cards = pl.DataFrame(
                [
                    {
                        "metric": n,
                        "title": CATALOGUE[n].title,
                        "formula": CATALOGUE[n].formula,
                        "time basis": CATALOGUE[n].time_basis,
                        "which deals count": CATALOGUE[n].counts,
                        "interval": CATALOGUE[n].interval,
                        "how to read it": CATALOGUE[n].reading,
                    }
                    for n in names
                    if n in CATALOGUE
                ]
            )
            cards.write_excel(workbook, "definitions", autofit=True, freeze_panes=(1, 1))
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
