"""Statistical comparisons against benchmarks, with verdicts a sales leader can read.

:func:`compare` sets each group's figure against three kinds of benchmark:

* ``external`` - a reference value from the benchmarks table (scope = the group, else ``all``);
* ``rest_of_org`` - every other group together (never a total that contains the group);
* ``trailing`` - the group's own previous quarters (quarter periods only).

Tests by kind of metric (all from scipy, see :mod:`pipeline_kit.stats`):

====================  ===============================  =======================  ===================
metric                vs external value                vs rest of organisation  vs trailing quarters
====================  ===============================  =======================  ===================
win_rate              exact binomial test              Fisher's exact test      Fisher's exact test
cycle_length_km_days  KM: log-log z-test, S(value)=.5  log-rank test            log-rank test
median_won_deal_size  sign test                        Mann-Whitney U           Mann-Whitney U
====================  ===============================  =======================  ===================

Rates carry Wilson intervals, cycle lengths Kaplan-Meier medians with their interval (open deals
censored), median deal sizes bootstrap (BCa) intervals (medians, because a few large deals
dominate means and the rank test compares locations, not means). All p-values of one call are
corrected together with Benjamini-Hochberg (``q_value``); a difference is called only when
``q < alpha``.

Minimum-n rule: a comparison needs at least ``min_n`` (default 20) observations in the group
(closed deals for win rate and deal size, closed deals of the cohort for cycle length) and, for
two-sample tests, in the benchmark group too. Below that no test is run and the verdict says
"not enough data".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats as sps

from pipeline_kit import stats
from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.formatting import fmt_days, fmt_money, fmt_pct
from pipeline_kit.metrics._common import as_period, check_by, group_columns
from pipeline_kit.periods import Period, parse_date
from pipeline_kit.stats import MIN_N

__all__ = [
    "COMPARE_COLUMNS",
    "compare",
    "compare_teams",
    "funnel_limits_curve",
    "mix_adjusted_win_rate",
    "rep_win_rates",
]

COMPARE_COLUMNS = [
    "metric",
    "group",
    "kind",
    "estimate",
    "ci_low",
    "ci_high",
    "benchmark",
    "difference",
    "test",
    "statistic",
    "p_value",
    "q_value",
    "n",
    "n_benchmark",
    "direction",
    "verdict",
    "warning",
]
METRICS = ("win_rate", "cycle_length_km_days", "median_won_deal_size")
_TITLE = {
    "win_rate": "win rate",
    "cycle_length_km_days": "median sales cycle (Kaplan-Meier)",
    "median_won_deal_size": "median won deal",
}
_FMT = {"win_rate": fmt_pct, "cycle_length_km_days": fmt_days, "median_won_deal_size": fmt_money}


@dataclass
class _Row:
    metric: str
    group: str
    kind: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    benchmark: float | None
    test: str
    statistic: float | None
    p_value: float | None
    n: int
    n_benchmark: int | None
    benchmark_label: str
    warning: str | None = None


def load_benchmarks(source: str | Path | pl.DataFrame | None, ds: Dataset) -> pl.DataFrame:
    """The benchmarks to use: a frame, a CSV path, or the dataset's own benchmarks table."""
    if source is None:
        return ds.tables.get(
            "benchmarks",
            pl.DataFrame(
                schema={
                    "metric": pl.String,
                    "value": pl.Float64,
                    "scope": pl.String,
                    "source": pl.String,
                }
            ),
        )
    if isinstance(source, pl.DataFrame):
        return source
    from pipeline_kit.adapters.base import RawTable, read_table_file
    from pipeline_kit.loading import validate_table
    from pipeline_kit.schema import describe_rule

    path = Path(source)
    if not path.exists():
        raise DataError(
            problem="benchmarks file not found", fix="pass an existing CSV file", file=str(path)
        )
    good, bad = validate_table(RawTable("benchmarks", read_table_file(path), str(path)))
    if bad.height:
        row = bad.row(0, named=True)
        problem, fix = describe_rule(row["rules"][0], "benchmarks")
        raise DataError(
            problem=f"{bad.height} row(s) unusable: {problem}",
            fix=fix,
            file=str(path),
            examples=[f"line {row['source_row']}: {row['record']}"],
        )
    return good


