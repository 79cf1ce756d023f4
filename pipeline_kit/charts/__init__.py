"""Altair chart builders, the pipeline_kit theme and offline (SVG) rendering."""

from pipeline_kit.charts.builders import no_data, pipeline_by_stage, win_rate_by_group
from pipeline_kit.charts.render import setup_notebook, show, to_svg
from pipeline_kit.charts.theme import PALETTE, THEME, use_theme

__all__ = [
    "PALETTE",
    "THEME",
    "no_data",
    "pipeline_by_stage",
    "setup_notebook",
    "show",
    "to_svg",
    "use_theme",
    "win_rate_by_group",
]
