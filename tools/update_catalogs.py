"""Update the reports' gettext catalogs (pipeline_kit/locale) from the code, with Babel.

Run from the repository root after changing a report's text::

    python tools/update_catalogs.py

The messages are

* every string marked ``_()`` or ``N_()`` in pipeline_kit (Babel's Python extractor),
* every Markdown cell of the report templates (translated whole at run time),
* the titles of the definition cards the reports show,
* the titles, axis and tooltip titles and messages of the charts the sample's team report and
  organisation summary show (collected by building them in English).

They are written to ``pipeline_kit/locale/pipeline_kit.pot``; each language's ``.po`` is
updated from it (translations kept, new messages empty, gone ones dropped).

The definition cards' texts have their own domain, ``cards`` (``cards.pot`` and each language's
``cards.po``): every field of every card of the metric catalogue and of the forecast (formula,
time basis, which deals count, interval, how to read it, each pitfall), read from the registry,
and the labels of those fields. The script prints how many messages of each language and
domain still have no translation: the tests fail on any.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline_kit.charts._base import pattern_regex  # noqa: E402
from pipeline_kit.i18n import CARDS_DOMAIN, DOMAIN, LANGUAGES, LOCALE_DIR  # noqa: E402


def chart_strings() -> set[str]:
    """The strings people read in the charts of the sample's reports, in English."""
    import altair as alt

    import pipeline_kit as pk
    from pipeline_kit.charts._base import _READ_KEYS

    ds = pk.load(ROOT / "data" / "sample")
    found: set[str] = set()

    def walk(node: object, key: str | None = None) -> None:
        if isinstance(node, str):
            if key in _READ_KEYS and node.strip():
                found.add(node)
        elif isinstance(node, alt.SchemaBase):
            for k, v in node._kwds.items():
                walk(v, k)
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)

    reports: list[object] = [
        pk.TeamReport(ds, team=ds.teams[0], period="2025-Q4"),
        pk.OrgReport(ds, period="2025-Q4"),
    ]
    for report in reports:
        for name in dir(report):
            if name.startswith("_") or not name.endswith(("chart", "section")):
                continue
            shown = getattr(report, name)()
            if isinstance(shown, alt.TopLevelMixin):
                walk(shown)
    return found


def template() -> Catalog:
    """Every message of the reports, as one catalog template."""
    from pipeline_kit.forecasting.cards import FORECAST_CARDS
    from pipeline_kit.metrics import CATALOGUE

    pot = Catalog(project="pipeline_kit", domain=DOMAIN, fuzzy=False)
    for filename, lineno, message, _comments, context in extract_from_dir(
        ROOT / "pipeline_kit",
        method_map=[("**.py", "python")],
        keywords={"_": None, "N_": None},
    ):
        pot.add(message, locations=[(f"pipeline_kit/{filename}", lineno)], context=context)
    for name in ("team_report.ipynb", "org_summary.ipynb"):
        notebook = nbformat.read(ROOT / "templates" / name, as_version=4)
        for i, cell in enumerate(notebook.cells):
            if cell.cell_type == "markdown":
                pot.add(cell.source, locations=[(f"templates/{name}", i)])
    for card in [*CATALOGUE.values(), *FORECAST_CARDS.values()]:
        pot.add(card.title, locations=[("card", 0)], auto_comments=[f"card {card.name}"])
    for text in EXTRA:
        pot.add(text, locations=[("data", 0)])
    # a chart text the report or a chart builder put together from a marked pattern ("Funnel:
    # {team}, {period}", "as of {day}") is translated by that pattern, not whole
    patterns = [pattern_regex(m.id) for m in pot if isinstance(m.id, str) and "{" in m.id]
    for text in sorted(chart_strings()):
        pieces = text.split(" · ")
        if all(p in pot or any(r.match(p) for r in patterns) for p in pieces):
            continue
        pot.add(text, locations=[("chart", 0)])
    return pot


# values the reports show from the data the kit computes: the rep funnel plot's flags
# and the categories the charts' legends show ("this team", "above", ...)
# the labels the chart builders write into the charts' data (charts._base.DATA_TEXT)
EXTRA = [
    *["above", "below", "no clear difference", "not enough data", "this team", "other"],
    *["start", "month 1", "month 2", "rest of organisation"],
    *["vs benchmark", "vs rest of organisation", "vs own past quarters"],
    *["Start", "+ Created", "- Won", "- Lost", "End"],
]


def cards_template() -> Catalog:
    """Every text of the definition cards (the ``cards`` domain), from the registry."""
    from pipeline_kit.forecasting.cards import FORECAST_CARDS
    from pipeline_kit.metrics import CATALOGUE
    from pipeline_kit.metrics.cards import LABELLED, LABELS

    pot = Catalog(project="pipeline_kit", domain=CARDS_DOMAIN, fuzzy=False)
    for label in LABELS:
        pot.add(label, locations=[("label", 0)])
    pot.add(LABELLED, locations=[("label", 0)], auto_comments=["a field's label and its text"])
    for card in [*CATALOGUE.values(), *FORECAST_CARDS.values()]:
        for text in card.messages():
            message = pot.get(text)
            if message is None:
                pot.add(text, locations=[("card", 0)], auto_comments=[f"card {card.name}"])
            elif f"card {card.name}" not in message.auto_comments:
                message.auto_comments.append(f"card {card.name}")
    return pot


def write_catalogs(pot: Catalog, domain: str) -> None:
    """Write the template of ``domain`` and update every language's catalog from it."""
    LOCALE_DIR.mkdir(exist_ok=True)
    with (LOCALE_DIR / f"{domain}.pot").open("wb") as fh:
        write_po(fh, pot, width=100, omit_header=False, sort_output=False)
    for lang in LANGUAGES:
        if lang == "en":
            continue
        po_path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
        po_path.parent.mkdir(parents=True, exist_ok=True)
        if po_path.exists():
            with po_path.open("rb") as fh:
                catalog = read_po(fh, locale=lang, domain=domain)
        else:
            catalog = Catalog(locale=lang, domain=domain, project="pipeline_kit")
        catalog.update(pot, no_fuzzy_matching=True)
        with po_path.open("wb") as fh:
            write_po(fh, catalog, width=100, ignore_obsolete=True)
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{lang} {domain}: {len(catalog) - 1} messages, {missing} without a translation")


def main() -> int:
    """Write the templates and update every language's catalogs from them."""
    write_catalogs(template(), DOMAIN)
    write_catalogs(cards_template(), CARDS_DOMAIN)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