def _external(bench: pl.DataFrame, metric: str, group: str) -> tuple[float | None, str]:
    rows = bench.filter(pl.col("metric") == metric)
    for scope in (group, "all"):
        hit = rows.filter(pl.col("scope") == scope)
        if hit.height:
            return float(hit["value"][0]), str(hit["source"][0] or "benchmarks table")
    hit = rows.filter(pl.col("scope").is_null())
    if hit.height:
        return float(hit["value"][0]), str(hit["source"][0] or "benchmarks table")
    return None, ""


def _trailing_period(period: Period, quarters: int) -> Period | None:
    try:
        first = period.shift(-quarters)
    except ValueError:
        return None
    return Period(first.start, period.shift(-1).end, f"{first.label}..{period.shift(-1).label}")


# ----------------------------------------------------------------------------- per metric


def _win_rate_rows(frames, group, bench, min_n, trailing_label):
    cur, rest, trail = frames
    k, n = int(cur["won"].sum()), cur.height
    est = k / n if n else None
    low, high = _wilson(k, n)
    rows = []
    value, source = _external(bench, "win_rate", group)
    if value is not None:
        p = stats.binomial_test(k, n, value) if n >= min_n else None
        rows.append(
            _Row(
                "win_rate",
                group,
                "external",
                est,
                low,
                high,
                value,
                "exact binomial test",
                k,
                p,
                n,
                None,
                f"the benchmark ({source})",
            )
        )
    for kind, other, label in (
        ("rest_of_org", rest, "the rest of the organisation"),
        ("trailing", trail, trailing_label),
    ):
        if other is None:
            continue
        k2, n2 = int(other["won"].sum()), other.height
        ok = n >= min_n and n2 >= min_n
        odds, p = stats.fisher_test(k, n, k2, n2) if ok else (None, None)
        rows.append(
            _Row(
                "win_rate",
                group,
                kind,
                est,
                low,
                high,
                k2 / n2 if n2 else None,
                "Fisher's exact test",
                odds,
                p,
                n,
                n2,
                label,
            )
        )
    return rows


def _wilson(k: int, n: int) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    ci = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _cycle_rows(frames, group, bench, min_n, trailing_label):
    cur, rest, trail = frames
    d, e = cur["days"].to_numpy(), cur["event"].to_numpy()
    median, low, high = stats.kaplan_meier_median(d, e)
    events = int(e.sum())
    rows = []
    value, source = _external(bench, "cycle_length_km_days", group)
    if value is not None:
        z, p = stats.km_median_test(d, e, value) if events >= min_n else (None, None)
        rows.append(
            _Row(
                "cycle_length_km_days",
                group,
                "external",
                median,
                low,
                high,
                value,
                "Kaplan-Meier z-test of S(benchmark) = 0.5 (log-log)",
                z,
                p,
                events,
                None,
                f"the benchmark ({source})",
            )
        )
    for kind, other, label in (
        ("rest_of_org", rest, "the rest of the organisation"),
        ("trailing", trail, trailing_label),
    ):
        if other is None:
            continue
        d2, e2 = other["days"].to_numpy(), other["event"].to_numpy()
        ok = events >= min_n and int(e2.sum()) >= min_n
        z, p = stats.logrank_test(d, e, d2, e2) if ok else (None, None)
        rows.append(
            _Row(
                "cycle_length_km_days",
                group,
                kind,
                median,
                low,
                high,
                stats.kaplan_meier_median(d2, e2)[0],
                "log-rank test",
                z,
                p,
                events,
                int(e2.sum()),
                label,
            )
        )
    return rows


