"""pipeline_kit against pandas, DuckDB and the scan floor on the same Parquet files.

Run: ``make bench`` (or ``python bench/engines.py --deals 1000000 10000000``). Not part of
``make test``; pandas and DuckDB come from the ``bench`` extra.

For each size the script generates ``deals``, ``stages`` and ``stage_history`` with the
sample generator (in chunks of at most 1M deals, streamed into one Parquet file per table,
cached in ``bench/out/``), then runs every engine in its own fresh process so that each
peak-memory figure is that engine's alone:

* ``pipeline_kit``: ``pk.load`` (parse + every validation rule + quarantine) and the suite;
* ``pandas``: ``pd.read_parquet`` and an idiomatic pandas implementation of the suite;
* ``duckdb``: one SQL statement per metric straight over the Parquet files;
* ``scan floor``: ``pl.read_parquet`` of every column of the three files, nothing else.

The suite, for one quarter by team: deals created / won / lost, win rate, won deal size
(n, mean, median, sd, total), cycle length of closed deals (n, mean, median, sd), stage
conversion of the quarter's stage cohorts (entered, advanced, dropped), and the open
pipeline per team and stage as of an explicit date. The script checks that the three engines
agree on every figure (relative tolerance 1e-9) and prints wall-time ratios and peak RSS;
``--results`` rewrites the table in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TABLES = ("deals", "stages", "stage_history")
CHUNK = 1_000_000
PERIOD = ("2025-10-01", "2025-12-31")  # 2025-Q4
AS_OF = "2025-12-31"
ENGINES = ("scan floor", "pipeline_kit", "duckdb", "pandas")
# the figures each engine must produce, keyed by (table, key columns)
KEYS = {
    "deal_flow": ["team"],
    "won_deal_size": ["team"],
    "cycle_length": ["team"],
    "stage_conversion": ["team", "stage"],
    "open_pipeline": ["team", "stage"],
}


# ---------------------------------------------------------------------------------- data


def prepare(n_deals: int, seed: int = 1) -> Path:
    """Write (once) ``bench/out/engines_<n>/{deals,stages,stage_history}.parquet``."""
    import pipeline_kit as pk

    folder = OUT / f"engines_{n_deals}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        parts: dict[str, list[Path]] = {t: [] for t in TABLES}
        for i, start in enumerate(range(0, n_deals, CHUNK)):
            size = min(CHUNK, n_deals - start)
            tables = pk.synthetic.generate(size, seed + i)
            # ids unique across chunks: D + 9 digits, offset by the chunk's start
            new_id = (pl.col("deal_id").str.slice(1).cast(pl.Int64) + start).cast(pl.String)
            for name in TABLES:
                frame = tables[name]
                if "deal_id" in frame.columns:
                    frame = frame.with_columns(("D" + new_id.str.zfill(9)).alias("deal_id"))
                elif i > 0:
                    continue  # stages: the same in every chunk
                path = Path(tmp) / f"{name}_{i:03d}.parquet"
                frame.write_parquet(path)
                parts[name].append(path)
            del tables
            print(f"  generated {start + size:,} / {n_deals:,} deals", flush=True)
        for name in TABLES:
            pl.scan_parquet(parts[name]).sink_parquet(folder / f"{name}.parquet")
    done.touch()
    return folder


# ------------------------------------------------------------------------------- engines


def run_scan_floor(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """Read every column of the three files once: the least any engine can do."""
    frames = {t: pl.read_parquet(folder / f"{t}.parquet") for t in TABLES}
    return {
        "input_mb": sum(f.estimated_size("mb") for f in frames.values()),
        "rows": {t: f.height for t, f in frames.items()},
    }


def run_pipeline_kit(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """pk.load (validated) + the suite through the public API."""
    import pipeline_kit as pk

    start = time.perf_counter()
    ds = pk.load(folder)
    loaded = time.perf_counter() - start
    q = pk.Period.parse(f"{period[0]}..{period[1]}")
    flow = pk.deal_flow(ds, q, by="team").join(
        pk.win_rate(ds, q, by="team").select("team", "win_rate"), on="team", how="left"
    )
    out = {
        "deal_flow": flow,
        "won_deal_size": pk.won_deal_size(ds, q, by="team"),
        "cycle_length": pk.cycle_length(ds, q, by="team"),
        "stage_conversion": pk.stage_conversion(ds, q, by="team", as_of=as_of),
        "open_pipeline": pk.open_pipeline(ds, as_of, by="team"),
    }
    return {
        "frames": out,
        "load_seconds": loaded,
        "quarantined": int(ds.counts["quarantined"].sum()),
    }


def run_duckdb(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """The suite as DuckDB SQL over the Parquet files."""
    import duckdb

    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{folder / (t + '.parquet')}')")
    p = {"a": period[0], "b": period[1], "d": as_of}
    closed = "closed_at BETWEEN $a AND $b"
    sql = {
        "deal_flow": f"""
            SELECT team,
                   count(*) FILTER (WHERE created_at BETWEEN $a AND $b) AS created,
                   count(*) FILTER (WHERE {closed} AND status = 'won') AS won,
                   count(*) FILTER (WHERE {closed} AND status = 'lost') AS lost,
                   won / nullif(won + lost, 0) AS win_rate
            FROM deals WHERE created_at BETWEEN $a AND $b OR {closed}
            GROUP BY team""",
        "won_deal_size": f"""
            SELECT team, count(amount) AS n, avg(amount) AS mean, median(amount) AS median,
                   stddev_samp(amount) AS sd, sum(amount) AS total
            FROM deals WHERE {closed} AND status = 'won' GROUP BY team""",
        "cycle_length": f"""
            SELECT team, count(*) AS n, avg(days) AS mean, median(days) AS median,
                   stddev_samp(days) AS sd
            FROM (SELECT team, (closed_at - created_at)::DOUBLE AS days
                  FROM deals WHERE {closed})
            GROUP BY team""",
        "stage_conversion": """
            WITH h AS (
                SELECT sh.deal_id, sh.entered_at, s."order", s.is_won, s.is_lost, s.stage
                FROM stage_history sh JOIN stages s USING (stage) WHERE sh.entered_at <= $d),
            first_entry AS (
                SELECT deal_id, stage, "order", min(entered_at) AS entered_at
                FROM h WHERE NOT is_won AND NOT is_lost GROUP BY ALL
                HAVING min(entered_at) BETWEEN $a AND $b),
            advanced AS (
                SELECT DISTINCT f.deal_id, f.stage FROM first_entry f JOIN h l
                  ON l.deal_id = f.deal_id AND l.entered_at >= f.entered_at
                 AND (l.is_won OR (NOT l.is_lost AND l."order" > f."order")))
            SELECT d.team, f.stage, count(*) AS entered,
                   count(a.deal_id) AS advanced,
                   count(*) FILTER (WHERE a.deal_id IS NULL AND d.status = 'lost'
                                    AND d.closed_at <= $d) AS dropped
            FROM first_entry f JOIN deals d USING (deal_id)
            LEFT JOIN advanced a ON a.deal_id = f.deal_id AND a.stage = f.stage
            GROUP BY ALL""",
        "open_pipeline": """
            WITH h AS (
                SELECT sh.deal_id, sh.stage, sh.entered_at, s."order"
                FROM stage_history sh LEFT JOIN stages s USING (stage)),
            at_date AS (
                SELECT deal_id, coalesce(
                    arg_max(stage, (entered_at, "order")) FILTER (WHERE entered_at <= $d),
                    arg_min(stage, (entered_at, "order"))) AS stage_as_of
                FROM h GROUP BY deal_id),
            open AS (
                SELECT d.team, coalesce(a.stage_as_of, d.stage) AS stage, d.amount
                FROM deals d LEFT JOIN at_date a USING (deal_id)
                WHERE d.created_at <= $d AND (d.closed_at IS NULL OR d.closed_at > $d))
            SELECT team, stage, count(*) AS open_deals, sum(amount) AS open_value
            FROM open GROUP BY ALL""",
    }
    frames = {}
    for name, query in sql.items():
        names = [k for k in p if f"${k}" in query]
        frames[name] = con.sql(query, params={k: p[k] for k in names}).pl()
    return {"frames": frames}


def run_pandas(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """The suite as idiomatic pandas: read_parquet, boolean masks, groupby, merge."""
    import pandas as pd

    a, b, d = (pd.Timestamp(x) for x in (*period, as_of))
    deals = pd.read_parquet(folder / "deals.parquet")
    stages = pd.read_parquet(folder / "stages.parquet")
    history = pd.read_parquet(folder / "stage_history.parquet")
    for col in ("created_at", "closed_at"):
        deals[col] = pd.to_datetime(deals[col])
    history["entered_at"] = pd.to_datetime(history["entered_at"])

    created = deals["created_at"].between(a, b)
    closed = deals["closed_at"].between(a, b)
    won, lost = closed & deals["status"].eq("won"), closed & deals["status"].eq("lost")
    flow = (
        pd.DataFrame({"team": deals["team"], "created": created, "won": won, "lost": lost})[
            created | closed
        ]
        .groupby("team", as_index=False)
        .sum()
    )
    flow["win_rate"] = flow["won"] / (flow["won"] + flow["lost"])

    size = (
        deals[won]
        .groupby("team")["amount"]
        .agg(n="count", mean="mean", median="median", sd="std", total="sum")
        .reset_index()
    )
    cycle = (
        deals[closed]
        .assign(days=lambda x: (x["closed_at"] - x["created_at"]).dt.days.astype(float))
        .groupby("team")["days"]
        .agg(n="count", mean="mean", median="median", sd="std")
        .reset_index()
    )

    # stage conversion: first entry of each open stage in the period, then any later move
    h = history[history["entered_at"] <= d].merge(
        stages[["stage", "order", "is_won", "is_lost"]], on="stage"
    )
    first = (
        h[~h["is_won"] & ~h["is_lost"]]
        .groupby(["deal_id", "stage", "order"], as_index=False)["entered_at"]
        .min()
    )
    first = first[first["entered_at"].between(a, b)]
    later = h[["deal_id", "order", "entered_at", "is_won", "is_lost"]].rename(
        columns=lambda c: c if c == "deal_id" else f"later_{c}"
    )
    pairs = first.merge(later, on="deal_id")
    moved = (pairs["later_entered_at"] >= pairs["entered_at"]) & (
        pairs["later_is_won"] | (~pairs["later_is_lost"] & (pairs["later_order"] > pairs["order"]))
    )
    advanced = pairs.loc[moved, ["deal_id", "stage"]].drop_duplicates().assign(advanced=True)
    lost_by = deals[["deal_id", "team"]].assign(
        lost_by=deals["status"].eq("lost") & (deals["closed_at"] <= d)
    )
    per_deal = first.merge(lost_by, on="deal_id").merge(
        advanced, on=["deal_id", "stage"], how="left"
    )
    per_deal["advanced"] = per_deal["advanced"].fillna(False).astype(bool)
    per_deal["dropped"] = ~per_deal["advanced"] & per_deal["lost_by"]
    conversion = per_deal.groupby(["team", "stage"], as_index=False).agg(
        entered=("deal_id", "size"), advanced=("advanced", "sum"), dropped=("dropped", "sum")
    )

    # open pipeline as of d: last stage entered by d (same day: later stage), else the first
    hs = history.merge(stages[["stage", "order"]], on="stage", how="left").sort_values(
        ["deal_id", "entered_at", "order"]
    )
    last = hs[hs["entered_at"] <= d].groupby("deal_id")["stage"].last()
    stage_as_of = last.reindex(hs["deal_id"].unique()).fillna(
        hs.groupby("deal_id")["stage"].first()
    )
    is_open = (deals["created_at"] <= d) & (deals["closed_at"].isna() | (deals["closed_at"] > d))
    open_deals = deals.loc[is_open, ["deal_id", "team", "stage", "amount"]]
    open_deals["stage"] = open_deals["deal_id"].map(stage_as_of).fillna(open_deals["stage"])
    pipeline = open_deals.groupby(["team", "stage"], as_index=False).agg(
        open_deals=("deal_id", "size"), open_value=("amount", "sum")
    )
    frames = {
        "deal_flow": flow,
        "won_deal_size": size,
        "cycle_length": cycle,
        "stage_conversion": conversion,
        "open_pipeline": pipeline,
    }
    return {"frames": {k: pl.from_pandas(v) for k, v in frames.items()}}


RUNNERS: dict[str, Callable[[Path, tuple[dt.date, dt.date], dt.date], dict]] = {
    "scan floor": run_scan_floor,
    "pipeline_kit": run_pipeline_kit,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
}


# ------------------------------------------------------------------------ child process


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from a parent)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))


def _child(engine: str, folder: Path, result_dir: Path) -> None:
    """Run one engine in this (fresh) process; write its frames and a JSON summary."""
    period = tuple(dt.date.fromisoformat(x) for x in PERIOD)
    as_of = dt.date.fromisoformat(AS_OF)
    # imports are not timed: an analyst pays them once per session, whatever the engine
    importlib.import_module({"scan floor": "polars"}.get(engine, engine))
    start = time.perf_counter()
    result = RUNNERS[engine](folder, period, as_of)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    for name, frame in result.pop("frames", {}).items():
        frame.write_parquet(result_dir / f"{name}.parquet")
    result.update(seconds=seconds, peak_mb=_peak_mb())
    (result_dir / "summary.json").write_text(json.dumps(result, default=str))


def _run(engine: str, folder: Path, result_dir: Path) -> dict:
    result_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", engine, str(folder), str(result_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads((result_dir / "summary.json").read_text())


# ----------------------------------------------------------------------------- agreement


def _normalised(result_dir: Path, name: str) -> pl.DataFrame:
    frame = pl.read_parquet(result_dir / f"{name}.parquet")
    if name in ("stage_conversion", "open_pipeline"):
        value = "entered" if name == "stage_conversion" else "open_deals"
        frame = frame.filter(pl.col(value) > 0)  # pipeline_kit also lists empty stages
    return frame.sort(KEYS[name])


def disagreements(reference: Path, other: Path) -> list[str]:
    """Figures on which two engines differ (relative tolerance 1e-9), as short messages."""
    problems = []
    for name, keys in KEYS.items():
        ref, oth = _normalised(reference, name), _normalised(other, name)
        if ref.select(keys).rows() != oth.select(keys).rows():
            problems.append(f"{name}: different groups")
            continue
        for col in oth.columns:
            if col in keys:
                continue
            x = ref[col].cast(pl.Float64).to_numpy()
            y = oth[col].cast(pl.Float64).to_numpy()
            scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1.0)
            diff = ~((np.abs(x - y) <= 1e-9 * scale) | (np.isnan(x) & np.isnan(y)))
            if diff.any():
                problems.append(f"{name}.{col}: {int(diff.sum())} values differ")
    return problems


# ---------------------------------------------------------------------------------- main


def _machine() -> str:
    mem = next(
        int(line.split()[1]) / 1024**2
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import duckdb
    import pandas

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}, "
        f"polars {pl.__version__}, pandas {pandas.__version__}, duckdb {duckdb.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--results", action="store_true", help="rewrite bench/RESULTS.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0

    lines = [f"Machine: {_machine()}", ""]
    failed = False
    for n in args.deals:
        print(f"\n== {n:,} deals: preparing data", flush=True)
        folder = prepare(n)
        runs: dict[str, dict] = {}
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            for engine in args.engines:
                print(f"  running {engine} ...", flush=True)
                runs[engine] = _run(engine, folder, Path(tmp) / engine.replace(" ", "_"))
            checks = {
                e: disagreements(Path(tmp) / "pipeline_kit", Path(tmp) / e)
                for e in ("duckdb", "pandas")
                if e in runs and "error" not in runs[e] and "error" not in runs["pipeline_kit"]
            }
        floor = runs.get("scan floor", {})
        rows = floor.get("rows", {})
        lines += [
            f"### {n:,} deals",
            "",
            f"Rows: {', '.join(f'{t} {c:,}' for t, c in rows.items())}; in memory (polars) "
            f"{floor.get('input_mb', float('nan')):,.0f} MB.",
            "",
            "| engine | wall s | vs scan floor | pipeline_kit time / this | peak RSS MB "
            "| RSS / input | agrees with pipeline_kit |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        base = floor.get("seconds")
        pk_s = runs.get("pipeline_kit", {}).get("seconds")
        for engine, run in runs.items():
            if "error" in run:
                lines.append(f"| {engine} | failed: {run['error']} | | | | | |")
                failed = True
                continue
            s, peak = run["seconds"], run["peak_mb"]
            agree = "(reference)" if engine == "pipeline_kit" else "n/a"
            if engine in checks:
                agree = "yes" if not checks[engine] else "NO: " + "; ".join(checks[engine])
                failed |= bool(checks[engine])
            label = engine
            if engine == "pipeline_kit":
                label += f" (load+validate {run['load_seconds']:.1f} s)"
            lines.append(
                f"| {label} | {s:.2f} | {s / base:.1f}x | "
                f"{(pk_s / s if pk_s else float('nan')):.2f}x | {peak:,.0f} | "
                f"{peak / floor.get('input_mb', float('nan')):.1f}x | {agree} |"
            )
        lines.append("")
        print("\n".join(lines[-(len(runs) + 6) :]), flush=True)
    if args.results:
        _write_results(lines, args)
    return 1 if failed else 0


def _write_results(lines: list[str], args: argparse.Namespace) -> None:
    marker = "<!-- engines table: generated by bench/engines.py --results -->"
    text = RESULTS.read_text() if RESULTS.exists() else marker + "\n"
    head, _, _ = text.partition(marker)
    command = f"python bench/engines.py --deals {' '.join(map(str, args.deals))} --results"
    body = "\n".join([marker, "", f"`{command}`, run on {dt.date.today()}:", "", *lines])
    RESULTS.write_text(head + body + "\n")


if __name__ == "__main__":
    sys.exit(main())
