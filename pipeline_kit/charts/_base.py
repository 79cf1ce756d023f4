"""Shared pieces of the chart builders: the "no data" chart, plain data, interval layers."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, cast

import altair as alt
import polars as pl

from pipeline_kit.charts.theme import FONT, INK, MUTED, PALETTE, font_for
from pipeline_kit.formatting import Formatter
from pipeline_kit.i18n import N_, gettext, normalise_lang

__all__ = [
    "KIND_SCALE",
    "PERCENT",
    "interval_points",
    "kind_scale",
    "localise",
    "no_data",
    "pattern_regex",
    "plain",
    "reference_rule",
    "subtitle",
    "with_currency",
]

PERCENT = alt.Axis(format="%")
KIND_COLOURS = {"this team": PALETTE[3], "other": PALETTE[0], "not enough data": MUTED}
KIND_SCALE = alt.Scale(domain=list(KIND_COLOURS), range=list(KIND_COLOURS.values()))


def kind_scale(present: Iterable[str]) -> alt.Scale:
    """:data:`KIND_SCALE` limited to the kinds a chart shows, each in its one colour.

    A legend then lists no kind the chart does not draw.
    """
    shown = set(present)
    kinds = [k for k in KIND_COLOURS if k in shown]
    return alt.Scale(domain=kinds, range=[KIND_COLOURS[k] for k in kinds])


def grouped(count: pl.Expr) -> pl.Expr:
    """A non-negative whole number as text with thousands separated: 1589 -> ``"1,589"``.

    >>> pl.select(grouped(pl.lit(1589))).item(), pl.select(grouped(pl.lit(158))).item()
    ('1,589', '158')
    """
    return (
        count.cast(pl.String)
        .str.reverse()
        .str.replace_all(r"(\d{3})", "${1},")
        .str.strip_chars_end(",")
        .str.reverse()
    )


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates as ISO strings and no helper columns, so the embedded data is plain JSON."""
    keep = [c for c in frame.columns if c != "time_basis"]
    return frame.select(keep).with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String))


def no_data(title: str, message: str = N_("No data for this selection")) -> alt.Chart:
    """A small chart carrying a message, used when there is nothing to plot."""
    return (
        alt.Chart(alt.Data(values=[{"message": message}]))
        .mark_text(fontSize=14, color=MUTED)
        .encode(text=alt.Text("message:N"))
        .properties(title=title, width=480, height=80)
    )


def subtitle(title: str, text: str) -> alt.Title:
    return alt.Title(title, subtitle=text)


