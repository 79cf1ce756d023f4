"""Metric functions: pure functions over a Dataset returning tidy polars frames.

One module per family: :mod:`.deals` (flow over a period), :mod:`.pipeline` (snapshots as of a
date); :mod:`.catalogue` holds the definition cards and the CLI's long format.
"""

from pipeline_kit.metrics.catalogue import (
    CATALOGUE,
    MetricCard,
    explain,
    metric_names,
    metrics_long,
)
from pipeline_kit.metrics.conversion import stage_conversion
from pipeline_kit.metrics.deals import cycle_length, deal_flow, win_rate, won_deal_size
from pipeline_kit.metrics.durations import cycle_length_km
from pipeline_kit.metrics.pipeline import open_pipeline

__all__ = [
    "CATALOGUE",
    "MetricCard",
    "cycle_length",
    "cycle_length_km",
    "deal_flow",
    "explain",
    "metric_names",
    "metrics_long",
    "open_pipeline",
    "stage_conversion",
    "win_rate",
    "won_deal_size",
]
