"""The metric registry: each metric declared once, beside the function that computes it.

A declaration (:func:`declare`, at the bottom of each metric module) joins the metric's
:class:`MetricCard` (formula, time basis, which deals count, interval, how to read it,
pitfalls), the function that computes it, the dataframely schema of that function's output
frame and how its rows are made in the long format. Everything else reads the registry:
``pipeline_kit.explain("win_rate")``, :func:`metric_names`, the long CSV
(:func:`pipeline_kit.metrics_long`), the README's metric reference, the reports' methodology
appendix and the teaching notebooks. Adding a metric = one function + its output schema + one
declaration + tests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dataframely as dy
import polars as pl

from pipeline_kit.i18n import CARDS_DOMAIN, gettext, normalise_lang

__all__ = [
    "CATALOGUE",
    "CLOSED_IN",
    "COHORT",
    "LABELLED",
    "LABELS",
    "LEADS",
    "REGISTRY",
    "SNAPSHOT",
    "Metric",
    "MetricCard",
    "declare",
    "explain",
    "metric_names",
    "metric_titles",
]


# The labels of a card's fields and how a label joins its text: messages of the cards catalog
LABELS = (
    "Formula",
    "Time basis",
    "Which deals count",
    "Interval",
    "Computed by",
    "How to read it",
    "Pitfalls",
    "Several pipelines",
)
LABELLED = "{label}: {text}"


@dataclass(frozen=True)
class MetricCard:
    """What a metric means, written once and shown everywhere it is used."""

    name: str
    title: str
    formula: str
    time_basis: str  # "period", "snapshot" or "cohort", with what that means here
    counts: str  # which deals count
    interval: str
    unit: str  # share, currency, days, count
    pitfalls: tuple[str, ...]
    function: str  # the pipeline_kit function that computes it
    reading: str = ""  # how to read it: what a high or low value says and what to look at next
    pipelines: str = ""  # what the figure does when the deals are in several pipelines
    lang: str = dataclasses.field(default="en", compare=False, repr=False)
    """The language the card renders in (Jupyter, ``print``): ``explain(name, lang=...)``."""

    @property
    def basis(self) -> str:
        """The time basis in one word: period, snapshot or cohort."""
        return self.time_basis.split(" ")[0].strip(":,;")

    def to_markdown(self, lang: str | None = None, pipelines: bool = True) -> str:
        """The card as Markdown (used in reports, notebooks and the README).

        ``lang`` ("zh-Hans", "zh-Hant", "ms"; default: the card's :attr:`lang`, English
        unless it came from ``explain(name, lang=...)``) writes it in that language: the title
        from the reports' catalog, the fields and their labels from the ``cards`` catalog
        (``pipeline_kit/locale/<lang>/LC_MESSAGES/cards.po``); the metric id and the function
        stay as they are. English is the card as written. ``pipelines=False`` leaves out the
        line on several pipelines (a report on data with one pipeline).
        """
        locale = normalise_lang(self.lang if lang is None else lang)
        _ = gettext(locale, CARDS_DOMAIN)

        def field(label: str, text: str) -> str:
            return "- " + _(LABELLED).format(label=_(label), text=text)

        lines = [
            f"**{gettext(locale)(self.title)}** (`{self.name}`)",
            "",
            field(LABELS[0], _(self.formula)),
            field(LABELS[1], _(self.time_basis)),
            field(LABELS[2], _(self.counts)),
            field(LABELS[3], _(self.interval)),
            field(LABELS[4], f"`{self.function}`"),
        ]
        if self.reading:
            lines.append(field(LABELS[5], _(self.reading)))
        if self.pipelines and pipelines:
            lines.append(field(LABELS[7], _(self.pipelines)))
        if self.pitfalls:
            joiner = "" if locale.startswith("zh") else " "  # Chinese sentences need no space
            lines.append(field(LABELS[6], joiner.join(_(p) for p in self.pitfalls)))
        return "\n".join(lines)

    def messages(self) -> list[str]:
        """The card's texts its translations are made of (the ``cards`` catalog), in order."""
        texts = [
            *(self.formula, self.time_basis, self.counts, self.interval, self.reading),
            self.pipelines,
        ]
        return [t for t in [*texts, *self.pitfalls] if t]

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown().replace("**", "").replace("`", "")