def interval_points(
    data: pl.DataFrame,
    *,
    y: alt.Y,
    x: str,
    low: str,
    high: str,
    x_title: str,
    x_format: str | None = None,
    color: alt.Color | str = PALETTE[0],
    tooltip: list | None = None,
    domain: list[float] | None = None,
    y_offset: alt.YOffset | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """A dot per row with a horizontal rule for its interval (the kit's standard estimate).

    ``y_offset`` separates several series sharing a row (e.g. ``alt.YOffset("who:N")``), so
    their intervals sit one above the other instead of on top of each other.
    """
    axis = alt.Axis(format=x_format) if x_format else alt.Axis()
    scale = alt.Scale(domain=domain) if domain else alt.Scale(zero=False)
    # channel objects, not "field:Q" strings: Altair converts each string through a schema
    # index it rebuilds every time (a fifth of a report's chart time)
    tips = [alt.Tooltip(t) if isinstance(t, str) else t for t in tooltip or []]
    # keyword arguments spread into encode/mark_*: a channel each, of different types
    offset: dict[str, Any] = {"yOffset": y_offset} if y_offset is not None else {}
    base = alt.Chart(data).encode(y=y, tooltip=tips, **offset)
    colour: dict[str, Any] = {"color": color} if isinstance(color, alt.Color) else {}
    mark_colour: dict[str, Any] = {} if colour else {"color": color}
    rule = base.mark_rule(strokeWidth=2, **mark_colour).encode(
        x=alt.X(f"{low}:Q", title=x_title, axis=axis, scale=scale), x2=alt.X2(f"{high}:Q"), **colour
    )
    dot = base.mark_point(filled=True, size=70, **mark_colour).encode(x=alt.X(f"{x}:Q"), **colour)
    return alt.layer(rule, dot)


def reference_rule(value: float, label: str, *, axis: str = "x") -> alt.LayerChart | alt.FacetChart:
    """A dashed reference line (benchmark, target, organisation rate) with its label."""
    data = alt.Data(values=[{"value": value, "label": label}])
    enc: dict[str, Any] = {"x": alt.X("value:Q")} if axis == "x" else {"y": alt.Y("value:Q")}
    rule = (
        alt.Chart(data)
        .mark_rule(strokeDash=[4, 3], color=INK)
        .encode(**enc, tooltip=[alt.Tooltip("value:Q", format=",.3~f"), alt.Tooltip("label:N")])
    )
    text_pos: dict[str, Any] = (
        {"align": "left", "dx": 4, "y": -6} if axis == "x" else {"align": "left", "x": 4, "dy": -6}
    )
    text = (
        alt.Chart(data)
        .mark_text(color=INK, fontSize=11, **text_pos)
        .encode(**enc, text=alt.Text("label:N"))
    )
    return alt.layer(rule, text)


def with_currency(
    chart: alt.TopLevelMixin, currency: str = "USD", lang: str = "en"
) -> alt.TopLevelMixin:
    """``chart`` with its money formats (d3's ``$`` symbol) showing ``currency`` in ``lang``.

    ``currency`` is an ISO 4217 code ("EUR", "MYR", "CNY", ...; unknown -> ValueError); the
    symbol comes from Babel ("RM" for MYR in Malay). US dollars in English leave the chart
    as it is; any other pair sets the chart's Vega number locale (``config.locale``).
    """
    fmt = Formatter(lang, currency)
    if fmt.currency == "USD" and fmt.lang == "en":
        return chart
    out: Any = cast(Any, chart).copy(deep=False)  # every top-level chart has copy and config
    config = out.config.to_dict() if isinstance(out.config, alt.Config) else {}
    config["locale"] = fmt.vega_locale()
    out.config = alt.Config.from_dict(config)
    return cast(alt.TopLevelMixin, out)


# the spec keys whose string values people read: titles (chart, axis, legend, tooltip), the
# subtitle, and the message of a "no data" chart
_READ_KEYS = frozenset({"title", "subtitle", "text", "message", "label"})
# the columns of a chart's data whose values the builders wrote for people to read: labels,
# the forest plot's rows ("win rate · vs benchmark"), the waterfall's steps, "rest of
# organisation" beside the team (values without a translation, such as names, stay)
DATA_TEXT = _READ_KEYS | {"row", "step", "scope"}


def localise(
    chart: alt.TopLevelMixin, lang: str = "en", currency: str = "USD"
) -> alt.TopLevelMixin:
    """``chart`` in ``lang``: titles, subtitles, axis, legend and tooltip titles translated.

    Also the messages and reference-line labels it carries, from the kit's gettext catalogs
    (a string without a translation stays as it is), and its amounts in ``currency``
    (:func:`with_currency`), in the language's fonts (:func:`~pipeline_kit.charts.theme.font_for`).
    English returns the chart as built (US dollars: unchanged).
    """
    chart = with_currency(chart, currency, lang)
    lang = normalise_lang(lang)
    if lang == "en":
        return chart
    out: Any = cast(Any, chart).copy(deep=True)
    _translate(out, _text_translator(lang))
    if font_for(lang) != FONT:  # Chinese: CJK faces after the Latin ones
        config = out.config.to_dict() if isinstance(out.config, alt.Config) else {}
        config["font"] = font_for(lang)
        out.config = alt.Config.from_dict(config)
    return cast(alt.TopLevelMixin, out)


# texts the chart builders put together from data: translated by their pattern
_PATTERNS = (
    N_("as of {day}"),
    N_("Spearman rho = {rho} (p = {p}, n = {n}); correlation, not cause"),
    N_("benchmark {value} h"),
    N_("Next period {period}"),
    N_("{n} deals"),
    N_("{n} deal"),
    N_("{share} advance"),
    N_("Months {window}"),
)
# the pieces of those subtitles that are fixed text
_PIECES = (
    N_("Each dot is a rep"),
    N_("stage history approximate"),
    N_("dark: weighted by stage probability"),
    N_("tick: weighted by stage probability"),
    N_("bar: 95% interval"),
)


# placeholders that stand for names (any text); the others stand for a figure (a token with
# a digit: "12", "33%", "2025-12-31", "0.95"), so "{n} deals" reads "12 deals", not "Closed deals"
_NAMES = frozenset({"team", "who", "name", "group", "title", "label", "reason", "what"})


def pattern_regex(message: str) -> re.Pattern[str]:
    """A regular expression matching ``message`` with its ``{placeholders}`` filled in.

    >>> deals = pattern_regex("{n} deals")
    >>> bool(deals.match("12 deals")), bool(deals.match("Closed deals"))
    (True, False)
    """
    seen: set[str] = set()

    def group(hit: re.Match[str]) -> str:
        name = hit.group(1)
        if name in seen:  # the same figure twice
            return f"(?P={name})"
        seen.add(name)
        return f"(?P<{name}>.+?)" if name in _NAMES else rf"(?P<{name}>[^\s]*\d[^\s]*)"

    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", group, re.escape(message)) + "$")


@functools.cache
def _text_translator(lang: str) -> Callable[[str], str]:
    """A chart text in ``lang``: whole, else piece by piece (" · "), else by its pattern."""
    _ = gettext(lang)
    patterns = [(pattern_regex(p), p) for p in _PATTERNS]

    def translate(text: str) -> str:
        if (done := _(text)) != text:
            return done
        if " · " in text:
            return " · ".join(translate(piece) for piece in text.split(" · "))
        for regex, pattern in patterns:
            if (hit := regex.match(text)) is not None:
                return _(pattern).format(**hit.groupdict())
        return text

    return translate


def _translate_legend(channel: alt.SchemaBase, _: Callable[[str], str]) -> None:
    """Legend labels of a channel whose scale lists its categories ("this team", "other").

    The categories stay as the data has them; the legend shows them translated.
    """
    legend, scale = channel._kwds.get("legend"), channel._kwds.get("scale")
    if not isinstance(legend, alt.Legend) or not isinstance(scale, alt.Scale):
        return
    domain = scale._kwds.get("domain")
    if not isinstance(domain, list) or not all(isinstance(d, str) for d in domain):
        return
    names = {d: _(d) for d in domain if _(d) != d}
    if names:
        legend.labelExpr = f"({json.dumps(names, ensure_ascii=False)})[datum.label] || datum.label"


def _translate(node: Any, _: Callable[[str], str], key: str | None = None) -> Any:
    """Translate, in place, the strings people read anywhere under ``node``."""
    if isinstance(node, str):
        return _(node) if key in _READ_KEYS else node
    if isinstance(node, pl.DataFrame):  # labels the builders wrote into the chart's data
        text = [c for c in node.columns if c in DATA_TEXT and node[c].dtype == pl.String]
        return node.with_columns(pl.col(c).map_elements(_, return_dtype=pl.String) for c in text)
    if isinstance(node, alt.SchemaBase):
        for k, v in node._kwds.items():
            if v is not alt.Undefined:
                node._kwds[k] = _translate(v, _, k)
        _translate_legend(node, _)
        return node
    if isinstance(node, dict):
        for k, v in node.items():
            node[k] = _translate(v, _, k)
        return node
    if isinstance(node, list):
        return [_translate(v, _, key) for v in node]
    return node
