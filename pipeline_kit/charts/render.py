"""Chart output for notebooks and reports, with no network at any point.

Two modes, chosen by :func:`setup_notebook`:

- static (default): every chart is an SVG drawn by vl-convert. Stable byte for byte (nbval),
  self-contained anywhere (e-mail, PDF), no JavaScript needed.
- interactive: every chart is its Vega-Lite spec under JupyterLab's Vega-Lite MIME type, so
  JupyterLab draws it with tooltips; the report HTML inlines the Vega libraries once
  (:func:`~pipeline_kit.vega_bundle.vega_bundle`) and draws each spec in the browser. Ten
  times cheaper to produce than SVG, which is why reports use it by default.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import vl_convert as vlc

from pipeline_kit.charts.theme import THEME
from pipeline_kit.vega_bundle import VEGALITE_MIME, vega_bundle

__all__ = ["VEGALITE_MIME", "setup_notebook", "show", "to_svg", "vega_bundle"]


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


def _unvalidated_bundle(chart: alt.TopLevelMixin) -> dict | tuple[dict, dict]:
    """How IPython displays a chart when validation is off.

    The active renderer, fed a spec converted without Altair's JSON-schema check.
    """
    renderer = alt.renderers.get()
    if renderer is None:  # setup_notebook always enables one; alt.renderers.enable(None) not
        raise RuntimeError("no Altair renderer is enabled: call setup_notebook() again")
    return renderer(chart.to_dict(validate=False))


def _layer_chart_copy(
    self: alt.LayerChart, deep: bool | Any = True, ignore: list[str] | None = None
) -> alt.LayerChart:
    """``LayerChart.copy`` whose shallow copy (``deep=False``) does not rebuild the chart.

    Altair makes a shallow copy by calling the class again with the chart's properties, and
    ``LayerChart.__init__`` then lifts the layers' data, parameters and sizes to the top,
    deep-copying every layer twice on the way (and every layer of a nested layer). On a chart
    it built they are already lifted, so the result is the same chart: this copy takes its
    properties and its list of layers as they are. Altair shallow-copies a chart for every
    ``properties()``, ``resolve_scale()`` and ``to_dict()``, so a layered chart was deep-copied
    several times before it was displayed (about 0.03 s of CPU per team report). The layers
    are shared with the original, as a shallow copy shares its other properties.
    """
    if deep is not False:
        return alt.SchemaBase.copy(self, deep, ignore)
    copy = object.__new__(type(self))
    kwds = dict(self._kwds)
    if isinstance(kwds.get("layer"), list):
        kwds["layer"] = list(kwds["layer"])
    object.__setattr__(copy, "_args", self._args)
    object.__setattr__(copy, "_kwds", kwds)
    return copy


_ALTAIR_API = alt.vegalite.v6.api
_LAYERING = {  # LayerChart.__init__'s helpers that copy every layer, Altair's own
    name: getattr(_ALTAIR_API, name)
    for name in ("_remove_duplicate_params", "_combine_subchart_params")
}


def _plain_layers(layers: list[Any]) -> bool:
    """Whether ``layers`` are single-view charts without parameters (no selection)."""
    return all(
        isinstance(c, alt.Chart) and alt.utils.is_undefined(c._kwds.get("params", alt.Undefined))
        for c in layers
    )


def _remove_duplicate_params(layer: list[Any]) -> list[Any]:
    """Altair's, which deep-copies every layer to drop a parameter repeated across layers.

    Layers without parameters come back unchanged from it: here, without the copies.
    """
    if _plain_layers(layer):
        return list(layer)
    return _LAYERING["_remove_duplicate_params"](layer)


def _combine_subchart_params(params: Any, subcharts: list[Any]) -> tuple[Any, list[Any]]:
    """Altair's, which deep-copies every layer to lift their parameters to the top.

    With no parameter at the top or in single-view layers, it returns no parameter and the
    layers unchanged: here, without the copies.
    """
    if alt.utils.is_undefined(params) and _plain_layers(subcharts):
        return alt.Undefined, list(subcharts)
    return _LAYERING["_combine_subchart_params"](params, subcharts)


_SCHEMAPI = alt.utils.schemapi
_ALTAIRS_TODICT = _SCHEMAPI._todict
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _todict(obj: Any, context: dict[str, Any] | None, np_opt: Any, pd_opt: Any) -> Any:
    """Altair's spec conversion, returning a plain string, number or None as it is at once.

    Altair's returns them too, after asking each (every value of a chart's inline data) a
    series of ``isinstance`` questions, one against a runtime protocol (``inspect`` at work):
    about a third of printing a spec. Exact types only: NumPy's numbers, which subclass
    ``float``, still go through Altair's.
    """
    if type(obj) in _PLAIN:
        return obj
    return _ALTAIRS_TODICT(obj, context, np_opt, pd_opt)


_ALTAIRS_PROPERTY_CHECK = vars(_SCHEMAPI.SchemaBase)["validate_property"]


def _no_property_check(cls: type, name: str, value: Any, schema: Any = None) -> None:
    """Altair's check of a chart property against the Vega-Lite schema in ``properties()``.

    Skipped with the other schema checks (``validate=False``); it only raises on an invalid
    value, and converted the value and walked the schema for each property set.
    """


def _lean_altair(enabled: bool) -> None:
    """Charts built, copied and printed without Altair's needless work, or with it again.

    :func:`_layer_chart_copy`, :func:`_remove_duplicate_params` and
    :func:`_combine_subchart_params`: every layer of a layered chart was deep-copied about
    six times between ``alt.layer`` and its display (0.05-0.06 s of CPU per team report);
    :func:`_todict`: plain values skip Altair's type checks; :func:`_no_property_check`:
    ``properties()`` no longer checks each property against the schema. The specs are the same
    (tests/test_charts.py compares them for every chart of both reports). A layered chart
    then holds the layers it was given, not copies of them: the kit's builders never change
    a chart in place once layered.
    """
    if enabled:
        alt.LayerChart.copy = _layer_chart_copy  # type: ignore[method-assign,assignment]
        _ALTAIR_API._remove_duplicate_params = _remove_duplicate_params
        _ALTAIR_API._combine_subchart_params = _combine_subchart_params
        _SCHEMAPI._todict = _todict
        _SCHEMAPI.SchemaBase.validate_property = classmethod(_no_property_check)  # type: ignore[assignment]
        return
    if vars(alt.LayerChart).get("copy") is _layer_chart_copy:
        del alt.LayerChart.copy  # Altair's own again
    for name, altairs in _LAYERING.items():
        setattr(_ALTAIR_API, name, altairs)
    _SCHEMAPI._todict = _ALTAIRS_TODICT
    _SCHEMAPI.SchemaBase.validate_property = _ALTAIRS_PROPERTY_CHECK  # type: ignore[method-assign]


def setup_notebook(static: bool = True, *, validate: bool = True) -> None:
    """Theme on; charts display as static SVG or as interactive Vega-Lite.

    Static SVG with ``static=True`` (nbval, reports run with ``--static-charts``), interactive
    Vega-Lite with tooltips with ``static=False`` (JupyterLab, and the reports by default).
    Neither fetches anything from the network.

    ``validate=False`` skips Altair's JSON-schema checks, at creation and at display: about
    a sixth of a report's time. The report templates use it, since they display only the kit's
    own chart builders, each validated by the test suite; keep it on for charts of your own,
    whose mistakes it explains. It also skips Altair's copies of the layers of a layered
    chart, its type checks of plain values and its check of each property set with
    ``properties()`` (:func:`_lean_altair`: the same specs).
    """
    alt.theme.enable(THEME)
    alt.renderers.enable("svg" if static else "pipeline_kit")
    if validate:
        alt.utils.schemapi.enable_debug_mode()
    else:
        alt.utils.schemapi.disable_debug_mode()
    _lean_altair(not validate)
    shell = _ipython()
    if shell is not None:
        formatter = shell.display_formatter.mimebundle_formatter
        if validate:
            formatter.pop(alt.TopLevelMixin, None)
        else:
            formatter.for_type(alt.TopLevelMixin, _unvalidated_bundle)


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    return get_ipython()
