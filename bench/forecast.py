"""How good is ``pk.forecast``? Its own backtest on simulated organisations, against the baselines.

Run: ``make bench-forecast`` (or ``python bench/forecast.py``). For each seed, the generator
simulates four years (2022-2025) of a 5,000-deal organisation with seasonal deal creation,
wins pulled into the quarter's last week and half of the passed close dates pushed;
``pk.backtest_forecast`` then re-forecasts every quarter with at least four earlier quarters
(12 quarters) at the quarter start and at each month end, per team and for the whole
organisation, using only what was known each day.
Printed (and with ``--results`` written to bench/RESULTS.md):

* coverage of the 50 / 80 / 90% intervals over every team-quarter forecast (targets 45-55%,
  75-85%, ~90%), mean CRPS and the CRPS skill against each baseline (targets at quarter start:
  >= 20% against the empirical stage-rate pipeline, >= 30% against the CRM weighted pipeline);
* median absolute percentage error of the organisation's median forecast at quarter start
  (target <= 10%) and a month before quarter end (target <= 5%);
* deal-level Brier skill against stage rates (> 0) and expected calibration error (<= 0.05);
* the wall time of one backtest (target: under 30 s for 5,000 deals on the 2-core machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from pathlib import Path

import polars as pl

import pipeline_kit as pk
from pipeline_kit.synthetic import generate


def dataset(seed: int, deals: int) -> pk.Dataset:
    tables = generate(
        deals,
        seed,
        start=dt.date(2022, 1, 1),
        end=dt.date(2025, 12, 31),
        seasonality=0.25,
        quarter_end_push=0.3,
        close_date_push=0.5,
    )
    return pk.load(tables)


def run(seeds: list[int], deals: int, draws: int) -> dict[str, pl.DataFrame]:
    teams, org, calib, times = [], [], [], []
    for seed in seeds:
        ds = dataset(seed, deals)
        t0 = time.perf_counter()
        bt_org = pk.backtest_forecast(ds, draws=draws, min_past_periods=4, seed=seed)
        times.append({"seed": seed, "what": "organisation", "seconds": time.perf_counter() - t0})
        t0 = time.perf_counter()
        bt_team = pk.backtest_forecast(ds, by="team", draws=draws, min_past_periods=4, seed=seed)
        times.append({"seed": seed, "what": "per team", "seconds": time.perf_counter() - t0})
        teams.append(bt_team.forecasts.with_columns(pl.lit(seed).alias("seed")))
        org.append(bt_org.forecasts.with_columns(pl.lit(seed).alias("seed")))
        cal = pk.probability_calibration(ds, bt_team)
        calib.append(cal.scores.with_columns(pl.lit(seed).alias("seed")))
    team_f = pl.concat(teams, how="diagonal_relaxed")
    org_f = pl.concat(org, how="diagonal_relaxed")
    bt = pk.forecasting.Backtest(["seed", "team"], team_f, pl.DataFrame())  # seed: one key
    return {
        "team coverage and error (every team-quarter forecast)": bt.summary().filter(
            pl.col("method").is_in(["model", "stage_rate", "crm_weighted", "run_rate"])
        ),
        "team CRPS skill of the model against each baseline": bt.skill(),
        "organisation: median absolute % error of the median": org_f.filter(
            pl.col("crps").is_not_null()
        )
        .group_by("method", "checkpoint")
        .agg(pl.len().alias("forecasts"), pl.col("ape").median().alias("median_ape"))
        .sort("checkpoint", "method"),
        "deal-level calibration (per-team backtest)": pl.concat(calib)
        .group_by("source")
        .agg(pl.col("predictions").sum(), pl.col("brier_skill").mean(), pl.col("ece").mean())
        .sort("source"),
        "wall time of one backtest (seconds)": pl.DataFrame(times),
    }


RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- forecast: begin -->", "<!-- forecast: end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--deals", type=int, default=5000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument(
        "--results", action="store_true", help="rewrite the forecast tables in bench/RESULTS.md"
    )
    args = parser.parse_args()
    pl.Config.set_tbl_rows(60)
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(160)
    pl.Config.set_float_precision(3)
    tables = run(args.seeds, args.deals, args.draws)
    for title, frame in tables.items():
        print(f"\n## {title}\n")
        print(frame)
    if args.results:
        command = " ".join(
            ["python bench/forecast.py", "--seeds", *map(str, args.seeds), "--results"]
        )
        lines = [BEGIN, "", f"`{command}`, run on {dt.date.today()}:", ""]
        with pl.Config(
            tbl_formatting="MARKDOWN",
            tbl_hide_column_data_types=True,
            tbl_hide_dataframe_shape=True,
        ):
            for title, frame in tables.items():
                lines += [f"**{title}**", "", str(frame), ""]
        lines.append(END)
        text = RESULTS.read_text()
        block = "\n".join(lines)
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        RESULTS.write_text(pattern.sub(lambda _: block, text, count=1))


if __name__ == "__main__":
    main()
