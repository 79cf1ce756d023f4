"""The metric suite of bench/engines.py agrees across pipeline_kit, pandas and DuckDB SQL.

Two implementations written independently of pipeline_kit (idiomatic pandas, SQL) recompute
flow counts, win rate, won deal size, cycle length, stage-conversion cohorts and the as-of open
pipeline on generated data; every figure must match pipeline_kit's.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

import pipeline_kit as pk

pytest.importorskip("pandas")
pytest.importorskip("duckdb")

_spec = importlib.util.spec_from_file_location(
    "bench_engines", Path(__file__).resolve().parents[1] / "bench" / "engines.py"
)
engines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engines)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    data = root / "data"
    data.mkdir()
    tables = pk.synthetic.generate(20_000, seed=3)
    for name in engines.TABLES:
        tables[name].write_parquet(data / f"{name}.parquet")
    period = (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
    out = {}
    for engine in ("pipeline_kit", "pandas", "duckdb"):
        folder = root / engine
        folder.mkdir()
        for name, frame in engines.RUNNERS[engine](data, period, period[1])["frames"].items():
            frame.write_parquet(folder / f"{name}.parquet")
        out[engine] = folder
    return out


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_engine_agrees_with_pipeline_kit(results, engine):
    assert engines.disagreements(results["pipeline_kit"], results[engine]) == []


def test_the_comparison_would_notice_a_difference(results, tmp_path):
    import polars as pl

    for path in results["duckdb"].glob("*.parquet"):
        frame = pl.read_parquet(path)
        if path.stem == "won_deal_size":
            frame = frame.with_columns(pl.col("total") + 1)
        frame.write_parquet(tmp_path / path.name)
    assert engines.disagreements(results["pipeline_kit"], tmp_path) == [
        "won_deal_size.total: 5 values differ"
    ]