def _size_rows(frames, group, bench, min_n, trailing_label):
    cur, rest, trail = frames
    x = cur["amount"].to_numpy()
    n = x.size
    est = float(np.median(x)) if n else None
    low, high = stats.bootstrap_interval(x, np.median) if n >= 2 else (None, None)
    rows = []
    value, source = _external(bench, "median_won_deal_size", group)
    if value is not None:
        above, below = int((x > value).sum()), int((x < value).sum())
        # every amount equal to the benchmark: the sign test has nothing to count, and the
        # median is the benchmark (p = 1), rather than an error
        p = (
            (stats.binomial_test(above, above + below, 0.5) if above + below else 1.0)
            if n >= min_n
            else None
        )
        rows.append(
            _Row(
                "median_won_deal_size",
                group,
                "external",
                est,
                low,
                high,
                value,
                "sign test (bootstrap BCa interval)",
                above,
                p,
                n,
                None,
                f"the benchmark ({source})",
            )
        )
    for kind, other, label in (
        ("rest_of_org", rest, "the rest of the organisation"),
        ("trailing", trail, trailing_label),
    ):
        if other is None:
            continue
        y = other["amount"].to_numpy()
        ok = n >= min_n and y.size >= min_n
        u, p = stats.mann_whitney_test(x, y) if ok else (None, None)
        rows.append(
            _Row(
                "median_won_deal_size",
                group,
                kind,
                est,
                low,
                high,
                float(np.median(y)) if y.size else None,
                "Mann-Whitney U",
                u,
                p,
                n,
                int(y.size),
                label,
            )
        )
    return rows


# ----------------------------------------------------------------------------- entry point


def compare(
    ds: Dataset,
    period: str | Period,
    by: str = "team",
    *,
    benchmarks: str | Path | pl.DataFrame | None = None,
    metrics: tuple[str, ...] = METRICS,
    trailing_quarters: int = 4,
    as_of: str | dt.date | None = None,
    min_n: int = MIN_N,
    alpha: float = 0.05,
    mix: str | None = "lead_source",
) -> pl.DataFrame:
    """Every group's metrics against the external benchmark, the rest of the organisation and
    its own trailing quarters; one row per metric, group and kind of benchmark.

    Columns: :data:`COMPARE_COLUMNS` (``group`` holds the value of the ``by`` column; the
    ``by`` column itself is added too). ``direction`` is above / below / no clear difference /
    not enough data; ``verdict`` says it in a sentence. ``warning`` flags a crude win-rate
    verdict against the rest of the organisation that the ``mix``-adjusted rate (see
    :func:`mix_adjusted_win_rate`) does not support.

    >>> compare(ds, "2025-Q4").select("metric", "team", "kind", "verdict")  # doctest: +SKIP
    """
    period = as_period(period, ds)
    groups = group_columns(by)
    if len(groups) != 1:
        raise ValueError("compare groups by exactly one column, e.g. by='team'")
    col = groups[0]
    check_by(ds, "deals", [col])
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise KeyError(f"cannot compare {', '.join(unknown)}; comparable: {', '.join(METRICS)}")
    bench = load_benchmarks(benchmarks, ds)
    day = parse_date(as_of) or ds.last_date or period.end
    trailing = _trailing_period(period, trailing_quarters) if trailing_quarters else None
    trailing_label = (
        f"its own previous {trailing_quarters} quarters ({trailing.label})" if trailing else ""
    )
    deals = ds.lazy("deals").with_columns(pl.col(col).cast(pl.String).alias("_group"))
    closed = pl.col("status").is_in(["won", "lost"])

    def closed_in(p: Period) -> pl.DataFrame:
        return (
            deals.filter(closed & p.contains("closed_at"))
            .select("_group", pl.col("status").eq("won").alias("won"), "amount")
            .collect()
        )

    def cohort(p: Period) -> pl.DataFrame:
        done = pl.col("closed_at").is_not_null() & (pl.col("closed_at") <= day)
        end = pl.when(done).then(pl.col("closed_at")).otherwise(pl.lit(day))
        return (
            deals.filter(p.contains("created_at") & (pl.col("created_at") <= day))
            .select(
                "_group",
                (end - pl.col("created_at")).dt.total_days().cast(pl.Float64).alias("days"),
                done.alias("event"),
            )
            .collect()
        )

    data = {
        "win_rate": (closed_in(period), closed_in(trailing) if trailing else None),
        "cycle_length_km_days": (cohort(period), cohort(trailing) if trailing else None),
    }
    won_now = data["win_rate"][0].filter("won")
    won_before = data["win_rate"][1].filter("won") if trailing else None
    data["median_won_deal_size"] = (won_now, won_before)
    builders = {
        "win_rate": _win_rate_rows,
        "cycle_length_km_days": _cycle_rows,
        "median_won_deal_size": _size_rows,
    }

    names = sorted(
        set(data["win_rate"][0]["_group"].drop_nulls())
        | set(data["cycle_length_km_days"][0]["_group"].drop_nulls())
    )
    rows: list[_Row] = []
    for metric in metrics:
        current, before = data[metric]
        for name in names:
            cur = current.filter(pl.col("_group") == name)
            rest = current.filter(pl.col("_group") != name)
            trail = before.filter(pl.col("_group") == name) if before is not None else None
            rows += builders[metric]((cur, rest, trail), name, bench, min_n, trailing_label)

    if "win_rate" in metrics and mix:
        _add_mix_warnings(rows, ds, period, col, mix, min_n, alpha)
    first = ds.first_date
    if trailing is not None and first is not None and first > trailing.start:
        # the team's own past is cut short by the start of the export
        covered = max((trailing.end - first).days + 1, 0) / trailing.days
        for row in rows:
            if row.kind == "trailing":
                row.warning = (
                    f"The data starts on {first}, inside the previous four quarters "
                    f"({trailing.start} to {trailing.end}): the comparison with the team's "
                    f"own past covers {covered:.0%} of them, and a young history holds the "
                    "quick deals more than the slow ones."
                )
    return _finish(rows, col, alpha, min_n)


