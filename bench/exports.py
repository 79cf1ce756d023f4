"""``pk.load`` on the export shapes users hand over, at scale, against reading the same files.

Run: ``python bench/exports.py --rows 1000000 --rounds 3`` (not part of ``make test``).

The bundled examples of ``data/examples`` (and the sample generator for the canonical CSV) are
repeated, with fresh record ids, to ``--rows`` deals each, once, into ``bench/out/exports_<n>/``:

* ``canonical UTF-8``: the generator's deals and stage history as CSV;
* ``canonical cp1252``: the same files with accented names, saved as Windows-1252 (what Excel
  writes on Western systems): the encoding is detected;
* ``salesforce``: the example's ``Opportunity.csv`` repeated (its other files as they are);
* ``hubspot``: the example UI export (one CSV, a column per stage entered or left) repeated;
* ``pipedrive``: the example deals export repeated;
* ``mapped (German)``: ``data/examples/other_crm`` (Latin-1, ``;``, decimal commas,
  ``DD/MM/YYYY``), read through the mapping ``draft_mapping`` drafts (deal id named).

Each shape runs in interleaved rounds, each run a fresh process (modules imported before the
clock): ``pk.load`` of the export, and the floor, ``pl.read_csv`` of the same files as text
(every column a string, the encoding given). Prints wall and CPU seconds (median, min-max),
peak resident memory, the rows read, valid and quarantined, and the ratio of the load to the
floor within each round; ``--results`` rewrites the table between its markers in
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engines  # the process helpers and the formatting

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "examples"
OUT = engines.OUT
RESULTS = engines.RESULTS
# shape -> (source, the encoding the floor reads its files with)
SHAPES = {
    "canonical UTF-8": ("canonical", "utf8-lossy"),
    "canonical cp1252": ("canonical", "cp1252"),
    "salesforce": ("salesforce", "utf8-lossy"),  # (its User.csv is not UTF-8)
    "hubspot": ("hubspot", "utf8-lossy"),
    "pipedrive": ("pipedrive", "utf8-lossy"),
    "mapped (German)": ("mapping", "latin-1"),
}
ACCENTED = {",Retail,": ",Détail,", ",Healthcare,": ",Santé,"}


def _repeat(file: Path, rows: int, id_column: str, out: Path, encoding: str = "utf8") -> None:
    """``file``'s rows repeated to ``rows``, each copy's ids suffixed with its copy number."""
    frame = pl.read_csv(file, infer_schema=False, encoding=encoding, separator=_separator(file))
    copies = rows // frame.height + 1
    suffix = pl.int_range(pl.len()) // frame.height
    big = (
        pl.concat([frame] * copies)
        .head(rows)
        .with_columns(
            (pl.col(id_column) + "-" + suffix.cast(pl.String).str.zfill(7)).alias(id_column)
        )
    )
    text = big.write_csv(separator=_separator(file))
    out.write_bytes(text.encode(encoding))


def _separator(file: Path) -> str:
    return ";" if b";" in file.read_bytes().split(b"\n", 1)[0] else ","


def prepare(rows: int) -> Path:
    """Write (once) every shape's export of ``rows`` deals; return their parent folder."""
    import pipeline_kit as pk

    base = OUT / f"exports_{rows}"
    if (base / ".complete").exists():
        return base
    canonical = base / "canonical UTF-8"
    canonical.mkdir(parents=True, exist_ok=True)
    pk.synthetic.write(canonical, rows, 1)  # CSV; only deals, stages and history are kept
    for extra in canonical.iterdir():
        if extra.stem not in ("deals", "stages", "stage_history"):
            extra.unlink()
    latin = base / "canonical cp1252"
    latin.mkdir(exist_ok=True)
    for file in canonical.iterdir():
        text = file.read_text()
        for plain, accented in ACCENTED.items():
            text = text.replace(plain, accented)
        (latin / file.name).write_bytes(text.encode("cp1252"))
    salesforce = base / "salesforce"
    salesforce.mkdir(exist_ok=True)
    for file in (EXAMPLES / "salesforce").iterdir():
        if file.name == "Opportunity.csv":
            _repeat(file, rows, "Id", salesforce / file.name)
        elif file.name != "OpportunityHistory.csv":  # (its ids would no longer match)
            (salesforce / file.name).write_bytes(file.read_bytes())
    for shape, folder, id_column in (
        ("hubspot", "hubspot", "Record ID"),
        ("pipedrive", "pipedrive", "Deal - ID"),
    ):
        (base / shape).mkdir(exist_ok=True)
        (example,) = (EXAMPLES / folder).glob("*.csv")
        _repeat(example, rows, id_column, base / shape / example.name)
    mapped = base / "mapped (German)"
    mapped.mkdir(exist_ok=True)
    example = EXAMPLES / "other_crm" / "opportunities.csv"
    _repeat(example, rows, "Opp-Nr.", mapped / example.name, encoding="latin-1")
    from pipeline_kit.adapters.mapping import draft_mapping

    draft, _ = draft_mapping(example)
    (base / "mapping.toml").write_text(
        draft.replace("[deals.columns]\n", '[deals.columns]\ndeal_id = "Opp-Nr."\n', 1)
    )
    (base / ".complete").touch()
    return base


