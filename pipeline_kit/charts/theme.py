"""The pipeline_kit Altair theme: readable type, a colour-blind-safe palette, consistent sizes.

Registered as ``"pipeline_kit"`` when this module is imported (not enabled: call
:func:`use_theme`, or let :func:`pipeline_kit.charts.to_svg` apply it to one chart).
"""

from __future__ import annotations

import altair as alt

__all__ = ["FONT", "FONTS", "PALETTE", "THEME", "font_for", "use_theme"]

THEME = "pipeline_kit"
FONT = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"
# the Chinese reports' charts: the Latin faces first, then CJK faces of the script (Simplified
# or Traditional glyph shapes) and of the other, then generic. English and Malay keep FONT, so
# their charts are drawn as before wherever a CJK font is installed (and no Latin face is).
_SC = "'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei'"
_TC = "'Noto Sans CJK TC', 'Source Han Sans TC', 'PingFang TC', 'Microsoft JhengHei'"
FONTS = {
    "zh_Hans": f"Inter, 'Segoe UI', Helvetica, Arial, {_SC}, {_TC}, sans-serif",
    "zh_Hant": f"Inter, 'Segoe UI', Helvetica, Arial, {_TC}, {_SC}, sans-serif",
}
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MUTED = "#9AA0A6"
SLATE = "#52606D"  # "no clear difference": a neutral darker than "not enough data"
INK = "#1F2933"


@alt.theme.register(THEME, enable=False)
def _pipeline_kit_theme() -> alt.theme.ThemeConfig:
    return {
        "width": 480,
        "height": {"step": 26},
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"stroke": None},
            "title": {
                "fontSize": 15,
                "fontWeight": 600,
                "anchor": "start",
                "color": INK,
                "subtitleFontSize": 12,
                "subtitleColor": "#52606D",
                "offset": 10,
            },
            "axis": {
                "labelFontSize": 12,
                "titleFontSize": 12,
                "titleFontWeight": 500,
                "labelColor": INK,
                "titleColor": INK,
                "gridColor": "#E4E7EB",
                "domainColor": "#9AA5B1",
                "tickColor": "#9AA5B1",
                "labelLimit": 220,
            },
            "axisY": {"titlePadding": 10},
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom"},
            "range": {"category": PALETTE},
            "bar": {"color": PALETTE[0]},
            "point": {"color": PALETTE[0], "filled": True, "size": 70},
            "rule": {"color": INK},
            "text": {"fontSize": 11, "color": INK},
        },
    }


def font_for(lang: str) -> str:
    """The font stack of the charts of a report in ``lang`` (CJK faces for Chinese).

    >>> font_for("en") == FONT, "Noto Sans CJK TC" in font_for("zh_Hant")
    (True, True)
    """
    return FONTS.get(lang, FONT)


def use_theme() -> None:
    """Enable the pipeline_kit theme for every chart in this session."""
    alt.theme.enable(THEME)
