"""Generate the README's reference sections from the code, so they cannot drift.

``python -m pipeline_kit.docs README.md`` rewrites the text between the markers
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` for ``metrics`` (the
definition cards) and ``tables`` (the canonical tables). ``tests/test_docs.py`` fails when the
README is out of date.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline_kit.metrics import CATALOGUE
from pipeline_kit.schema import TABLES


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


def tables_reference() -> str:
    """Markdown table of the canonical tables: required and optional columns with types."""
    lines = ["| table | required columns | optional columns |", "|---|---|---|"]
    for name, schema in TABLES.items():
        cols = {c: col for c, col in schema.columns().items() if c != "source_row"}
        req = ", ".join(f"`{c}`" for c, col in cols.items() if not col.nullable)
        opt = ", ".join(f"`{c}`" for c, col in cols.items() if col.nullable) or "–"
        lines.append(f"| `{name}` | {req} | {opt} |")
    return "\n".join(lines)


SECTIONS = {"metrics": metrics_reference, "tables": tables_reference}


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
