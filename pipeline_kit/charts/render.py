"""Static rendering for reports: SVG through vl-convert, no network, stable output."""

from __future__ import annotations

import altair as alt
import vl_convert as vlc

from pipeline_kit.charts.theme import THEME

__all__ = ["setup_notebook", "show", "to_svg"]


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render ``chart`` (with the pipeline_kit theme) to an SVG string, offline."""
    with alt.theme.enable(THEME):
        spec = chart.to_dict()
    return vlc.vegalite_to_svg(spec)


class _SVG:
    """Minimal display object: Jupyter shows it as an inline SVG image."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg


def show(chart: alt.TopLevelMixin) -> _SVG:
    """Display ``chart`` as a static SVG (self-contained in exported HTML; stable for nbval)."""
    return _SVG(to_svg(chart))


def setup_notebook(static: bool = True) -> None:
    """Theme on; with ``static`` every chart displays as SVG (reports, nbval) instead of the
    interactive Vega-Lite view JupyterLab shows by default."""
    alt.theme.enable(THEME)
    if static:
        alt.renderers.enable("svg")
