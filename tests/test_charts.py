"""Chart builders: spec assertions per builder, offline SVG rendering on the sample and on empty
input, and spec size that does not grow with the number of deals."""

from __future__ import annotations

import json
import re

import altair as alt
import polars as pl
import pytest
import vl_convert as vlc

import pipeline_kit as pk
from pipeline_kit import charts
from pipeline_kit.comparisons import funnel_limits_curve

P = "2025-Q4"


def _reps(ds):
    reps = pk.rep_win_rates(ds, P)
    if reps.height == 0:
        return charts.rep_funnel_plot(reps)  # limits computed from reps when omitted
    return charts.rep_funnel_plot(reps, funnel_limits_curve(reps["org_rate"][0], 40))


def _acts(ds):
    return charts.activities_vs_closes(pk.calls_vs_closes(ds, P))


# name -> (builder over a dataset, words of the title, marks, fields encoded)
CASES = {
    "pipeline_by_stage": (
        lambda ds: charts.pipeline_by_stage(pk.open_pipeline(ds, period=P)),
        "Open pipeline",
        {"bar", "text"},
        {"open_value", "stage"},
    ),
    "funnel": (
        lambda ds: charts.funnel(pk.stage_conversion(ds, P)),
        "Funnel",
        {"bar", "text"},
        {"entered", "stage"},
    ),
    "stage_conversion": (
        lambda ds: charts.stage_conversion_chart(pk.stage_conversion(ds, "2025-Q2")),
        "Stage conversion",
        {"rule", "point"},
        {"conversion", "ci_low", "ci_high"},
    ),
    "km_curves": (
        lambda ds: charts.km_curves(pk.cycle_length_curve(ds, "2025-Q2", by="team"), "team"),
        "still open",
        {"area", "line", "rule"},
        {"days", "still_open", "low", "high"},
    ),
    "deal_size": (
        lambda ds: charts.deal_size_chart(pk.deal_size_distribution(ds, "2025", by="team"), "team"),
        "deal sizes",
        {"line"},
        {"mid", "share"},
    ),
    "forest": (
        lambda ds: charts.forest_plot(pk.compare(ds, P).filter(pl.col("team") == "SMB")),
        "benchmarks",
        {"rule", "point"},
        {"rel", "rel_ci_low", "rel_ci_high", "direction"},
    ),
    "trend": (
        lambda ds: charts.trend_chart(pk.quarterly_trend(ds, end=P), title="Win rate by quarter"),
        "quarter",
        {"area", "line"},
        {"estimate", "ci_low", "ci_high", "period"},
    ),
    "rep_funnel": (_reps, "Reps", {"line", "point", "rule"}, {"n", "rate"}),
    "lost_reasons": (
        lambda ds: charts.lost_reasons_chart(pk.lost_reasons(ds, P)),
        "lost",
        {"rule", "point"},
        {"share", "lost_reason"},
    ),
    "competitors": (
        lambda ds: charts.competitor_chart(pk.competitor_win_rates(ds, P)),
        "competitor",
        {"rule", "point"},
        {"win_rate", "competitor"},
    ),
    "waterfall": (
        lambda ds: charts.waterfall(pk.pipeline_waterfall(ds, P)),
        "waterfall",
        {"bar"},
        {"low", "high", "step"},
    ),
    "lead_response": (
        lambda ds: charts.lead_response_chart(pk.lead_response_time(ds, P, by="team"), "team"),
        "response",
        {"rule", "point"},
        {"median_hours"},
    ),
    "activities": (_acts, "Calls", {"point"}, {"calls", "won_deals"}),
    "collateral": (
        lambda ds: charts.collateral_chart(pk.collateral_win_rates(ds, "2025")),
        "Collateral",
        {"rule", "point"},
        {"rate", "naive_win_rate_without"},
    ),
    "churn": (
        lambda ds: charts.churn_chart(pk.churn(ds, "2025", by="team")),
        "churn",
        {"rule", "point"},
        {"churn_rate"},
    ),
    "revenue": (
        lambda ds: charts.revenue_vs_target(pk.bookings_vs_target(ds, P, by="team")),
        "target",
        {"bar", "tick"},
        {"amount", "target"},
    ),
    "coverage": (
        lambda ds: charts.pipeline_coverage_chart(pk.pipeline_coverage(ds, "2025-Q3", by="team")),
        "coverage",
        {"bar", "tick", "rule"},
        {"coverage", "weighted_coverage"},
    ),
    "pipeline_vs_target": (
        lambda ds: charts.pipeline_vs_target_chart(pk.pipeline_vs_target(ds, P)),
        "target",
        {"bar", "tick", "point", "rule"},
        {"coverage", "due_coverage", "attainment"},
    ),
    "control_chart": (
        lambda ds: charts.control_chart(pk.stage_conversion_control(ds, P)),
        "control limits",
        {"bar", "tick", "point"},
        {"conversion", "lcl", "ucl", "centre"},
    ),
    "seasonality": (
        lambda ds: charts.seasonality_chart(pk.seasonality(ds, P)),
        "calendar month",
        {"rule", "point"},
        {"created_per_month", "created_ci_low", "created_ci_high"},
    ),
    "win_rate": (
        lambda ds: charts.win_rate_by_group(pk.win_rate(ds, P, by="team"), "team", benchmark=0.28),
        "Win rate",
        {"rule", "point", "text"},
        {"win_rate", "ci_low", "ci_high"},
    ),
}


