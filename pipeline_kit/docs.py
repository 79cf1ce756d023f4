"""Generate the README's reference sections from the code, so they cannot drift.

``python -m pipeline_kit.docs README.md`` rewrites the text between the markers
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` for ``metrics`` (the
definition cards), ``outputs`` (the columns of each metric function's frame, from its declared
schema), ``forecast`` (the forecast's figures) and ``tables`` (the canonical tables).
``tests/test_docs.py`` fails when the README is out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import dataframely as dy

from pipeline_kit.metrics import CATALOGUE
from pipeline_kit.metrics.cards import REGISTRY
from pipeline_kit.schema import FILLED_WHEN_ABSENT, TABLES, optional_columns, required_columns


def metrics_reference() -> str:
    """Markdown table of every metric card."""
    lines = [
        "| metric | formula | time basis | which deals count | interval |",
        "|---|---|---|---|---|",
    ]
    for card in CATALOGUE.values():
        lines.append(
            f"| `{card.name}` | {card.formula} | {card.basis} | {card.counts} | {card.interval} |"
        )
    return "\n".join(lines)


def _column(name: str, column: dy.Column) -> str:
    dtype = str(column.dtype).lower().replace("boolean", "bool").replace("float64", "float")
    dtype = dtype.replace("int64", "int").replace("string", "str")
    return f"`{name}` {dtype}{'?' if column.nullable else ''}"


def outputs_reference() -> str:
    """Markdown table of the columns of each declared metric function's frame.

    The columns after the ``by`` columns, from its output schema; ``?`` marks a column that
    may be null.
    """
    lines = ["| function | metrics | output columns (after the `by` columns) |", "|---|---|---|"]
    functions: dict[str, list[str]] = {}
    outputs: dict[str, type[dy.Schema]] = {}
    for metric in (REGISTRY[name] for name in CATALOGUE):  # in catalogue order
        functions.setdefault(metric.function.__name__, []).append(metric.card.name)
        outputs[metric.function.__name__] = metric.output
    for name, metrics in functions.items():
        columns = ", ".join(_column(c, col) for c, col in outputs[name].columns().items())
        lines.append(f"| `{name}` | {', '.join(metrics)} | {columns} |")
    return "\n".join(lines)


def tables_reference() -> str:
    """Markdown table of the canonical tables: required and optional columns with types."""
    lines = ["| table | required columns | optional columns |", "|---|---|---|"]
    for name, schema in TABLES.items():
        cols = {c: col for c, col in schema.columns().items() if c != "source_row"}
        # (a required column whose cells may be empty is marked ?: a deal's amount)
        # (one the loader fills when the file lacks it is marked *: a deal's owner)
        filled = FILLED_WHEN_ABSENT.get(name, ())
        req = ", ".join(
            f"`{c}`" + ("?" if col.nullable else "") + ("*" if c in filled else "")
            for c, col in cols.items()
            if c in required_columns(name)
        )
        opt = ", ".join(f"`{c}`" for c in optional_columns(name)) or "–"
        lines.append(f"| `{name}` | {req} | {opt} |")
    return "\n".join(lines)


def forecast_reference() -> str:
    """Markdown table of the forecast's figures (their definition cards)."""
    from pipeline_kit.forecasting.cards import FORECAST_CARDS

    lines = [
        "| figure | formula | time basis | which deals count | interval |",
        "|---|---|---|---|---|",
    ]
    for card in FORECAST_CARDS.values():
        lines.append(
            f"| `{card.name}` | {card.formula} | {card.time_basis} | {card.counts} | "
            f"{card.interval} |"
        )
    return "\n".join(lines)


SECTIONS = {
    "forecast": forecast_reference,
    "metrics": metrics_reference,
    "outputs": outputs_reference,
    "tables": tables_reference,
}


def render(text: str) -> str:
    """``text`` with every generated section replaced by its current content."""
    for name, build in SECTIONS.items():
        pattern = re.compile(
            rf"(<!-- BEGIN GENERATED: {name} -->\n)(?:.*?\n)?(<!-- END GENERATED: {name} -->)", re.S
        )

        def fill(m: re.Match[str], build: Callable[[], str] = build) -> str:
            return m.group(1) + build() + "\n" + m.group(2)

        text = pattern.sub(fill, text)
    return text


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(render(path.read_text()))
    print(f"updated {path}")
