"""Every declared metric: one signature, and an output frame that matches its declared schema.

For each function in the registry the output is validated (dataframely, ``cast=False``) on the
bundled sample for a quarter with deals and for one before the data starts (no deals, so
empty or n = 0 output), without groups and by team. A function whose output gains, loses or
retypes a column, or produces a value out of its declared bounds (a share above 1, a negative
count, a NaN), fails here.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from pathlib import Path

import dataframely as dy
import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics.activity import CallsVsClosesOutput
from pipeline_kit.metrics.cards import REGISTRY, Metric, metric_names
from pipeline_kit.metrics.deals import DealSizeDistributionOutput
from pipeline_kit.metrics.durations import CycleLengthCurveOutput
from tests.conftest import SAMPLE, read_rows

PERIOD = "2025-Q4"  # the sample's last complete quarter (its data ends on 2025-12-31)
EMPTY_PERIOD = "2020-Q1"  # before the sample starts (2023-10-01): no deal, lead or customer
SNAPSHOT_DAYS = {PERIOD: "2025-12-31", EMPTY_PERIOD: "2020-03-31"}


def _declared() -> dict[str, Metric]:
    """One declaration per function (several metrics share a function and its schema)."""
    metric_names()  # loads every metric module
    functions: dict[str, Metric] = {}
    for metric in REGISTRY.values():
        known = functions.setdefault(metric.function.__name__, metric)
        assert known.output is metric.output, (
            f"{metric.card.name} and {known.card.name} share {metric.function.__name__} "
            "but declare different output schemas"
        )
    return functions


DECLARED = _declared()
# public metric functions outside the registry that follow the same convention
UNDECLARED: dict[str, tuple[Callable[..., pl.DataFrame], type[dy.Schema]]] = {
    "calls_vs_closes": (pk.calls_vs_closes, CallsVsClosesOutput),
    "cycle_length_curve": (pk.cycle_length_curve, CycleLengthCurveOutput),
    "deal_size_distribution": (pk.deal_size_distribution, DealSizeDistributionOutput),
}
ALL = {
    **{name: (m.function, m.output) for name, m in DECLARED.items()},
    **UNDECLARED,
}


def _is_snapshot(fn: Callable[..., pl.DataFrame]) -> bool:
    return list(inspect.signature(fn).parameters)[1] == "as_of"


def _call(
    fn: Callable[..., pl.DataFrame], ds: Dataset, period: str, by: str | None
) -> pl.DataFrame:
    if _is_snapshot(fn):
        return fn(ds, SNAPSHOT_DAYS[period], by=by)
    return fn(ds, period, by=by)


def _check(frame: pl.DataFrame, output: type[dy.Schema], groups: list[str]) -> None:
    declared = output.column_names()
    extra = [c for c in frame.columns if c not in declared]
    assert extra == [g for g in groups if g not in declared], (
        f"columns not in {output.__name__}: {extra}"
    )
    assert [c for c in frame.columns if c in declared] == declared, "declared columns reordered"
    for g in extra:
        assert frame.schema[g] == pl.String, f"group column {g} is {frame.schema[g]}"
    if extra and "owner" not in declared:  # group columns first (deal lists: after team)
        assert frame.columns[: len(extra)] == extra
    output.validate(frame, cast=False)


def test_every_declared_function_has_a_schema_and_the_card_names_it() -> None:
    assert len(DECLARED) >= 27
    for metric in REGISTRY.values():
        assert issubclass(metric.output, dy.Schema)
        assert metric.card.function == f"pipeline_kit.{metric.function.__name__}"
        assert getattr(pk, metric.function.__name__) is metric.function
        assert metric.output.__module__ == metric.function.__module__  # beside its function


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("by", [None, "team"])
def test_output_matches_the_schema(sample: Dataset, name: str, by: str | None) -> None:
    fn, output = ALL[name]
    frame = _call(fn, sample, PERIOD, by)
    assert frame.height > 0, "the sample's last quarter should give rows"
    _check(frame, output, [by] if by else [])


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("by", [None, "team"])
def test_output_without_deals_matches_the_schema(
    sample: Dataset, name: str, by: str | None
) -> None:
    fn, output = ALL[name]
    frame = _call(fn, sample, EMPTY_PERIOD, by)
    _check(frame, output, [by] if by else [])
    for column in ("n", "won", "created", "open_deals", "won_deals", "users_n"):
        if column in frame.columns:  # nothing happened before the data starts
            assert frame[column].sum() == 0, column


def test_a_changed_column_fails_the_check(sample: Dataset) -> None:
    frame = pk.win_rate(sample, PERIOD)
    output = DECLARED["win_rate"].output
    with pytest.raises(AssertionError):
        _check(frame.rename({"ci_low": "win_rate_low"}), output, [])
    with pytest.raises(dy.exc.SchemaError):
        _check(frame.with_columns(pl.col("n").cast(pl.Int32)), output, [])
    with pytest.raises(dy.exc.ValidationError):
        _check(frame.with_columns(pl.lit(1.5).alias("win_rate")), output, [])


@pytest.mark.parametrize("name", sorted(ALL))
def test_one_signature(name: str) -> None:
    fn, _ = ALL[name]
    params = inspect.signature(fn).parameters
    names = list(params)
    assert names[0] == "ds"
    assert names[1] in ("period", "as_of")
    assert params["by"].kind is inspect.Parameter.KEYWORD_ONLY and params["by"].default is None
    if names[1] == "period":
        assert params["as_of"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["as_of"].default is None
    assert "tuple" not in str(inspect.signature(fn).return_annotation)


@pytest.mark.parametrize("name", sorted(ALL))
def test_latest_is_accepted_for_period_and_as_of(sample: Dataset, name: str) -> None:
    fn, output = ALL[name]
    if _is_snapshot(fn):
        latest = fn(sample, "latest")
        explicit = fn(sample, dt.date(2025, 12, 31))  # the sample's last date
    else:
        latest = fn(sample, "latest", as_of="latest")
        explicit = fn(sample, PERIOD, as_of=dt.date(2025, 12, 31))
    output.validate(latest, cast=False)
    assert latest.equals(explicit)


def _deals() -> list[dict[str, str]]:
    return read_rows(Path(SAMPLE) / "deals.csv")


def test_a_flow_read_before_the_period_ends_counts_the_events_up_to_as_of(
    sample: Dataset,
) -> None:
    day = "2025-11-15"
    start = "2025-10-01"
    deals = _deals()
    created = sum(start <= d["created_at"][:10] <= day for d in deals)
    closed = [d for d in deals if d["closed_at"] and start <= d["closed_at"][:10] <= day]
    won = sum(d["status"] == "won" for d in closed)
    lost = sum(d["status"] == "lost" for d in closed)
    got = pk.deal_flow(sample, PERIOD, as_of=day).row(0, named=True)
    assert (got["created"], got["won"], got["lost"]) == (created, won, lost)
    assert got["won"] < pk.deal_flow(sample, PERIOD)["won"][0]  # the whole quarter has more
    with pytest.raises(ValueError, match="before the period"):
        pk.win_rate(sample, PERIOD, as_of="2025-09-30")


def test_calls_vs_closes_gives_each_team_its_own_correlation(sample: Dataset) -> None:
    teams = pk.calls_vs_closes(sample, PERIOD, by="team")
    org = pk.calls_vs_closes(sample, PERIOD)
    assert teams.select("owner", "calls", "won_deals").equals(
        org.select("owner", "calls", "won_deals")
    )
    per_team = teams.group_by("team").agg(pl.col("n").first(), pl.len(), pl.col("rho").n_unique())
    assert (per_team["n"] == per_team["len"]).all() and (per_team["rho"] == 1).all()
    assert org["n"].unique().to_list() == [org.height]
    with pytest.raises(ValueError, match="by=None or by='team'"):
        pk.calls_vs_closes(sample, PERIOD, by="owner")


def test_the_long_format_matches_its_schema(sample: Dataset) -> None:
    from pipeline_kit.metrics._long import LongOutput

    for by in (None, "team"):
        long = pk.metrics_long(sample, PERIOD, by=by)
        LongOutput.validate(long.drop(*([by] if by else [])), cast=False)
    empty = pk.metrics_long(sample, EMPTY_PERIOD, by="team", metrics=["win_rate_vs_competitor"])
    assert empty.height == 0 and empty.columns[:2] == ["metric", "team"]
    LongOutput.validate(empty.drop("team"), cast=False)
