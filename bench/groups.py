"""Per-group statistics at scale: rep win rates, the rep flag, stage conversion by team.

Run: ``python bench/groups.py --fixture DIR --deals 300000`` builds (once) the scale fixture
in ``DIR/deals_300000`` and times each per-group statistic there, the median of ``--runs``
fresh processes. ``--before PATH`` times a copy of an older ``pipeline_kit`` package (the
parent folder of a ``pipeline_kit`` directory, e.g. ``git archive <commit> pipeline_kit
data/sample | tar -x -C DIR``) in the same runs, interleaved with the current
one, so both see the same machine load (``--after PATH`` times another copy instead of this
checkout's). Wall and CPU seconds (of every thread of the process) are both given: on a
shared machine the wall time also measures the other processes. Not part of ``make test``.

The fixture is :func:`pipeline_kit.synthetic.generate` with its 26 reps split into 500
(each rep's deals dealt out by a hash of ``deal_id`` to 19-20 reps of the same team, their
activities, leads and collateral following the deal) and its accounts folded into 80,000
(each team keeps its share of them): the bundled sample has 26 reps and 1,586 accounts, too
few for a loop over reps to show.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

REPS = 500
ACCOUNTS = 80_000
CASES = (
    "rep_win_rates",
    "rep_win_rates_team",
    "rep_flag",
    "win_rate_owner",
    "stage_conversion_team",
    "team_report_data",
    "won_deal_size_owner",
    "cycle_length_owner",
    "calls_per_deal_team",
)
"""``rep_flag`` is the rep flag's tests alone (``_against_the_other_reps``, every rep);
``rep_win_rates_team`` is what a team report asks (its team's reps, the largest team);
``team_report_data`` is every table of the largest team's report without rendering
(``team_workbook_frames``: what the report and its workbook show). The last three run the
skewed-mean interval (a seeded bootstrap) once per rep, or per team and industry."""


def _split_owner(table: pl.DataFrame, key: str, splits: dict[str, int]) -> pl.DataFrame:
    """``owner`` as one of its ``splits[owner]`` sub-reps, chosen by a hash of ``key``."""
    parts = pl.col("owner").replace_strict(splits, default=1, return_dtype=pl.UInt64)
    sub = (pl.col(key).hash(seed=11) % parts).cast(pl.String).str.zfill(2)
    return table.with_columns(
        pl.when(pl.col("owner").is_not_null())
        .then(pl.concat_str(pl.col("owner"), pl.lit(" #"), sub))
        .alias("owner")
    )


def scale_tables(n_deals: int, seed: int = 1) -> dict[str, pl.DataFrame]:
    """The scale fixture's tables: ``n_deals`` deals, 500 reps, 80,000 accounts (see above)."""
    import pipeline_kit as pk

    tables = pk.synthetic.generate(n_deals, seed)
    deals = tables["deals"]
    old = sorted(deals["owner"].unique().to_list())
    base, extra = divmod(REPS, len(old))
    splits = {rep: base + (i < extra) for i, rep in enumerate(old)}
    deals = _split_owner(deals, "deal_id", splits)
    # accounts: each team's account numbers folded into its share of 80,000
    share = deals.group_by("team").agg(pl.col("account_id").n_unique().alias("n"))
    total = share["n"].sum()
    per_team = {t: max(1, round(ACCOUNTS * n / total)) for t, n in share.iter_rows()}

    def fold(frame: pl.DataFrame) -> pl.DataFrame:
        prefix = pl.col("account_id").str.slice(0, 4)
        number = pl.col("account_id").str.slice(4).cast(pl.Int64)
        size = pl.col("team").replace_strict(per_team, default=1, return_dtype=pl.Int64)
        return frame.with_columns(
            pl.concat_str(prefix, (number % size).cast(pl.String).str.zfill(5)).alias("account_id")
        )

    folded = fold(deals)
    for _ in range(2):  # a folded team fills only part of its numbers: widen it towards its share
        filled = dict(folded.group_by("team").agg(pl.col("account_id").n_unique()).iter_rows())
        want = {t: ACCOUNTS * n / total for t, n in share.iter_rows()}
        per_team = {t: max(1, round(per_team[t] * want[t] / filled[t])) for t in per_team}
        folded = fold(deals)
    deals = folded
    owner_of = deals.select("deal_id", pl.col("owner").alias("_deal_owner"))

    def follow(frame: pl.DataFrame, key: str) -> pl.DataFrame:
        split = _split_owner(frame, key, splits)
        if "deal_id" not in frame.columns:
            return split
        joined = split.join(owner_of, on="deal_id", how="left", maintain_order="left")
        return joined.with_columns(pl.coalesce("_deal_owner", "owner").alias("owner")).drop(
            "_deal_owner"
        )

    out = dict(tables)
    out["deals"] = deals
    out["activities"] = follow(tables["activities"], "activity_id")
    out["leads"] = follow(tables["leads"], "lead_id")
    out["collateral_usage"] = follow(tables["collateral_usage"], "content_id")
    customers = fold(tables["customers"])
    out["customers"] = (
        customers.sort("start_date").unique("account_id", keep="first").sort("account_id")
    )
    return out


def build_fixture(folder: Path, n_deals: int, seed: int = 1) -> Path:
    """Write the fixture as Parquet to ``folder/deals_<n>`` (kept when already there)."""
    out = folder / f"deals_{n_deals}"
    if (out / "deals.parquet").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in scale_tables(n_deals, seed).items():
        frame.write_parquet(out / f"{name}.parquet")
    return out


def _statistic(ds: Any, case: str, period: str) -> Callable[[], object]:
    """What ``case`` computes on ``ds``, ready to be timed."""
    import pipeline_kit as pk
    from pipeline_kit.comparisons import shrinkage
    from pipeline_kit.metrics._common import as_period, closed_in
    from pipeline_kit.report_data import TeamData
    from pipeline_kit.report_workbook import team_workbook_frames

    team = ds.tables["deals"]["team"].mode().sort()[0]
    if case == "rep_win_rates":
        return lambda: pk.rep_win_rates(ds, period)
    if case == "rep_win_rates_team":
        return lambda: pk.rep_win_rates(ds, period, scope=pl.col("team") == team)
    if case == "rep_flag":
        closed = ds.lazy("deals").filter(closed_in(as_period(period, ds)))
        everyone = (
            closed.group_by("owner")
            .agg(
                pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
                pl.len().cast(pl.Int64).alias("n"),
            )
            .sort("owner")
            .collect()
        )
        return lambda: shrinkage._against_the_other_reps(
            ds, closed, None, "owner", everyone, everyone
        )
    if case == "win_rate_owner":
        return lambda: pk.win_rate(ds, period, by="owner")
    if case == "stage_conversion_team":
        return lambda: pk.stage_conversion(ds, period, by="team")
    if case == "team_report_data":
        return lambda: team_workbook_frames(TeamData.of(ds, team, period))
    if case == "won_deal_size_owner":
        return lambda: pk.won_deal_size(ds, period, by="owner")
    if case == "cycle_length_owner":
        return lambda: pk.cycle_length(ds, period, by="owner")
    if case == "calls_per_deal_team":
        return lambda: pk.calls_per_deal_by_industry(ds, period, by="team")
    raise ValueError(case)


def _one_run(data: str, cases: list[str], period: str) -> dict[str, tuple[float, float]]:
    """Time each of ``cases`` once on ``data`` (a folder, or ``sample``) in this process.

    A fresh load per case (no figure memoised by an earlier case); the imports happen before
    the clock starts. Returns per case (wall seconds, CPU seconds of the process: all threads).
    """
    import scipy.stats  # noqa: F401  (imports are not the statistics)

    import pipeline_kit as pk
    import pipeline_kit.team_report

    print(pk.__file__, pipeline_kit.team_report.__name__, file=sys.stderr)
    times = {}
    for case in cases:
        ds = pk.load(pk.synthetic.sample_path() if data == "sample" else data)
        run = _statistic(ds, case, period)
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        times[case] = (time.perf_counter() - wall, time.process_time() - cpu)
    return times


def table(rows: list[tuple[str, str, dict]], versions: list[str]) -> str:
    """The Markdown table of the medians: wall and CPU seconds per version, then the ratios."""
    cells = " | ".join(f"{v}: wall (s) | {v}: CPU (s)" for v in versions)
    compared = "before" in versions
    ratios = " wall: before / after | CPU: before / after |" if compared else ""
    lines = [f"| data | statistic | {cells} |{ratios}", "|---|---|" + "---:|" * (2 * len(versions))]
    lines[-1] += "---:|---:|" if compared else ""
    for name, case, medians in rows:
        values = " | ".join(f"{medians[v][0]:.3f} | {medians[v][1]:.3f}" for v in versions)
        if compared:
            before, after = medians["before"], medians["after"]
            values += f" | {before[0] / after[0]:.1f}x | {before[1] / after[1]:.1f}x"
        lines.append(f"| {name} | {case} | {values} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=Path("bench/out/groups"))
    parser.add_argument("--deals", type=int, nargs="*", default=[300_000, 1_000_000])
    parser.add_argument("--sample", action="store_true", help="also time the bundled sample")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--period", default="2025", help="the period of every statistic")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--before", type=Path, help="folder holding an older pipeline_kit")
    parser.add_argument("--after", type=Path, help="folder holding the pipeline_kit to time")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one_run(args.one, args.cases, args.period)))
        return 0
    datas = (["sample"] if args.sample else []) + [
        str(build_fixture(args.fixture, n)) for n in args.deals
    ]
    here = (args.after or Path(__file__).resolve().parent.parent).resolve()
    versions = [("before", args.before.resolve())] if args.before else []
    versions.append(("after", here))
    rows = []
    for data in datas:
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.runs):  # interleaved: before, after, before, after, ...
            for version, root in versions:
                command = [sys.executable, __file__, "--one", data, "--period", args.period]
                out = subprocess.run(
                    [*command, "--cases", *args.cases],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "PYTHONPATH": str(root)},
                )
                assert out.stderr.strip().splitlines()[-1].startswith(str(root)), out.stderr
                for case, pair in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    times.setdefault((version, case), []).append(tuple(pair))
        name = "sample" if data == "sample" else f"{Path(data).name.removeprefix('deals_')} deals"
        for case in args.cases:
            medians = {
                v: tuple(statistics.median(t[i] for t in times[v, case]) for i in (0, 1))
                for v, _ in versions
            }
            rows.append((name, case, medians))
            print(name, case, medians, flush=True)
    print(table(rows, [v for v, _ in versions]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
