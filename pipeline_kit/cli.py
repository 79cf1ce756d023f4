"""Command line: ``pipeline-kit <command>``; ``pipeline-kit --help`` lists the commands.

Exit status: 0 success; 1 some team reports (or their PDF or workbook) failed; 2 the input
cannot be used (the message names the file, column and example rows, and says what to do; no
traceback).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pipeline_kit.errors import DataError

EXIT_OK, EXIT_REPORT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _data_location(value: str) -> Path | str:
    """A --data value: a folder or file, or a database URI kept as written."""
    from pipeline_kit.adapters.database import is_database_uri

    return value if is_database_uri(value) else Path(value)


def _shown(data: Path | str) -> str:
    """--data as it may be printed: a database URI without its password."""
    from pipeline_kit.adapters.database import redact

    return redact(data) if isinstance(data, str) else str(data)


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data_path",
        nargs="?",
        type=_data_location,
        metavar="DATA",
        help="the export: as --data (either form)",
    )
    parser.add_argument(
        "--data",
        type=_data_location,
        help="folder with the export (deals.csv, ... or a known format), or a database: "
        "duckdb:///path/to.db, postgresql://user@host:port/db (needs pipeline_kit[db])",
    )
    parser.add_argument(
        "--source",
        default="auto",
        help="export format: auto (default: canonical, or the CRM export recognised by its "
        "file names and headers), canonical, salesforce, hubspot, pipedrive or maven",
    )
    parser.add_argument(
        "--mapping",
        type=Path,
        help="mapping file (TOML) for any other export: files, column names, value maps, "
        "date format (draft one with `pipeline-kit inspect PATH`)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep validated datasets here (default: the user's cache folder); a second run "
        "on an unchanged export reads them instead of validating again",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="do not read or write the validated cache"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="adapter option, repeatable: e.g. --option team=parent_role --option "
        "reporting_currency=EUR --option 'rates={\"EUR\": 0.92}' (JSON values accepted)",
    )


def _load_options(args: argparse.Namespace) -> dict:
    """pk.load keyword arguments from --mapping and --option KEY=VALUE."""
    import json

    options: dict = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataError(
                problem=f"--option {item!r} is not KEY=VALUE",
                fix="write it as --option team=parent_role",
            )
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    if args.mapping is not None:
        options["mapping"] = args.mapping
    if not args.no_cache:
        options["cache_dir"] = str(args.cache) if args.cache else True
    return options


def _load(args: argparse.Namespace):
    from pipeline_kit.loading import load

    return load(args.data, source=args.source, **_load_options(args))


def build_parser() -> argparse.ArgumentParser:
    """The ``pipeline-kit`` command line: one subcommand per task."""
    parser = argparse.ArgumentParser(
        prog="pipeline-kit", description="Sales-pipeline metrics and reports from CRM exports."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample", help="write a synthetic dataset (every canonical table)")
    p.add_argument("--deals", type=int, default=5_000, help="number of deals (default 5000)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")

    p = sub.add_parser("validate", help="check an export; list quarantined rows and why")
    _add_data_args(p)
    p.add_argument("--quarantine", type=Path, help="also write every quarantined row to this CSV")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 when any row is quarantined, not only when nothing is usable",
    )

    p = sub.add_parser("metrics", help="compute metrics into a long CSV")
    _add_data_args(p)
    p.add_argument(
        "--period",
        required=True,
        help="2025-Q4, 2025-11, 2025, 2025-10-01..2025-12-31, or latest "
        "(the last complete quarter in the data)",
    )
    p.add_argument("--as-of", help="snapshot date YYYY-MM-DD (default: last day of the period)")
    p.add_argument("--by", nargs="*", default=[], help="group columns, e.g. team owner")
    p.add_argument("--metric", nargs="*", default=[], help="metric names (default: all)")
    p.add_argument(
        "--xlsx",
        action="store_true",
        help="also write an Excel workbook beside the CSV (same name, .xlsx): the metrics, "
        "and the definition of each",
    )
    p.add_argument(
        "--lang",
        default="en",
        help="language of the workbook's definitions: en (default), zh-Hans, zh-Hant or ms",
    )
    p.add_argument("--out", required=True, type=Path, help="CSV file to write")

    p = sub.add_parser("report", help="run the per-team report and write HTML + index")
    _add_data_args(p)
    p.add_argument(
        "--period",
        required=True,
        help="reporting period, e.g. 2025-Q4, or latest (last complete quarter)",
    )
    p.add_argument("--as-of", help="snapshot date YYYY-MM-DD (default: last day of the period)")
    p.add_argument("--team", nargs="*", default=[], help="only these teams (default: all)")
    p.add_argument(
        "--jobs", type=int, default=None, help="teams run at once (default: the number of cores)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds one team's report may take before it is stopped and listed as "
        "failed (default 900)",
    )
    p.add_argument(
        "--static-charts",
        action="store_true",
        help="charts as SVG images that need no JavaScript (e-mail, print); slower to build. "
        "Default: interactive charts, Vega inlined in each page",
    )
    p.add_argument(
        "--pdf",
        action="store_true",
        help="also print each report to <team>.pdf beside its HTML (contents, a page per "
        "section), with Debian's headless chromium (apt-get install chromium)",
    )
    p.add_argument(
        "--xlsx",
        action="store_true",
        help="also write each team's report tables to <team>.xlsx (a sheet per table, number "
        "formats, definitions)",
    )
    p.add_argument(
        "--lang",
        default="en",
        help="language of the reports: en (default), zh-Hans, zh-Hant or ms",
    )
    p.add_argument(
        "--currency",
        default="USD",
        help="ISO 4217 code of the amounts, e.g. USD (default), EUR, MYR, CNY, TWD",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")

    p = sub.add_parser("compare", help="test each group against benchmarks; verdicts as CSV")
    _add_data_args(p)
    p.add_argument("--period", required=True, help="e.g. 2025-Q4, or latest")
    p.add_argument("--by", default="team", help="one group column (default team)")
    p.add_argument(
        "--benchmarks",
        type=Path,
        help="benchmarks CSV (metric, value, scope, source, ...); default: the "
        "dataset's own benchmarks table",
    )
    p.add_argument(
        "--metric",
        nargs="*",
        default=[],
        help="win_rate cycle_length_km_days median_won_deal_size (default: all)",
    )
    p.add_argument("--as-of", help="read cohort outcomes at this date (default: last date)")
    p.add_argument("--min-n", type=int, default=20, help="minimum n for a verdict (default 20)")
    p.add_argument("--out", required=True, type=Path, help="CSV file to write")

    p = sub.add_parser("forecast", help="the period's bookings as a distribution (P10/P50/P90)")
    _add_data_args(p)
    p.add_argument(
        "--period",
        default="current",
        help="period to forecast, e.g. 2026-Q1; 'current' (default) = the quarter still "
        "running after --as-of",
    )
    p.add_argument("--as-of", help="forecast day YYYY-MM-DD (default: the data's last day)")
    p.add_argument("--by", nargs="*", default=[], help="group columns, e.g. team")
    p.add_argument("--draws", type=int, default=4000, help="Monte Carlo draws (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--deals", type=Path, help="also write each open deal's chance to this CSV")
    p.add_argument("--out", required=True, type=Path, help="CSV file to write (one row per group)")

    p = sub.add_parser(
        "backtest", help="forecast every past quarter again from what was known, and score it"
    )
    _add_data_args(p)
    p.add_argument("--by", nargs="*", default=[], help="group columns, e.g. team")
    p.add_argument(
        "--checkpoints",
        choices=["start", "monthly", "weekly"],
        default="monthly",
        help="when each quarter is forecast (default: its start and each month end)",
    )
    p.add_argument("--periods", nargs="*", default=[], help="quarters (default: all with history)")
    p.add_argument("--draws", type=int, default=2000, help="Monte Carlo draws (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="CSV of every forecast and its scores; <name>_summary.csv, <name>_skill.csv and "
        "<name>_calibration.csv are written beside it",
    )

    p = sub.add_parser("explain", help="show a metric's definition card (or list them)")
    p.add_argument("metric", nargs="?", help="metric name; omit to list all")
    p.add_argument(
        "--lang",
        default="en",
        help="language of the card: en (default), zh-Hans, zh-Hant or ms",
    )

    p = sub.add_parser(
        "inspect",
        help="draft a mapping file for any other export (which file is which table, columns, "
        "status words, date format, decimal comma, encoding)",
    )
    p.add_argument("path", type=Path, help="the export's folder, or one CSV file")
    p.add_argument("--out", type=Path, help="write the mapping here (default: print it)")
    return parser


def _sample(args: argparse.Namespace) -> int:
    from pipeline_kit import synthetic

    if args.deals < 1:
        raise DataError(problem="--deals must be at least 1", fix="pass --deals 5000, say")
    paths = synthetic.write(args.out, args.deals, args.seed, args.format)
    print(f"wrote {len(paths)} tables for {args.deals:,} deals (seed {args.seed}) to {args.out}")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    ds = _load(args)
    report = ds.report()
    if args.strict and (ds.usable or ds.leads_only) and ds.quarantine.height:
        report = re.sub(
            r"^Usable: yes.*$",
            f"Usable: yes, but --strict fails: {ds.quarantine.height:,} row(s) quarantined.",
            report,
            flags=re.MULTILINE,
        )
    print(report)
    if args.quarantine:
        ds.quarantine.with_columns(ds.quarantine["rules"].list.join("; ")).write_csv(
            args.quarantine
        )
        print(f"\nquarantined rows written to {args.quarantine}")
    if not (ds.usable or ds.leads_only) or (args.strict and ds.quarantine.height):
        return EXIT_BAD_INPUT
    return EXIT_OK


def _metrics(args: argparse.Namespace) -> int:
    from pipeline_kit.metrics import metrics_long
    from pipeline_kit.metrics._common import as_date
    from pipeline_kit.periods import check_covered, resolve_period

    ds = _load(args)
    if not ds.leads_only:  # (leads alone: the lead figures)
        ds.require_usable()
    period = resolve_period(args.period, ds.last_date, ds.first_date)
    check_covered(period, as_date(args.as_of, ds), ds.first_date, ds.last_date, undated=ds.undated)
    if args.as_of:
        print(
            f"note: --as-of {args.as_of} is the snapshot day and the day cohorts are read; "
            f"period metrics (win rate, deal flow, deal size, ...) count all of {period.label} "
            "(the as_of column says which rows used it)",
            file=sys.stderr,
        )
    frame = metrics_long(
        ds, period, as_of=args.as_of, by=args.by or None, metrics=args.metric or None
    )
    _write_csv(frame, args.out)
    print(f"wrote {frame.height:,} rows ({frame['metric'].n_unique()} metrics) to {args.out}")
    if args.xlsx:
        from pipeline_kit.excel import write_metrics_workbook

        workbook = args.out.with_suffix(".xlsx")
        write_metrics_workbook(frame, workbook, lang=args.lang)
        print(f"wrote the workbook {workbook}")
    if ds.quarantine.height:
        print(
            f"note: {ds.quarantine.height:,} input rows were quarantined and are not counted; "
            f"run `pipeline-kit validate --data {_shown(args.data)}` for details",
            file=sys.stderr,
        )
    return EXIT_OK


def _output_folder(folder: Path) -> None:
    """Create ``folder`` if needed, but only it: a missing parent is more likely a typo."""
    if folder.exists():
        if not folder.is_dir():
            raise DataError(
                problem="--out exists and is not a folder",
                fix="pick another path",
                file=str(folder),
            )
        return
    if not folder.parent.exists():
        raise DataError(
            problem=f"the folder {folder.parent} does not exist",
            fix="create it first, or check the path given with --out",
            file=str(folder),
        )
    folder.mkdir()


def _write_csv(frame, path: Path) -> None:
    """Write ``frame`` to ``path`` atomically.

    On a full disk (or any OS error): a message and no partial file.
    """
    from pipeline_kit._files import write_atomic

    _output_folder(path.parent)
    try:
        write_atomic(path, frame.write_csv())
    except OSError as exc:
        raise DataError(
            problem=f"the file cannot be written: {exc.strerror or exc}",
            fix="free some disk space or pick another --out; nothing was written",
            file=str(path),
        ) from exc


def _report(args: argparse.Namespace) -> int:
    from pipeline_kit.reports import run_reports

    _output_folder(args.out)

    results = run_reports(
        args.data,
        args.period,
        args.out,
        source=args.source,
        load_options=_load_options(args),
        teams=args.team or None,
        as_of=args.as_of,
        jobs=args.jobs,
        static_charts=args.static_charts,
        timeout=args.timeout,
        pdf=args.pdf,
        xlsx=args.xlsx,
        lang=args.lang,
        currency=args.currency,
    )
    for r in results:
        state = "ok" if r.ok else f"FAILED: {r.error}"
        if r.ok and r.section_errors:
            state += (
                f", but {len(r.section_errors)} section(s) could not be produced "
                f"({', '.join(r.section_errors)}; see {r.slug}.log)"
            )
        if r.export_errors:
            state += f"; {'; '.join(r.export_errors)}"
        print(f"{r.team}: {state} ({r.seconds:.1f} s)")
    print(f"index: {args.out / 'index.html'}")
    failed = any(not r.ok or r.export_errors for r in results)
    return EXIT_REPORT_FAILED if failed else EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from pipeline_kit.comparisons import METRICS, compare
    from pipeline_kit.metrics._common import as_date
    from pipeline_kit.periods import check_covered, resolve_period

    ds = _load(args)
    if not ds.leads_only:  # (leads alone: the lead figures)
        ds.require_usable()
    period = resolve_period(args.period, ds.last_date, ds.first_date)
    check_covered(period, as_date(args.as_of, ds), ds.first_date, ds.last_date, undated=ds.undated)
    frame = compare(
        ds,
        period,
        by=args.by,
        benchmarks=args.benchmarks,
        metrics=tuple(args.metric) or METRICS,
        as_of=args.as_of,
        min_n=args.min_n,
    )
    _write_csv(frame, args.out)
    called = frame.filter(frame["direction"].is_in(["above", "below"]))
    print(
        f"wrote {frame.height} comparisons to {args.out}; {called.height} clear differences "
        f"(Benjamini-Hochberg q < 0.05), "
        f"{(frame['direction'] == 'not enough data').sum()} without enough data"
    )
    for verdict in called["verdict"]:
        print(f"- {verdict}")
    return EXIT_OK


def _forecast(args: argparse.Namespace) -> int:
    from pipeline_kit.forecasting import forecast

    ds = _load(args)
    ds.require_usable()
    result = forecast(
        ds, args.period, as_of=args.as_of, by=args.by or None, draws=args.draws, seed=args.seed
    )
    _write_csv(result.summary, args.out)
    print(
        f"forecast of {result.period.label} as of {result.as_of} "
        f"({args.draws:,} draws, seed {args.seed}) written to {args.out}"
    )
    for row in result.summary.iter_rows(named=True):
        who = " / ".join(str(row[g]) for g in result.by) or "all"
        chance = (
            f"; {row['p_reach_target']:.0%} chance of the target {row['target']:,.0f}"
            if row["p_reach_target"] is not None
            else ""
        )
        print(
            f"- {who}: P10 {row['p10']:,.0f}, P50 {row['p50']:,.0f}, P90 {row['p90']:,.0f}{chance}"
        )
        if row["note"]:
            print(f"  note: {row['note']}")
    if args.deals:
        _write_csv(result.deals, args.deals)
        print(f"open deals and their chance of closing in the period: {args.deals}")
    return EXIT_OK


def _backtest(args: argparse.Namespace) -> int:
    from pipeline_kit.forecasting import backtest_forecast, probability_calibration

    ds = _load(args)
    ds.require_usable()
    bt = backtest_forecast(
        ds,
        periods=args.periods or None,
        checkpoints=args.checkpoints,
        by=args.by or None,
        draws=args.draws,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    if bt.forecasts.is_empty():
        raise DataError(
            problem="no quarter has enough history before it to be back-tested",
            fix="a backtest needs at least three complete quarters of data (two to learn from)",
            file=_shown(args.data),
        )
    _write_csv(bt.forecasts, args.out)
    stem = args.out.with_suffix("")
    calibration = probability_calibration(ds, bt)
    extra = {
        "summary": bt.summary(),
        "skill": bt.skill(),
        "calibration": calibration.scores,
    }
    for name, frame in extra.items():
        _write_csv(frame, Path(f"{stem}_{name}.csv"))
    model = bt.summary().filter(bt.summary()["method"] == "model")
    print(
        f"wrote {bt.forecasts.height:,} scored forecasts to {args.out} (+ summary, skill, "
        "calibration)"
    )
    for row in model.iter_rows(named=True):
        print(
            f"- model at {row['checkpoint']}: {row['scored']} forecasts, 80% interval covered "
            f"{row['coverage_80']:.0%}, median absolute error {row['median_ape']:.1%}"
        )
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    from pipeline_kit.catalogue import explain
    from pipeline_kit.forecasting.cards import FORECAST_CARDS
    from pipeline_kit.metrics import metric_names

    if not args.metric:
        print("\n".join(metric_names()))
        print("\n# forecast figures\n" + "\n".join(FORECAST_CARDS))
        return EXIT_OK
    print(explain(args.metric, lang=args.lang))
    return EXIT_OK


def _inspect(args: argparse.Namespace) -> int:
    from pipeline_kit.adapters.detect import LABELS, recognise
    from pipeline_kit.adapters.mapping import draft_mapping

    text, guesses = draft_mapping(args.path)
    said = "\n".join(f"- {g}" for g in guesses)
    try:
        known = recognise(Path(args.path))
    except DataError:  # (claimed by two adapters: validate says so)
        known = None
    if known is not None:
        from pipeline_kit.adapters import get_adapter

        try:  # (said readable only when its adapter reads it: a label in another language)
            get_adapter(known[0])(Path(args.path))
        except DataError as exc:
            print(
                f"This looks like a {LABELS[known[0]]} export (recognised by {known[1]}), but "
                f"the {LABELS[known[0]]} reader cannot read it: {exc.problem}. Load it with "
                "the mapping drafted below (--mapping).",
                file=sys.stderr,
            )
        else:
            print(
                f"This is a {LABELS[known[0]]} export (recognised by {known[1]}): `pipeline-kit "
                f"validate {args.path}` reads it as it is, without a mapping. The draft below "
                "is for reading it otherwise.",
                file=sys.stderr,
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: check every line, fill the ? lines, then load with it")
        print(f"What was guessed:\n{said}")
    else:  # the mapping on stdout (redirectable), the guesses on stderr
        print(text, end="")
        print(f"What was guessed:\n{said}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "sample": _sample,
    "validate": _validate,
    "metrics": _metrics,
    "report": _report,
    "compare": _compare,
    "forecast": _forecast,
    "backtest": _backtest,
    "explain": _explain,
    "inspect": _inspect,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipeline-kit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if "data_path" in args:  # the export, given as DATA or as --data DATA
        given = {str(d): d for d in (args.data_path, args.data) if d is not None}
        if not given:
            parser.error(f"{args.command}: the export is required: give DATA (or --data DATA)")
        if len(given) > 1:
            parser.error(f"the export is given twice, differently: {' and '.join(given)}")
        args.data = next(iter(given.values()))
    try:
        return COMMANDS[args.command](args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, KeyError) as exc:  # bad period, unknown metric, ...
        message = exc.args[0] if exc.args else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