def compare_teams(ds: Dataset, period: Period) -> pl.DataFrame:
    """``compare(ds, period, by="team")``, computed once per dataset and period.

    The team reports and the organisation summary all read this one table: one
    Benjamini-Hochberg family for the organisation, so no document calls a difference the
    others do not, and a kernel running many reports computes it once
    (:meth:`Dataset.memoised`).
    """
    return ds.memoised(("compare", "team", period.label), lambda: compare(ds, period, by="team"))


def _finish(rows: list[_Row], col: str, alpha: float, min_n: int = MIN_N) -> pl.DataFrame:
    q = stats.benjamini_hochberg(
        np.array([r.p_value if r.p_value is not None else np.nan for r in rows])
    )
    records = []
    for r, q_value in zip(rows, q, strict=True):
        q_value = None if np.isnan(q_value) else float(q_value)
        diff = (
            r.estimate - r.benchmark if r.estimate is not None and r.benchmark is not None else None
        )
        direction = _direction(r, q_value, diff, alpha)
        records.append(
            {
                "metric": r.metric,
                "group": r.group,
                "kind": r.kind,
                "estimate": r.estimate,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "benchmark": r.benchmark,
                "difference": diff,
                "test": r.test,
                "statistic": r.statistic if r.p_value is not None else None,  # no test ran
                "p_value": r.p_value,
                "q_value": q_value,
                "n": r.n,
                "n_benchmark": r.n_benchmark,
                "direction": direction,
                "verdict": _verdict(r, q_value, direction, min_n),
                # the mix check qualifies a difference the verdict calls (q, not the raw p)
                "warning": r.warning if direction in ("above", "below") else None,
            }
        )
    schema = {
        "metric": pl.String,
        "group": pl.String,
        "kind": pl.String,
        "estimate": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "benchmark": pl.Float64,
        "difference": pl.Float64,
        "test": pl.String,
        "statistic": pl.Float64,
        "p_value": pl.Float64,
        "q_value": pl.Float64,
        "n": pl.Int64,
        "n_benchmark": pl.Int64,
        "direction": pl.String,
        "verdict": pl.String,
        "warning": pl.String,
    }
    frame = pl.DataFrame(records, schema=schema, orient="row")
    return frame.with_columns(pl.col("group").alias(col)).select(
        "metric", col, *[c for c in COMPARE_COLUMNS if c != "metric"]
    )


