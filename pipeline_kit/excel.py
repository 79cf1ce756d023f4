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
from pipeline_kit.i18n import CARDS_DOMAIN, N_, gettext, normalise_lang
from pipeline_kit.metrics.cards import CATALOGUE, LABELS, MetricCard

__all__ = [
    "NUMBER_FORMATS",
    "currency_format",
    "definitions_frame",
    "workbook_at",
    "write_metrics_workbook",
]

# how each unit's values read in Excel
NUMBER_FORMATS = {
    "share": "0.0%",
    "currency": "#,##0",
    "days": "0.0",
    "hours": "0.0",
    "count": "#,##0",
}


def currency_format(lang: str = "en", currency: str = "USD") -> str:
    """The Excel number format of amounts in ``currency``, with its symbol in ``lang``.

    English and US dollars keep the bare ``#,##0`` of :data:`NUMBER_FORMATS`; otherwise the
    symbol Babel gives (as :attr:`pipeline_kit.formatting.Formatter.symbol`) leads the number.

    >>> currency_format(), currency_format("ms", "MYR"), currency_format("zh-Hans", "CNY")
    ('#,##0', '"RM"#,##0', '"¥"#,##0')
    """
    from pipeline_kit.formatting import Formatter

    fmt = Formatter(lang, currency)
    if (fmt.lang, fmt.currency) == ("en", "USD"):
        return NUMBER_FORMATS["currency"]
    return '"' + fmt.symbol.replace('"', "") + '"' + NUMBER_FORMATS["currency"]


# the headers of the definitions table: the card's id and title, then its fields, which in
# another language take the cards catalog's labels (LABELS, without "Computed by")
_DEFINITION_COLUMNS = ("formula", "time basis", "which deals count", "interval", "how to read it")
_DEFINITION_LABELS = (LABELS[0], LABELS[1], LABELS[2], LABELS[3], LABELS[5])


def definitions_frame(
    names: list[str], cards: Mapping[str, MetricCard] = CATALOGUE, lang: str = "en"
) -> pl.DataFrame:
    """The card of each metric in ``names`` (those in ``cards``), one row each.

    ``lang`` ("zh-Hans", "zh-Hant", "ms") writes the titles from the reports' catalog, the
    fields from the ``cards`` catalog and the headers from the cards' labels, as
    :meth:`MetricCard.to_markdown` does; the metric ids stay as they are.
    """
    locale = normalise_lang(lang)
    title, text = gettext(locale), gettext(locale, CARDS_DOMAIN)
    if locale == "en":
        headers = ["metric", "title", *_DEFINITION_COLUMNS]
    else:
        headers = [title(N_("metric")), title(N_("title")), *map(text, _DEFINITION_LABELS)]
    return pl.DataFrame(
        [
            dict(
                zip(
                    headers,
                    [
                        n,
                        title(cards[n].title),
                        *(
                            text(t) if t else t
                            for t in (
                                cards[n].formula,
                                cards[n].time_basis,
                                cards[n].counts,
                                cards[n].interval,
                                cards[n].reading,
                            )
                        ),
                    ],
                    strict=True,
                )
            )
            for n in names
            if n in cards
        ]
    )


@contextmanager
def workbook_at(path: Path) -> Iterator[Any]:
    """An XlsxWriter workbook that appears at ``path`` only once it is complete.

    Written to a temporary file and renamed, so a failure leaves no partial workbook; a
    file-system error becomes a :class:`~pipeline_kit.errors.DataError`.

    Text is written as text: a CRM value such as ``=HYPERLINK(...)`` or ``=1+1`` (a team, a
    deal name) stays the string it is, never a live formula or a link (XlsxWriter turns text
    starting with ``=`` into a formula by default: spreadsheet injection).
    """
    import xlsxwriter

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    options = {"strings_to_formulas": False, "strings_to_urls": False}
    try:
        with xlsxwriter.Workbook(tmp, options) as workbook:
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


def write_metrics_workbook(frame: pl.DataFrame, path: Path, lang: str = "en") -> None:
    """Write ``frame`` (the long format of :func:`pipeline_kit.metrics_long`) to ``path``.

    Sheet ``metrics`` (one table; the value, the interval bounds and the unit side by side),
    a sheet per unit with that unit's number format, and ``definitions`` (each metric's card,
    in ``lang``: see :func:`definitions_frame`; the other sheets hold the kit's ids).
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
        definitions_frame(names, lang=lang).write_excel(
            workbook, "definitions", autofit=True, freeze_panes=(1, 1)
        )
