"""Metric functions: pure functions over a Dataset returning tidy polars frames.

One module per family: :mod:`.deals` (flow over a period and cohorts), :mod:`.pipeline`
(snapshots as of a date, waterfall, coverage), :mod:`.conversion` (stage conversion),
:mod:`.durations` (Kaplan-Meier), :mod:`.leads`, :mod:`.revenue`, :mod:`.activity`,
:mod:`.collateral`, :mod:`.winloss`; :mod:`.cards` holds the definition cards and
:mod:`.long_format` the CLI's long format.
"""

from pipeline_kit.metrics.activity import (
    activities_per_rep,
    calls_per_deal_by_industry,
    calls_vs_closes,
)
from pipeline_kit.metrics.cards import CATALOGUE, MetricCard, explain, metric_names
from pipeline_kit.metrics.collateral import collateral_win_rates, unused_content
from pipeline_kit.metrics.conversion import stage_conversion, stage_conversion_control
from pipeline_kit.metrics.deal_lists import deal_list
from pipeline_kit.metrics.deals import (
    close_rate,
    cycle_length,
    deal_flow,
    deal_size_distribution,
    velocity,
    win_rate,
    win_rate_alternatives,
    won_deal_size,
)
from pipeline_kit.metrics.durations import cycle_length_curve, cycle_length_km, time_in_stage_km
from pipeline_kit.metrics.leads import lead_funnel, lead_response_time, lead_time_to_win
from pipeline_kit.metrics.long_format import metrics_long
from pipeline_kit.metrics.needed import needed_for_target
from pipeline_kit.metrics.pipeline import (
    open_pipeline,
    pipeline_coverage,
    pipeline_waterfall,
    slipped_deals,
    stalled_deals,
)
from pipeline_kit.metrics.revenue import (
    bookings_vs_target,
    cac,
    churn,
    churn_reasons,
    clv,
    customer_retention,
)
from pipeline_kit.metrics.trend import (
    period_over_period,
    pipeline_vs_target,
    quarterly_trend,
    seasonality,
)
from pipeline_kit.metrics.winloss import (
    competitor_win_rates,
    lost_reasons,
    lost_reasons_by_stage,
)

__all__ = [
    "CATALOGUE",
    "MetricCard",
    "activities_per_rep",
    "bookings_vs_target",
    "cac",
    "calls_per_deal_by_industry",
    "calls_vs_closes",
    "churn",
    "churn_reasons",
    "close_rate",
    "clv",
    "collateral_win_rates",
    "competitor_win_rates",
    "customer_retention",
    "cycle_length",
    "cycle_length_curve",
    "cycle_length_km",
    "deal_flow",
    "deal_list",
    "deal_size_distribution",
    "explain",
    "lead_funnel",
    "lead_response_time",
    "lead_time_to_win",
    "lost_reasons",
    "lost_reasons_by_stage",
    "metric_names",
    "metrics_long",
    "needed_for_target",
    "open_pipeline",
    "period_over_period",
    "pipeline_coverage",
    "pipeline_vs_target",
    "pipeline_waterfall",
    "quarterly_trend",
    "seasonality",
    "slipped_deals",
    "stage_conversion",
    "stage_conversion_control",
    "stalled_deals",
    "time_in_stage_km",
    "unused_content",
    "velocity",
    "win_rate",
    "win_rate_alternatives",
    "won_deal_size",
]
