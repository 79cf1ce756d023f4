"""Chart builders: spec assertions, offline SVG rendering, empty input."""

from __future__ import annotations

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit import charts


def _layers(spec: dict) -> list[dict]:
    return spec.get("layer", [spec])


def test_pipeline_by_stage_spec(sample):
    frame = pk.open_pipeline(sample, "2025-12-31").filter(pl.lit(True))
    chart = charts.pipeline_by_stage(frame)
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in _layers(spec)]
    assert marks == ["bar", "text"]
    bar = _layers(spec)[0]["encoding"]
    assert bar["x"]["field"] == "open_value" and bar["y"]["field"] == "stage"
    assert bar["y"]["sort"]["field"] == "stage_order"
    assert spec["title"]["text"] == "Open pipeline by stage"
    data = next(iter(spec["datasets"].values()))
    assert len(data) == 5  # one row per open stage, never raw deals
    svg = charts.to_svg(chart)
    assert svg.startswith("<svg") and "Prospecting" in svg


def test_win_rate_chart_has_interval_and_benchmark(sample):
    chart = charts.win_rate_by_group(
        pk.win_rate(sample, "2025-Q4", by="team"),
        "team",
        benchmark=0.28,
        benchmark_label="benchmark",
        highlight="EMEA",
    )
    spec = chart.to_dict()
    layers = _layers(spec)
    assert [lay["mark"]["type"] for lay in layers] == ["rule", "point", "text", "rule", "text"]
    interval = layers[0]["encoding"]
    assert interval["x"]["field"] == "ci_low" and interval["x2"]["field"] == "ci_high"
    assert {
        t["field"] for t in layers[1]["encoding"].get("tooltip", layers[0]["encoding"]["tooltip"])
    } >= {"n", "win_rate"}
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 5
    kinds = {r["team"]: r["kind"] for r in rows}
    assert kinds["EMEA"] == "this team" and kinds["Partners"] == "not enough data"
    svg = charts.to_svg(chart)
    assert "benchmark" in svg and "Partners" in svg


@pytest.mark.parametrize("builder", ["pipeline", "win_rate"])
def test_empty_input_says_no_data(sample, builder):
    if builder == "pipeline":
        chart = charts.pipeline_by_stage(pk.open_pipeline(sample, "2025-12-31").clear())
    else:
        chart = charts.win_rate_by_group(pk.win_rate(sample, "2031-Q1", by="team"), "team")
    svg = charts.to_svg(chart)
    assert "No " in svg and svg.startswith("<svg")


def test_svg_rendering_is_stable(sample):
    chart = charts.win_rate_by_group(pk.win_rate(sample, "2025-Q4", by="team"), "team")
    assert charts.to_svg(chart) == charts.to_svg(chart)
    assert "http" not in charts.to_svg(chart).replace("http://www.w3.org", "")