def _direction(r: _Row, q: float | None, diff: float | None, alpha: float) -> str:
    if r.p_value is None or q is None:
        return "not enough data"
    if q < alpha and diff is not None and diff != 0:
        return "above" if diff > 0 else "below"  # for cycle length, above = longer
    return "no clear difference"


def _verdict(r: _Row, q: float | None, direction: str, min_n: int = MIN_N) -> str:
    fmt = _FMT[r.metric]
    title = _TITLE[r.metric]
    if direction == "not enough data":
        sides = "" if r.kind == "external" else " on each side"  # one sample vs a value
        return (
            f"{r.group}: not enough data to compare the {title} with {r.benchmark_label} "
            f"(n = {r.n}; at least {min_n} needed{sides})."
        )
    if r.ci_high is None or np.isnan(r.ci_high):
        est = f"{fmt(r.estimate)} (95% CI from {fmt(r.ci_low)}; upper end not reached)"
    else:
        est = f"{fmt(r.estimate)} (95% CI {fmt(r.ci_low)} to {fmt(r.ci_high)})"
    q_text = "q < 0.001" if q < 0.001 else f"q = {q:.3f}"
    if direction == "no clear difference":
        return (
            f"{r.group}: {title} {est} shows no clear difference from {r.benchmark_label} "
            f"({fmt(r.benchmark)}; q = {q:.2f})."
        )
    word = "higher than" if direction == "above" else "lower than"
    if r.metric == "cycle_length_km_days":
        word = "longer than" if direction == "above" else "shorter than"
    return f"{r.group}: {title} {est} is {word} {r.benchmark_label} ({fmt(r.benchmark)}; {q_text})."


# ----------------------------------------------------------------------------- Simpson guard


