"""The pushdown prototype (pipeline_kit/pushdown.py) on DuckDB against the in-memory path.

Run: ``python bench/pushdown.py --deals 1000000 10000000 [--results]`` (not part of the
tests). The data are bench/engines.py's (``bench/out/engines_<n>/``, generated once with the
sample generator in chunks of 1M deals). Each run is a fresh process (peak RSS is its own);
the figures are deal flow, win rate with its Wilson interval and the won total, by team, for
2025-Q4:

* ``pk.load + pk metrics``: ``pk.load`` of the Parquet folder (parse, validate every table,
  quarantine), then ``pk.deal_flow``, ``pk.win_rate`` and ``pk.won_deal_size``; the metrics'
  time alone and the prototype's on the same validated ``ds.lazy("deals")`` are shown apart;
* ``prototype, polars scan``: ``flow_metrics(pl.scan_parquet(deals.parquet))``;
* ``prototype, DuckDB on Parquet``: ``flow_metrics(con.read_parquet(deals.parquet))``;
* ``prototype, DuckDB database``: ``flow_metrics(con.table("deals"))`` of a DuckDB file
  holding the deals (built once, not timed): the warehouse case.

Every run must give the same counts as pipeline_kit and the same won total (relative 1e-9).
``--results`` writes the table into bench/RESULTS.md between the ``pushdown`` markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import OUT, RESULTS, _machine, _peak_mb, prepare

PERIOD = "2025-Q4"
RUNS = (
    "pk.load + pk metrics",
    "prototype, polars scan",
    "prototype, DuckDB on Parquet",
    "prototype, DuckDB database",
)
START, END = "<!-- pushdown: start -->", "<!-- pushdown: end -->"


def duckdb_file(folder: Path) -> Path:
    """``folder/deals.duckdb``: the deals as a DuckDB table (built once)."""
    import duckdb

    file = folder / "deals.duckdb"
    if not file.exists():
        part = file.with_suffix(".part")
        part.unlink(missing_ok=True)
        con = duckdb.connect(str(part))
        con.sql(f"CREATE TABLE deals AS SELECT * FROM read_parquet('{folder / 'deals.parquet'}')")
        con.close()
        part.rename(file)
    return file


def _run_child(run: str, folder: Path, out: Path) -> None:
    import duckdb
    import narwhals.stable.v2

    import pipeline_kit as pk
    from pipeline_kit.pushdown import flow_metrics

    del duckdb, narwhals  # imported above so that the imports are not timed
    info: dict = {}
    start = time.perf_counter()
    if run == RUNS[0]:
        ds = pk.load(folder)
        info["load_seconds"] = time.perf_counter() - start
        t = time.perf_counter()
        flow = pk.deal_flow(ds, PERIOD, by="team")
        rate = pk.win_rate(ds, PERIOD, by="team")
        size = pk.won_deal_size(ds, PERIOD, by="team")
        info["metrics_seconds"] = time.perf_counter() - t
        frame = (
            flow.join(rate.select("team", "n", "win_rate", "ci_low", "ci_high"), on="team")
            .join(size.select("team", pl.col("total").alias("won_amount")), on="team", how="left")
            .with_columns(pl.col("won_amount").fill_null(0.0))
        )
        t = time.perf_counter()
        flow_metrics(ds.lazy("deals"), PERIOD, by="team")
        info["prototype_in_memory_seconds"] = time.perf_counter() - t
    elif run == RUNS[1]:
        frame = flow_metrics(pl.scan_parquet(folder / "deals.parquet"), PERIOD, by="team")
    else:
        import duckdb

        if run == RUNS[2]:
            con = duckdb.connect()
            rel = con.read_parquet(str(folder / "deals.parquet"))
        else:
            con = duckdb.connect(str(folder / "deals.duckdb"), read_only=True)
            rel = con.table("deals")
        frame = flow_metrics(rel, PERIOD, by="team")
        con.close()
    info["seconds"] = time.perf_counter() - start
    info["peak_mb"] = _peak_mb()
    frame.sort("team").write_parquet(out / "figures.parquet")
    (out / "summary.json").write_text(json.dumps(info))


def _run(run: str, folder: Path, out: Path, script: str = __file__) -> dict:
    """``script --child run folder out`` in a fresh process; its summary, or the error."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, script, "--child", run, str(folder), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads((out / "summary.json").read_text())


