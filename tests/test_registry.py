"""The metric registry: each metric declared once, beside its function, and read everywhere."""

from __future__ import annotations

import importlib
import re

import polars as pl

import pipeline_kit as pk
from pipeline_kit.metrics.cards import REGISTRY, declare

from .conftest import ROOT


def test_every_metric_is_declared_once_beside_its_function():
    assert (
        list(pk.metrics.CATALOGUE)
        == pk.metric_names()
        == list(sorted(REGISTRY, key=lambda n: list(pk.metrics.CATALOGUE).index(n)))
    )
    for name, metric in REGISTRY.items():
        card = metric.card
        assert card.name == name and card.reading and card.interval and card.formula
        function = getattr(pk, card.function.removeprefix("pipeline_kit."))
        # the declaration lives in the module that computes the metric
        assert function.__module__ == metric.long.__module__, name
        assert metric.family == function.__module__.rsplit(".", 1)[-1]


def test_a_second_declaration_of_a_name_is_refused():
    metric = REGISTRY["win_rate"]
    try:
        declare(metric.card, function=metric.function, output=metric.output, long=metric.long)
    except ValueError as exc:
        assert "declared twice" in str(exc)
    else:
        raise AssertionError("a duplicate declaration was accepted")


def test_the_registry_feeds_the_long_format_and_the_readme(sample):
    long = pk.metrics_long(sample, "2025-Q4", by="team")
    assert set(long["metric"]) == set(REGISTRY)
    units = dict(long.select("metric", "unit").unique().iter_rows())
    assert all(units[n] == REGISTRY[n].card.unit for n in units)
    readme = (ROOT / "README.md").read_text()
    reference = readme.split("<!-- BEGIN GENERATED: metrics -->")[1].split("<!-- END")[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", reference, re.M)
    assert [n for n in listed if n in REGISTRY] == list(pk.metrics.CATALOGUE)
    outputs = readme.split("<!-- BEGIN GENERATED: outputs -->")[1].split("<!-- END")[0]
    functions = re.findall(r"^\| `([a-z_]+)` \|", outputs, re.M)
    assert set(functions) == {m.function.__name__ for m in REGISTRY.values()}


def test_no_metric_is_defined_outside_the_registry():
    cards = importlib.import_module("pipeline_kit.metrics.cards")
    assert not hasattr(cards, "HOW_TO_READ") and not hasattr(cards, "CARDS")
    long_format = importlib.import_module("pipeline_kit.metrics.long_format")
    assert not hasattr(long_format, "_COMPUTE")
    assert isinstance(
        pk.metrics_long(pk.load(ROOT / "data" / "sample"), "2025-Q4", metrics=["win_rate"]),
        pl.DataFrame,
    )


def test_latest_is_accepted_by_every_function_not_only_the_cli(sample):
    # the sample ends on 2025-12-31: the last complete quarter is 2025-Q4
    assert pk.win_rate(sample, "latest").equals(pk.win_rate(sample, "2025-Q4"))
    assert pk.lead_funnel(sample, "latest").equals(pk.lead_funnel(sample, "2025-Q4"))
    long = pk.metrics_long(sample, "latest", metrics=["win_rate", "open_deals"])
    assert set(long["period"]) == {"2025-Q4"}
    assert pk.compare(sample, "latest").equals(pk.compare(sample, "2025-Q4"))
    assert pk.TeamReport(sample, team="EMEA", period="latest").period.label == "2025-Q4"


def test_stalled_and_slipped_deals_take_by(sample):
    stalled = pk.stalled_deals(sample, "2025-12-31", by="region")
    assert "region" in stalled.columns
    assert stalled.height == pk.stalled_deals(sample, "2025-12-31").height
    slipped = pk.slipped_deals(sample, "2025-12-31", by=["region", "team"])
    assert slipped["region"].is_sorted()
    assert sorted(slipped["deal_id"]) == sorted(pk.slipped_deals(sample, "2025-12-31")["deal_id"])
