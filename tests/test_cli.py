"""The CLI contract."""

from __future__ import annotations

import polars as pl

from pipeline_kit.cli import main

from .conftest import SAMPLE, read_rows


def test_metrics_long_csv(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert (
        main(
            [
                "metrics",
                "--data",
                str(SAMPLE),
                "--period",
                "2025-Q4",
                "--by",
                "team",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = read_rows(out)
    assert list(rows[0])[:6] == ["metric", "team", "value", "n", "ci_low", "ci_high"]
    win = [r for r in rows if r["metric"] == "win_rate"]
    assert len(win) == 5 and all(r["ci_low"] and r["ci_high"] for r in win)
    created = [r for r in rows if r["metric"] == "deals_created"]
    assert all(r["ci_low"] == "" for r in created)  # empty where not applicable


def test_metrics_selection_as_of_and_latest(tmp_path):
    out = tmp_path / "m.csv"
    assert (
        main(
            [
                "metrics",
                "--data",
                str(SAMPLE),
                "--period",
                "latest",
                "--as-of",
                "2025-11-30",
                "--metric",
                "win_rate",
                "open_deals",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    frame = pl.read_csv(out)
    assert set(frame["metric"]) == {"win_rate", "open_deals"}
    assert set(frame["period"]) == {"2025-Q4"}
    snapshot = frame.filter(pl.col("metric") == "open_deals")
    assert set(snapshot["as_of"].cast(pl.String)) == {"2025-11-30"}
    assert frame.filter(pl.col("metric") == "win_rate")["as_of"].null_count() == 1  # flow


def test_bad_arguments_exit_2(tmp_path, capsys):
    out = str(tmp_path / "x.csv")
    assert main(["metrics", "--data", str(SAMPLE), "--period", "Q9", "--out", out]) == 2
    assert (
        main(
            [
                "metrics",
                "--data",
                str(SAMPLE),
                "--period",
                "2025-Q4",
                "--metric",
                "magic",
                "--out",
                out,
            ]
        )
        == 2
    )
    assert (
        main(["metrics", "--data", str(tmp_path / "nope"), "--period", "2025-Q4", "--out", out])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err


def test_export_given_as_data_or_positional(tmp_path, capsys):
    """`pipeline-kit validate PATH` is `validate --data PATH`; missing or twice is exit 2."""
    assert main(["validate", str(SAMPLE), "--no-cache"]) == 0
    positional = capsys.readouterr().out
    assert main(["validate", "--data", str(SAMPLE), "--no-cache"]) == 0
    assert capsys.readouterr().out == positional
    assert main(["validate", str(SAMPLE), "--data", str(SAMPLE), "--no-cache"]) == 0
    capsys.readouterr()
    for argv in (["validate"], ["validate", str(SAMPLE), "--data", str(tmp_path)]):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
    err = capsys.readouterr().err
    assert "the export is required" in err and "given twice, differently" in err


def test_sample_command(tmp_path):
    assert (
        main(
            [
                "sample",
                "--deals",
                "300",
                "--seed",
                "2",
                "--out",
                str(tmp_path),
                "--format",
                "parquet",
            ]
        )
        == 0
    )
    assert (tmp_path / "deals.parquet").exists() and (tmp_path / "benchmarks.parquet").exists()
    assert pl.read_parquet(tmp_path / "deals.parquet").height == 300


def test_explain(capsys):
    assert main(["explain"]) == 0
    assert "win_rate" in capsys.readouterr().out.split()
    assert main(["explain", "win_rate"]) == 0
    assert "won / (won + lost)" in capsys.readouterr().out


def test_report_options_reach_the_runner(tmp_path, monkeypatch, capsys):
    import pipeline_kit.reports as reports

    seen: dict = {}

    def fake_run_reports(data, period, out, **options):
        seen.update(options, data=data, period=period, out=out)
        return [reports.TeamResult("EMEA", "emea", True, 1.0)]

    monkeypatch.setattr(reports, "run_reports", fake_run_reports)
    args = ["report", "--data", str(SAMPLE), "--period", "2025-Q4", "--out", str(tmp_path)]
    assert main([*args, "--team", "EMEA", "--jobs", "3", "--static-charts"]) == 0
    assert seen["static_charts"] is True and seen["jobs"] == 3 and seen["teams"] == ["EMEA"]
    assert main(args) == 0
    assert seen["static_charts"] is False  # interactive charts unless asked
    assert "EMEA: ok" in capsys.readouterr().out
