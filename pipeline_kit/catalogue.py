"""Every definition card the kit shows, in one lookup: the metrics and the forecast's figures.

The metric catalogue (:data:`pipeline_kit.metrics.CATALOGUE`, declared beside each metric) and
the forecast's figures (:data:`pipeline_kit.forecasting.cards.FORECAST_CARDS`) are kept where
they are computed; this module only reads both, so neither layer imports the other.
"""

from __future__ import annotations

from pipeline_kit.forecasting.cards import FORECAST_CARDS
from pipeline_kit.metrics.cards import CATALOGUE, MetricCard, metric_names

__all__ = ["card_names", "explain"]


def card_names() -> list[str]:
    """Names of every card: the metrics in catalogue order, then the forecast's figures."""
    return [*metric_names(), *FORECAST_CARDS]


def explain(name: str) -> MetricCard:
    """The definition card of metric or forecast figure ``name`` (renders as Markdown).

    Examples
    --------
    >>> explain("win_rate").title
    'Win rate'
    >>> explain("forecast_bookings").function
    'pipeline_kit.forecast'
    """
    names = card_names()  # also loads every metric module
    if name in CATALOGUE:
        return CATALOGUE[name]
    if name in FORECAST_CARDS:
        return FORECAST_CARDS[name]
    raise KeyError(f"unknown metric {name!r}; known: {', '.join(names)}")