def _walk(spec: dict):
    """Every (sub)spec of a layered chart."""
    yield spec
    for child in spec.get("layer", []):
        yield from _walk(child)


def _marks(spec: dict) -> set[str]:
    out = set()
    for s in _walk(spec):
        mark = s.get("mark")
        if mark:
            out.add(mark if isinstance(mark, str) else mark["type"])
    return out


def _fields(spec: dict) -> set[str]:
    out = set()
    for s in _walk(spec):
        for channel in s.get("encoding", {}).values():
            if isinstance(channel, dict) and "field" in channel:
                out.add(channel["field"])
    return out


def _rows(spec: dict) -> int:
    return sum(len(v) for v in spec.get("datasets", {}).values())


def _title(spec: dict) -> str:
    title = spec.get("title", "")
    return title if isinstance(title, str) else title.get("text", "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_builder_spec_and_offline_svg(sample, name):
    build, title, marks, fields = CASES[name]
    chart = build(sample)
    spec = chart.to_dict()
    assert title.lower() in _title(spec).lower()
    assert marks <= _marks(spec), _marks(spec)
    assert fields <= _fields(spec), _fields(spec)
    assert 0 < _rows(spec) <= 2_000  # aggregated input only, never raw deals
    # every chart shows a tooltip on its data marks: at least one layer (or the single view)
    # carries a tooltip encoding
    views = [v for v in _walk(spec) if "encoding" in v and v.get("mark") not in ("text",)]
    assert any("tooltip" in v["encoding"] for v in views), name
    svg = charts.to_svg(chart)
    assert svg.startswith("<svg") and "http" not in svg.replace("http://www.w3.org", "")
    # Interactive output is announced under JupyterLab's Vega-Lite 5 MIME type: the chart must
    # draw the same under Vega-Lite 5 as under the 6 it was written for.
    with alt.theme.enable(charts.THEME):
        themed = chart.to_dict()
    assert vlc.vegalite_to_svg(themed, vl_version="5.20") == svg, "differs under Vega-Lite 5"


@pytest.mark.parametrize("name", sorted(CASES))
def test_builder_on_empty_input_says_no_data(tmp_path_factory, name):
    empty = _empty_dataset(tmp_path_factory)
    svg = charts.to_svg(CASES[name][0](empty))
    assert svg.startswith("<svg") and ("No " in svg or "Nothing" in svg), name


_EMPTY: list[pk.Dataset] = []


def _empty_dataset(tmp_path_factory) -> pk.Dataset:
    """Every table present with its header and no rows."""
    if not _EMPTY:
        folder = tmp_path_factory.mktemp("empty")
        for name, frame in pk.synthetic.generate(200, seed=3).items():
            frame.head(0).write_csv(folder / f"{name}.csv")
        _EMPTY.append(pk.load(folder))
    return _EMPTY[0]


def test_deal_size_single_group_is_a_histogram(sample):
    spec = charts.deal_size_chart(pk.deal_size_distribution(sample, "2025")).to_dict()
    assert _marks(spec) == {"bar"} and {"bin_low", "bin_high", "share"} <= _fields(spec)


def test_interactive_tooltips(sample):
    spec = charts.win_rate_by_group(pk.win_rate(sample, P, by="team"), "team").to_dict()
    tooltips = [s["encoding"]["tooltip"] for s in _walk(spec) if "tooltip" in s.get("encoding", {})]
    assert any({t["field"] for t in tip} >= {"win_rate", "n"} for tip in tooltips)


def test_interactive_output_is_a_vega_lite_bundle_jupyterlab_draws(sample):
    chart = charts.funnel(pk.stage_conversion(sample, P))
    charts.setup_notebook(static=False)
    try:
        bundle, _ = chart._repr_mimebundle_()
    finally:
        charts.setup_notebook()
    assert set(bundle) == {charts.VEGALITE_MIME, "text/plain"}
    assert charts.VEGALITE_MIME == "application/vnd.vegalite.v5+json"
    assert bundle["text/plain"].startswith("Chart: Funnel")
    assert bundle[charts.VEGALITE_MIME]["config"]["font"].startswith("Inter")  # themed


def test_vega_bundle_is_offline_and_safe_inline():
    script = charts.vega_bundle()
    assert 500_000 < len(script) < 2_000_000
    assert "window.vegaEmbed=" in script
    assert "</script" not in script.lower()
    assert not re.search(r"""(import|from)\s*["']https?://""", script), "no remote imports"


def test_spec_size_does_not_grow_with_deals(tmp_path):
    pk.synthetic.write(tmp_path, 100_000, seed=5, fmt="parquet")
    big = pk.load(tmp_path)
    for name in ("pipeline_by_stage", "funnel", "deal_size", "waterfall", "win_rate", "trend"):
        size = len(json.dumps(CASES[name][0](big).to_dict()))
        assert size < 60_000, (name, size)


def test_theme_is_registered_and_colour_blind_safe():
    import altair as alt

    assert charts.THEME in alt.theme.names()
    assert charts.PALETTE[:3] == ["#0072B2", "#E69F00", "#009E73"]  # Okabe-Ito


def test_reports_display_charts_without_schema_checks_and_notebooks_with_them(sample):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    chart = charts.funnel(pk.stage_conversion(sample, P))
    try:
        charts.setup_notebook(static=False, validate=False)
        assert not alt.utils.schemapi.DEBUG_MODE
        bundle, _ = shell.display_formatter.format(chart)
        assert bundle[charts.VEGALITE_MIME] == chart.to_dict()  # same spec, unchecked
        charts.setup_notebook(static=True, validate=False)
        bundle, _ = shell.display_formatter.format(chart)
        assert bundle["image/svg+xml"].startswith("<svg")
        charts.setup_notebook()
        assert alt.utils.schemapi.DEBUG_MODE
        assert alt.TopLevelMixin not in shell.display_formatter.mimebundle_formatter.type_printers
        bundle, _ = shell.display_formatter.format(chart)
        assert bundle["image/svg+xml"].startswith("<svg")
    finally:
        charts.setup_notebook()
        InteractiveShell.clear_instance()


def test_builders_pass_channel_objects_not_shorthand_strings(sample, monkeypatch):
    """Altair turns each "field:Q" string into a channel through a converter that re-indexes
    the whole Vega-Lite schema on every call (about a fifth of a report's chart time); the
    builders pass alt.X(...), alt.Tooltip(...) instead."""
    from altair.utils import schemapi

    built: list[int] = []
    init = schemapi._FromDict.__init__

    def counting_init(self, classes, /):
        built.append(1)
        init(self, classes)

    monkeypatch.setattr(schemapi._FromDict, "__init__", counting_init)
    with schemapi.debug_mode(False):  # as in the report kernels
        for build, *_ in CASES.values():
            build(sample).to_dict(validate=False)
    assert built == []
    alt.Chart(pl.DataFrame({"a": [1]})).mark_point().encode(x="a:Q")  # the spy itself works
    assert built


def test_cheap_layer_copies_give_the_same_specs(sample):
    """Report kernels (``setup_notebook(validate=False)``) layer, copy and print charts without
    Altair's copies of unchanged layers and its checks of plain values (``render._lean_altair``);
    every spec must be the one Altair's own code gives: each builder's chart, the same with
    properties set after layering, localised (a deep copy) and every chart of a team report and
    of the organisation summary, in English and in Chinese with euros."""
    import jsonschema
    from altair.utils import schemapi
    from altair.vegalite.v6 import api

    altairs = (api._remove_duplicate_params, api._combine_subchart_params, schemapi._todict)

    def built() -> dict[str, alt.TopLevelMixin]:
        out = {name: build(sample) for name, (build, *_) in CASES.items()}
        out |= {f"{n} sized": c.properties(width=333) for n, c in list(out.items())}
        out |= {f"{n} zh": charts.localise(c, "zh-Hans", "EUR") for n, c in list(out.items())}
        for lang, currency in (("en", "USD"), ("zh-Hans", "EUR")):
            for report in (
                pk.TeamReport(sample, team="EMEA", period=P, lang=lang, currency=currency),
                pk.OrgReport(sample, period=P, lang=lang, currency=currency),
            ):
                for name in dir(report):
                    if name.endswith("_chart") and not name.startswith("_"):
                        chart = getattr(report, name)()
                        if isinstance(chart, alt.TopLevelMixin):
                            out[f"{type(report).__name__} {name} {lang}"] = chart
        return out

    def specs(charts_: dict[str, alt.TopLevelMixin]) -> dict[str, str]:
        return {n: json.dumps(c.to_dict(validate=False)) for n, c in charts_.items()}

    try:
        charts.setup_notebook(static=False)  # the kit's theme, Altair's own copies
        with schemapi.debug_mode(False):
            reference = specs(built())
        assert sum(isinstance(c, alt.LayerChart) for c in built().values()) >= 20
        charts.setup_notebook(static=False, validate=False)
        assert "copy" in vars(alt.LayerChart)
        assert api._remove_duplicate_params is not altairs[0]
        assert schemapi._todict is not altairs[2]
        assert specs(built()) == reference
    finally:
        charts.setup_notebook()
    assert "copy" not in vars(alt.LayerChart)  # Altair's own again
    assert (api._remove_duplicate_params, api._combine_subchart_params, schemapi._todict) == altairs
    with pytest.raises(jsonschema.ValidationError):  # properties() checks values again
        alt.Chart().mark_point().properties(width="wide")


def test_pipeline_labels_say_deal_or_deals_with_thousands_grouped():
    frame = pl.DataFrame(
        {
            "stage": ["A", "B", "C"],
            "stage_order": [1, 2, 3],
            "open_deals": [0, 1, 1589],
            "open_value": [0.0, 10.0, 20.0],
            "weighted_value": [0.0, 5.0, 10.0],
        }
    )
    spec = pk.charts.pipeline_by_stage(frame).to_dict()
    labels = {v["stage"]: v["label"] for v in next(iter(spec["datasets"].values()))}
    assert labels == {"A": "0 deals", "B": "1 deal", "C": "1,589 deals"}


def test_a_waterfall_step_without_any_amount_gives_a_message_not_a_type_error():
    """The lost step's deals all lack an amount (the Salesforce sample export): its value is
    unknown (null), so no bars that would not add up; it was a TypeError."""
    frame = pl.DataFrame(
        {
            "start": [0.0],
            "created": [2000.0],
            "won": [0.0],
            "lost": [None],
            "moved": [0.0],
            "end": [1500.0],
            "start_deals": [0],
            "created_deals": [20],
            "won_deals": [0],
            "lost_deals": [4],
            "moved_deals": [0],
            "end_deals": [16],
        },
        schema_overrides={"lost": pl.Float64},
    )
    spec = pk.charts.waterfall(frame).to_dict()
    assert spec["data"]["values"] == [
        {"message": "A step holds only deals without an amount: no waterfall"}
    ]