def mix_adjusted_win_rate(
    ds: Dataset,
    period: str | Period,
    by: str = "team",
    *,
    mix: str = "lead_source",
    min_n: int = MIN_N,
    min_cell: int = 5,
) -> pl.DataFrame:
    """Win rate per group, crude and standardised to the organisation's ``mix``.

    Direct standardisation: ``adjusted = sum_s w_s x rate(group, s)``, where ``w_s`` is the
    organisation's share of closed deals in stratum ``s`` (e.g. lead source). When a group's
    crude rate differs from the organisation's mostly because it sells through a different mix,
    the adjusted rate says so (Simpson's paradox). Strata in which the group closed fewer than
    ``min_cell`` deals are too sparse to stand for the group (a 3-deal stratum with no win
    would carry its whole weight at 0%): they borrow the organisation's rate for that
    stratum, with that rate's own uncertainty, and are counted in ``strata_filled``. Each
    stratum's variance uses the Agresti-Coull rate ``(won + 2) / (n + 4)``, so a stratum with
    no win still adds uncertainty. Normal-approximation 95% interval. Columns: by, n, crude,
    adjusted, ci_low, ci_high (of adjusted), org_rate, strata_filled, enough_data.
    """
    period = as_period(period, ds)
    check_by(ds, "deals", [by, mix])
    closed = (
        ds.lazy("deals")
        .filter(pl.col("status").is_in(["won", "lost"]) & period.contains("closed_at"))
        .with_columns(pl.col(mix).fill_null("(unknown)"), pl.col("status").eq("won").alias("won"))
    )
    org = closed.group_by(mix).agg(
        pl.len().alias("org_n"),
        pl.col("won").mean().alias("org_s"),
        pl.col("won").sum().alias("org_k"),
    )
    total = closed.select(pl.len().alias("total"), pl.col("won").mean().alias("org_rate"))
    weights = org.join(total, how="cross").with_columns(
        (pl.col("org_n") / pl.col("total")).alias("w")
    )
    cell = closed.group_by(by, mix).agg(
        pl.len().alias("n_s"),
        pl.col("won").mean().alias("r_s"),
        pl.col("won").sum().alias("k_s"),
    )
    groups = closed.select(by).unique()
    grid = groups.join(weights, how="cross").join(cell, on=[by, mix], how="left")
    filled = pl.col("n_s").fill_null(0) < min_cell  # empty or too sparse: borrow
    rate = pl.when(filled).then(pl.col("org_s")).otherwise(pl.col("r_s"))
    own_ac = (pl.col("k_s") + 2) / (pl.col("n_s") + 4)  # Agresti-Coull
    org_ac = (pl.col("org_k") + 2) / (pl.col("org_n") + 4)
    var = (
        pl.when(filled)
        .then(org_ac * (1 - org_ac) / (pl.col("org_n") + 4))
        .otherwise(own_ac * (1 - own_ac) / (pl.col("n_s") + 4))
    )
    out = grid.group_by(by).agg(
        pl.col("n_s").sum().cast(pl.Int64).alias("n"),
        (
            (pl.col("r_s").fill_null(0) * pl.col("n_s").fill_null(0)).sum() / pl.col("n_s").sum()
        ).alias("crude"),
        (pl.col("w") * rate).sum().alias("adjusted"),
        ((pl.col("w") ** 2) * var).sum().sqrt().alias("_se"),
        pl.col("org_rate").first(),
        filled.sum().cast(pl.Int64).alias("strata_filled"),
    )
    z = float(sps.norm.ppf(0.975))
    return (
        out.with_columns(
            (pl.col("adjusted") - z * pl.col("_se")).clip(0, 1).alias("ci_low"),
            (pl.col("adjusted") + z * pl.col("_se")).clip(0, 1).alias("ci_high"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .drop("_se")
        .sort(by)
        .select(
            by,
            "n",
            "crude",
            "adjusted",
            "ci_low",
            "ci_high",
            "org_rate",
            "strata_filled",
            "enough_data",
        )
        .collect()
    )


def _add_mix_warnings(rows, ds, period, col, mix, min_n, alpha) -> None:
    if (
        mix not in ds.tables["deals"].columns
        or ds.tables["deals"][mix].null_count() == ds.deals.height
    ):
        return
    adjusted = {
        r[col]: r
        for r in mix_adjusted_win_rate(ds, period, col, mix=mix, min_n=min_n).iter_rows(named=True)
    }
    for row in rows:
        if row.metric != "win_rate" or row.kind != "rest_of_org" or row.p_value is None:
            continue
        adj = adjusted.get(row.group)
        if adj is None or row.benchmark is None:
            continue
        crude_side = np.sign((row.estimate or 0) - row.benchmark)
        excludes = adj["ci_low"] > adj["org_rate"] or adj["ci_high"] < adj["org_rate"]
        adj_side = np.sign(adj["adjusted"] - adj["org_rate"]) if excludes else 0
        if row.p_value < alpha and adj_side != crude_side:
            row.warning = (
                f"Mix check: standardised to the organisation's {mix} mix the win rate is "
                f"{fmt_pct(adj['adjusted'])} (95% CI {fmt_pct(adj['ci_low'])} to "
                f"{fmt_pct(adj['ci_high'])}) against {fmt_pct(adj['org_rate'])} overall: "
                f"the crude difference may come from the {mix} mix, not from selling better "
                "or worse."
            )


# ----------------------------------------------------------------------------- reps


def rep_win_rates(
    ds: Dataset,
    period: str | Period,
    by: str = "owner",
    *,
    scope: pl.Expr | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Rep win rates that survive small n: empirical-Bayes shrinkage and funnel-plot limits.

    * ``shrunk`` = posterior mean under a Beta(a, b) prior fitted by maximum likelihood
      (beta-binomial) to *every* rep of the dataset: ``(won + a) / (n + a + b)``, with a
      ``ci_low`` / ``ci_high`` posterior interval. The prior counts for at most as
      many deals as the average rep closed (``a + b <= mean n``): its centre, the
      organisation's rate, is itself estimated, and a prior that pretends otherwise (the
      maximum-likelihood fit runs to complete pooling when reps differ little) gave intervals
      that covered the reps' true rates 35-70% of the time in simulation (``bench/coverage.py``).
      A rep with 4 deals moves most of the way to the organisation's rate; one with 80 keeps
      most of their own.
    * funnel limits: the range of win rates a rep with this many closed deals would show 95%
      (``funnel_low95``/``high95``) and 99.8% of the time if they won at the organisation's
      rate (``org_rate``: every rep's deals).
    * ``p_value``: exact binomial test against the organisation's rate, ``q_value`` Benjamini-
      Hochberg over the reps returned; ``flag`` is "above" / "below" only when ``q < 0.05``.

    ``scope`` (an expression over deals, e.g. ``pl.col("team") == "EMEA"``) returns the reps
    of those deals only, shrunk towards the whole organisation with the prior fitted on it:
    a team's five reps are too few to fit a prior of their own.
    """
    period = as_period(period, ds)
    check_by(ds, "deals", [by])
    closed = ds.lazy("deals").filter(
        pl.col("status").is_in(["won", "lost"]) & period.contains("closed_at")
    )

    def per_rep(frame: pl.LazyFrame) -> pl.DataFrame:
        return (
            frame.group_by(by)
            .agg(
                pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
                pl.len().cast(pl.Int64).alias("n"),
            )
            .sort(by)
            .collect()
        )

    everyone = per_rep(closed)
    reps = per_rep(closed.filter(scope)) if scope is not None else everyone
    if reps.height == 0:
        return reps
    k_all, n_all = everyone["won"].to_numpy(), everyone["n"].to_numpy()
    org = k_all.sum() / n_all.sum()
    a, b = stats.fit_beta_binomial(k_all, n_all)
    strength = float(n_all.mean())
    if a + b > strength:  # an honest prior: no more deals than an average rep's record
        a, b = a * strength / (a + b), b * strength / (a + b)
    k, n = reps["won"].to_numpy(), reps["n"].to_numpy()
    tail = (1 - confidence) / 2
    post_low = sps.beta.ppf(tail, k + a, n - k + b)
    post_high = sps.beta.isf(tail, k + a, n - k + b)
    low95, high95 = stats.funnel_limits(org, n, 0.95)
    low998, high998 = stats.funnel_limits(org, n, 0.998)
    p = np.array([stats.binomial_test(ki, ni, org) for ki, ni in zip(k, n, strict=True)])
    q = stats.benjamini_hochberg(p)
    rate = k / n
    flag = np.where(q < 0.05, np.where(rate > org, "above", "below"), "")
    return reps.with_columns(
        pl.Series("rate", rate),
        pl.Series("shrunk", (k + a) / (n + a + b)),
        pl.Series("ci_low", post_low),
        pl.Series("ci_high", post_high),
        pl.lit(float(org)).alias("org_rate"),
        pl.Series("funnel_low95", low95),
        pl.Series("funnel_high95", high95),
        pl.Series("funnel_low998", low998),
        pl.Series("funnel_high998", high998),
        pl.Series("p_value", p),
        pl.Series("q_value", q),
        pl.Series("flag", flag),
        pl.lit(a).alias("prior_a"),
        pl.lit(b).alias("prior_b"),
    )


def funnel_limits_curve(org_rate: float, max_n: int, points: int = 60) -> pl.DataFrame:
    """Funnel-plot control limits on a grid of sample sizes 1..``max_n`` (for charts):
    ``n``, ``low95``, ``high95``, ``low998``, ``high998``."""
    n = np.unique(np.geomspace(1, max(max_n, 2), points).round().astype(int))
    low95, high95 = stats.funnel_limits(org_rate, n, 0.95)
    low998, high998 = stats.funnel_limits(org_rate, n, 0.998)
    return pl.DataFrame(
        {"n": n, "low95": low95, "high95": high95, "low998": low998, "high998": high998}
    )
