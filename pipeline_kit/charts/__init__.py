"""Altair chart builders, the pipeline_kit theme and offline (SVG) rendering.

Every builder takes the tidy output of a metric or comparison (a few rows, never raw deals),
returns an Altair chart with plain-word titles and tooltips, and returns a "no data" chart
instead of failing on empty input.
"""

from pipeline_kit.charts._base import localise, no_data, with_currency
from pipeline_kit.charts.activity import activities_vs_closes
from pipeline_kit.charts.durations import km_curves, lead_response_chart
from pipeline_kit.charts.forecast import (
    backtest_chart,
    forecast_chart,
    pit_histogram,
    reliability_diagram,
)
from pipeline_kit.charts.forest import forest_plot
from pipeline_kit.charts.money import deal_size_chart, revenue_vs_target
from pipeline_kit.charts.over_time import (
    control_chart,
    pipeline_vs_target_chart,
    seasonality_chart,
)
from pipeline_kit.charts.pipeline import (
    funnel,
    pipeline_by_stage,
    pipeline_coverage_chart,
    stage_conversion_chart,
    waterfall,
)
from pipeline_kit.charts.rates import (
    churn_chart,
    collateral_chart,
    competitor_chart,
    lost_reasons_chart,
    rep_funnel_plot,
    trend_chart,
    win_rate_by_group,
)
from pipeline_kit.charts.render import VEGALITE_MIME, setup_notebook, show, to_svg, vega_bundle
from pipeline_kit.charts.theme import PALETTE, THEME, use_theme

__all__ = [
    "PALETTE",
    "THEME",
    "VEGALITE_MIME",
    "activities_vs_closes",
    "backtest_chart",
    "churn_chart",
    "collateral_chart",
    "competitor_chart",
    "control_chart",
    "deal_size_chart",
    "forecast_chart",
    "forest_plot",
    "funnel",
    "km_curves",
    "lead_response_chart",
    "localise",
    "lost_reasons_chart",
    "no_data",
    "pipeline_by_stage",
    "pipeline_coverage_chart",
    "pipeline_vs_target_chart",
    "pit_histogram",
    "reliability_diagram",
    "rep_funnel_plot",
    "revenue_vs_target",
    "seasonality_chart",
    "setup_notebook",
    "show",
    "stage_conversion_chart",
    "to_svg",
    "trend_chart",
    "use_theme",
    "vega_bundle",
    "waterfall",
    "win_rate_by_group",
    "with_currency",
]