def _agrees(reference: Path, other: Path) -> str:
    ref = pl.read_parquet(reference / "figures.parquet").filter(pl.col("n") > 0)
    oth = pl.read_parquet(other / "figures.parquet").filter(pl.col("n") > 0)
    cols = ["team", "created", "won", "lost", "n"]
    if not ref.select(cols).equals(oth.select(cols)):
        return "NO: counts differ"
    for col in ("won_amount", "win_rate", "ci_low", "ci_high"):
        diff = ((ref[col] - oth[col]).abs() / ref[col].abs().clip(lower_bound=1.0)).max()
        if diff is None or float(diff) > 1e-9:  # type: ignore[arg-type]
            return f"NO: {col} differs"
    return "yes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--results", action="store_true", help="write into bench/RESULTS.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    load = Path("/proc/loadavg").read_text().split()[0]
    lines = [f"Machine: {_machine()}; load average when the run started: {load}", ""]
    failed = False
    for n in args.deals:
        print(f"\n== {n:,} deals: preparing data", flush=True)
        folder = prepare(n)
        duckdb_file(folder)
        runs: dict[str, dict] = {}
        agree: dict[str, str] = {}
        OUT.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            dirs = {r: Path(tmp) / str(i) for i, r in enumerate(RUNS)}
            for run in RUNS:
                print(f"  running {run} ...", flush=True)
                runs[run] = _run(run, folder, dirs[run])
            ok = "error" not in runs[RUNS[0]]
            for run in RUNS[1:]:
                agree[run] = _agrees(dirs[RUNS[0]], dirs[run]) if ok else "n/a"
        lines += [
            f"### {n:,} deals",
            "",
            "| run | wall s | peak RSS MB | agrees with pipeline_kit |",
            "|---|---:|---:|---|",
        ]
        for run, result in runs.items():
            if "error" in result:
                lines.append(f"| {run} | failed: {result['error']} | | |")
                failed = True
                continue
            label = run
            if run == RUNS[0]:
                label += (
                    f" (load+validate {result['load_seconds']:.2f} s, metrics "
                    f"{result['metrics_seconds']:.2f} s; the prototype on the loaded deals "
                    f"{result['prototype_in_memory_seconds']:.2f} s)"
                )
            verdict = agree.get(run, "(reference)")
            failed |= verdict.startswith("NO")
            lines.append(
                f"| {label} | {result['seconds']:.2f} | {result['peak_mb']:,.0f} | {verdict} |"
            )
        lines.append("")
        print("\n".join(lines[-(len(runs) + 5) :]), flush=True)
    if args.results:
        _write_results(lines, args)
    return 1 if failed else 0


def _write_results(lines: list[str], args: argparse.Namespace) -> None:
    text = RESULTS.read_text()
    command = f"python bench/pushdown.py --deals {' '.join(map(str, args.deals))} --results"
    section = "\n".join(
        [
            START,
            "",
            f"`{command}`, run on {dt.date.today()}:",
            "",
            *lines,
            END,
        ]
    )
    if START in text:
        head, _, rest = text.partition(START)
        text = head + section + rest.partition(END)[2]
    else:  # before the engines table, which bench/engines.py rewrites to the end of the file
        marker = "<!-- engines table: generated by bench/engines.py --results -->"
        section = "## The pushdown prototype: flow metrics inside DuckDB\n\n" + section
        head, sep, rest = text.partition(marker)
        text = head + section + "\n\n" + sep + rest if sep else text + "\n" + section + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
