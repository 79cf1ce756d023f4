"""Chart output for notebooks and reports, with no network at any point.

Two modes, chosen by :func:`setup_notebook`:

- static (default): every chart is an SVG drawn by vl-convert. Stable byte for byte (nbval),
  self-contained anywhere (e-mail, PDF), no JavaScript needed.
- interactive: every chart is its Vega-Lite spec under JupyterLab's Vega-Lite MIME type, so
  JupyterLab draws it with tooltips; the report HTML inlines the Vega libraries once
  (:func:`vega_bundle`) and draws each spec in the browser. Ten times cheaper to produce than
  SVG, which is why reports use it.
"""

from __future__ import annotations

import os
import re
import tempfile
from functools import cache
from pathlib import Path

import altair as alt
import vl_convert as vlc

from pipeline_kit.charts.theme import THEME

__all__ = ["VEGALITE_MIME", "setup_notebook", "show", "to_svg", "vega_bundle"]

# JupyterLab 4 renders Vega-Lite under the v5 MIME type (Altair 6 announces "v6", which it
# does not draw). Every chart of the kit compiles to the same SVG under Vega-Lite 5 and 6
# (tests/test_charts.py checks the report's charts), so the v5 type is honest.
VEGALITE_MIME = "application/vnd.vegalite.v5+json"


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


def _interactive_renderer(spec: dict, **_metadata) -> tuple[dict, dict]:
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    text = f"Chart: {title}" if isinstance(title, str) else "Chart"
    return {VEGALITE_MIME: spec, "text/plain": text}, {}


alt.renderers.register("pipeline_kit", _interactive_renderer)


def setup_notebook(static: bool = True) -> None:
    """Theme on; charts display as static SVG (``static=True``: nbval, reports run with
    ``--static-charts``) or as interactive Vega-Lite with tooltips (``static=False``: JupyterLab,
    and the reports by default). Neither fetches anything from the network."""
    alt.theme.enable(THEME)
    alt.renderers.enable("svg" if static else "pipeline_kit")


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (about 0.9 MB), safe inside ``<script>``.

    Built by vl-convert from the copies it ships (no download) and cached on disk per
    vl-convert version, since building it takes over a second.
    """
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pipeline_kit"
    path = folder / f"vega-embed-{vlc.__version__}.js"
    if path.exists():
        return path.read_text(encoding="utf-8")
    script = re.sub(r"</(script)", r"<\\/\1", vlc.javascript_bundle(), flags=re.IGNORECASE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:  # no writable cache folder: build it in every process instead
        return script
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(script)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
    return script
