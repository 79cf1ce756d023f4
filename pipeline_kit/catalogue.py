"""Every definition card the kit shows, in one lookup: the metrics and the forecast's figures.

The metric catalogue (:data:`pipeline_kit.metrics.CATALOGUE`, declared beside each metric) and
the forecast's figures (:data:`pipeline_kit.forecasting.cards.FORECAST_CARDS`) are kept where
they are computed; this module only reads both, so neither layer imports the other.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from pipeline_kit.forecasting.cards import FORECAST_CARDS
from pipeline_kit.i18n import normalise_lang
from pipeline_kit.metrics.cards import CATALOGUE, REGISTRY, MetricCard, metric_names

__all__ = ["card_names", "catalogue_table", "explain"]


def card_names() -> list[str]:
    """Names of every card: the metrics in catalogue order, then the forecast's figures."""
    return [*metric_names(), *FORECAST_CARDS]


def explain(name: str, lang: str = "en") -> MetricCard:
    """The definition card of metric or forecast figure ``name`` (renders as Markdown).

    ``lang`` ("zh-Hans", "zh-Hant", "ms") is the language it renders in (Jupyter, ``print``;
    :meth:`MetricCard.to_markdown`); its fields stay as written.

    Examples
    --------
    >>> explain("win_rate").title
    'Win rate'
    >>> explain("forecast_bookings").function
    'pipeline_kit.forecast'
    >>> str(explain("win_rate", lang="zh-Hans")).splitlines()[0]
    '赢单率 (win_rate)'
    """
    names = card_names()  # also loads every metric module
    if name in CATALOGUE:
        card = CATALOGUE[name]
    elif name in FORECAST_CARDS:
        card = FORECAST_CARDS[name]
    else:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(names)}")
    locale = normalise_lang(lang)
    return card if locale == "en" else dataclasses.replace(card, lang=locale)


def catalogue_table(family: str | None = None) -> pl.DataFrame:
    """The metric catalogue as a table: one row per metric, in catalogue order.

    Parameters
    ----------
    family
        Only this family's metrics (``"deals"``, ``"pipeline"``, ``"conversion"``,
        ``"durations"``, ``"winloss"``, ``"leads"``, ``"revenue"``, ``"activity"``,
        ``"collateral"``); None for all. ``"forecast"`` lists the forecast's figures.

    Returns
    -------
    polars.DataFrame
        ``metric``, ``family``, ``title``, ``formula``, ``time_basis`` (one word), ``unit``,
        ``interval``, ``function``.

    Examples
    --------
    >>> catalogue_table("durations")["metric"].to_list()
    ['cycle_length_km_days', 'time_in_stage_km_days']
    """
    names = card_names()
    rows = []
    for name in names:
        in_forecast = name in FORECAST_CARDS and name not in CATALOGUE
        card = FORECAST_CARDS[name] if in_forecast else CATALOGUE[name]
        fam = "forecast" if in_forecast else REGISTRY[name].family
        if family is not None and fam != family:
            continue
        rows.append(
            {
                "metric": name,
                "family": fam,
                "title": card.title,
                "formula": card.formula,
                "time_basis": card.basis,
                "unit": card.unit,
                "interval": card.interval,
                "function": card.function,
            }
        )
    if family is not None and not rows:
        families = sorted({REGISTRY[n].family for n in CATALOGUE} | {"forecast"})
        raise KeyError(f"unknown family {family!r}; known: {', '.join(families)}")
    return pl.DataFrame(rows)