# Phrases the cards share (which deals count, what a time basis means here)
WILSON = (
    "Wilson score 95%, modified near 0 and 1: on a side with 1 or 2 deals (up to 3 when n > 50), "
    "Garwood's exact Poisson bound"
)
CLOSED_IN = "deals whose closed_at falls in the period (both ends included)"
SNAPSHOT = (
    "snapshot at as_of (default: the period's last day), rebuilt from stage_history; "
    "approximate when the history was derived from the deals"
)
COHORT = (
    "cohort: deals created in the period, outcomes read at as_of (default: last date in the data)"
)
LEADS = (
    "cohort: leads created in the period, outcomes read at as_of (default: last date in the data)"
)

PER_PIPELINE = (
    "when the deals are in more than one pipeline (`deals.pipeline`), one row per pipeline and "
    "stage even when `by` does not name the pipeline: stage order means something within one "
    "pipeline only, so stages of different pipelines are never pooled or ranked together"
)

# The families in catalogue order (the README, explain() and the long CSV list metrics so)
FAMILIES = (
    "deals",
    "pipeline",
    "conversion",
    "durations",
    "winloss",
    "leads",
    "revenue",
    "activity",
    "collateral",
)


@dataclass(frozen=True)
class Metric:
    """A declared metric: its card, its function, its output schema and its long format.

    The public ``function`` computing it (flow and cohort metrics:
    ``function(ds, period, *, by=None, as_of=None)``; snapshots:
    ``function(ds, as_of, *, by=None)``); ``output``, the dataframely schema of that
    function's frame (the columns it always has; the ``by`` columns come first, or where
    the function's docstring says); and the function giving its rows in the long format
    (``long(ds, period, as_of, groups) -> list of frames``; metrics computed together share
    one, which then runs once).
    """

    card: MetricCard
    function: Callable[..., pl.DataFrame]
    output: type[dy.Schema]
    long: Callable[..., Any]
    family: str


REGISTRY: dict[str, Metric] = {}
CATALOGUE: dict[str, MetricCard] = {}


def declare(
    card: MetricCard,
    *,
    function: Callable[..., pl.DataFrame],
    output: type[dy.Schema],
    long: Callable[..., Any],
) -> MetricCard:
    """Register ``card`` with its function, ``output`` schema and long-format function.

    ``function`` computes the metric and ``output`` is that function's schema. One
    declaration per metric: a second declaration of a name is an error, and so is a card
    naming another function than ``function``.
    """
    if card.name in REGISTRY:
        raise ValueError(f"metric {card.name!r} is declared twice")
    if not card.reading:
        raise ValueError(f"metric {card.name!r} has no 'how to read it'")
    if card.function != f"pipeline_kit.{function.__name__}":
        raise ValueError(
            f"metric {card.name!r}: its card names {card.function} but it is declared with "
            f"{function.__module__}.{function.__name__}"
        )
    family = long.__module__.rsplit(".", 1)[-1]
    REGISTRY[card.name] = Metric(card, function, output, long, family)
    ordered = sorted(
        REGISTRY.values(),
        key=lambda m: FAMILIES.index(m.family) if m.family in FAMILIES else len(FAMILIES),
    )  # stable: declaration order within a family
    CATALOGUE.clear()
    CATALOGUE.update((m.card.name, m.card) for m in ordered)
    return card


def _loaded() -> None:
    """Import every metric module, so that the registry is complete."""
    import pipeline_kit.metrics  # noqa: F401


def metric_names() -> list[str]:
    """Names of every metric in the catalogue, in catalogue order."""
    _loaded()
    return list(CATALOGUE)


def metric_titles(names: list[str]) -> dict[str, str]:
    """Each catalogued metric's card title (``"Win rate"``), by name; others are left out.

    The one label of a metric wherever a table or chart names it (a translation is the
    title's, through the catalogue).
    """
    _loaded()
    return {n: CATALOGUE[n].title for n in names if n in CATALOGUE}


def explain(name: str) -> MetricCard:
    """The definition card of metric ``name`` (renders as Markdown in Jupyter).

    ``pk.explain`` (:func:`pipeline_kit.catalogue.explain`) also knows the forecast's figures.
    """
    _loaded()
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(CATALOGUE)}") from None