def _load(base: Path, shape: str) -> dict:
    import pipeline_kit as pk

    source, _ = SHAPES[shape]
    if source == "mapping":
        ds = pk.load(base / shape / "opportunities.csv", mapping=base / "mapping.toml")
    else:
        ds = pk.load(base / shape, source=source)
    deals = ds.counts.filter(pl.col("table") == "deals").row(0, named=True)
    return {"read": deals["read"], "valid": deals["valid"], "quarantined": deals["quarantined"]}


def _floor(base: Path, shape: str) -> dict:
    _, encoding = SHAPES[shape]
    for file in sorted((base / shape).glob("*.csv")):
        pl.read_csv(
            file, infer_schema=False, encoding=encoding, separator=_separator(file)
        )  # (the floor: every column read as text)
    return {}


def _child(engine: str, base: Path, shape: str, result: Path) -> None:
    for module in ("pipeline_kit", "pipeline_kit.loading", "polars"):
        importlib.import_module(module)
    wall, cpu = time.perf_counter(), time.process_time()
    summary = (_load if engine == "load" else _floor)(base, shape)
    summary.update(
        seconds=time.perf_counter() - wall,
        cpu_seconds=time.process_time() - cpu,
        peak_mb=engines._peak_mb(),
    )
    result.write_text(json.dumps(summary))


def _run(engine: str, base: Path, shape: str, tmp: Path) -> dict:
    result = tmp / f"{engine}-{shape}.json".replace(" ", "_")
    cmd = [sys.executable, __file__, "--child", engine, str(base), shape, str(result)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{shape} {engine}: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--results", action="store_true", help="rewrite bench/RESULTS.md")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.child[2], Path(args.child[3]))
        return 0
    base = prepare(args.rows)
    runs: dict[tuple[str, str], list[dict]] = {}
    loads = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for shape in args.shapes:
                for engine in ("load", "floor") if r % 2 == 0 else ("floor", "load"):
                    result = _run(engine, base, shape, Path(tmp))
                    runs.setdefault((shape, engine), []).append(result)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    lines = [
        f"`python bench/exports.py --rows {args.rows} --rounds {args.rounds}`: {args.rows:,} "
        f"deals per export; {args.rounds} interleaved rounds; load average (1 min) at the start "
        f"of the rounds: {engines._spread(loads)}.",
        "",
        "| export | files MB | read / valid / quarantined deals | pk.load wall s | CPU s "
        "| peak MB | floor wall s | load / floor |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for shape in args.shapes:
        load, floor = runs[(shape, "load")], runs[(shape, "floor")]
        size = sum(f.stat().st_size for f in (base / shape).glob("*.csv")) / 2**20
        ratios = [a["seconds"] / b["seconds"] for a, b in zip(load, floor, strict=True)]
        counts = f"{load[0]['read']:,} / {load[0]['valid']:,} / {load[0]['quarantined']:,}"
        lines.append(
            f"| {shape} | {size:,.0f} | {counts} | {engines._spread([x['seconds'] for x in load])} "
            f"| {engines._spread([x['cpu_seconds'] for x in load])} "
            f"| {statistics.median(x['peak_mb'] for x in load):,.0f} "
            f"| {engines._spread([x['seconds'] for x in floor])} | {engines._spread(ratios)}x |"
        )
    print("\n".join(lines))
    if args.results:
        _write_results(lines)
    return 0


def _write_results(lines: list[str]) -> None:
    """Replace the text between the exports table's two markers (the rest of the file stays)."""
    marker, end = "<!-- exports table: begin -->", "<!-- exports table: end -->"
    text = RESULTS.read_text()
    if marker not in text:
        raise SystemExit(f"bench/RESULTS.md has no {marker} line")
    head, _, rest = text.partition(marker)
    _, _, tail = rest.partition(end)
    RESULTS.write_text(head + marker + "\n\n" + "\n".join(lines) + "\n\n" + end + tail)


if __name__ == "__main__":
    raise SystemExit(main())
