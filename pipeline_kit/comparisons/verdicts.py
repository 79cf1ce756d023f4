"""From tests to verdicts: Benjamini-Hochberg q-values over all the tests of one call.

Then the direction of each difference, and the sentence a sales leader reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import polars as pl

from pipeline_kit import stats
from pipeline_kit.comparisons.significance import TREATED_AS_EXACT, ComparisonRow
from pipeline_kit.formatting import Formatter, fmt_days, fmt_money, fmt_pct
from pipeline_kit.i18n import N_
from pipeline_kit.stats import MIN_N

__all__ = [
    "COMPARE_COLUMNS",
    "direction",
    "localised_verdict",
    "sentence",
    "verdict",
    "verdict_table",
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
_SCHEMA: dict[str, type[pl.DataType]] = {
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
_TITLE = {
    "win_rate": N_("win rate"),
    "cycle_length_km_days": N_("median sales cycle (Kaplan-Meier)"),
    "median_won_deal_size": N_("median won deal"),
}
_FMT: dict[str, Callable[..., str]] = {
    "win_rate": fmt_pct,
    "cycle_length_km_days": fmt_days,
    "median_won_deal_size": fmt_money,
}


def verdict_table(
    rows: list[ComparisonRow], col: str, alpha: float, min_n: int = MIN_N
) -> pl.DataFrame:
    """The rows as :data:`COMPARE_COLUMNS` with q-values, directions and verdicts.

    Plus ``col``, a copy of ``group``; the q-values are corrected together
    (Benjamini-Hochberg).

    ``difference = estimate - benchmark``; ``statistic`` is null where no test ran; a
    ``warning`` is kept only on a difference the verdict calls (above or below), except a
    row's ``keep_warning`` one (little information), kept wherever a test ran.
    """
    q = stats.benjamini_hochberg(
        np.array([r.p_value if r.p_value is not None else np.nan for r in rows])
    )
    records = []
    for r, q_raw in zip(rows, q, strict=True):
        q_value = None if np.isnan(q_raw) else float(q_raw)
        diff = (
            r.estimate - r.benchmark if r.estimate is not None and r.benchmark is not None else None
        )
        side = direction(r, q_value, diff, alpha)
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
                "direction": side,
                "verdict": verdict(r, q_value, side, min_n),
                # the mix check qualifies a difference the verdict calls (q, not the raw p);
                # a low-information warning qualifies any test that ran
                "warning": r.warning
                if side in ("above", "below") or (r.keep_warning and r.p_value is not None)
                else None,
            }
        )
    frame = pl.DataFrame(records, schema=_SCHEMA, orient="row")
    return frame.with_columns(pl.col("group").alias(col)).select(
        "metric", col, *[c for c in COMPARE_COLUMNS if c != "metric"]
    )


def direction(r: ComparisonRow, q: float | None, diff: float | None, alpha: float) -> str:
    """The direction of one row: above, below, no clear difference, or not enough data.

    Above / below when ``q < alpha``, in the direction the test measured: the row's ``sign``
    where it has one (a log-rank or Brunner-Munzel row, a median test, a median not reached),
    else the sign of the difference (for cycle length above means longer). Not enough data
    when no test ran. A significant test never reads "no clear difference" because a median
    was not reached; it does where the test found no direction (a sign of 0).
    """
    if r.p_value is None or q is None:
        return "not enough data"
    measured = r.sign if r.sign is not None else diff
    if q < alpha and measured is not None and measured != 0:
        return "above" if measured > 0 else "below"  # for cycle length, above = longer
    return "no clear difference"


def verdict(r: ComparisonRow, q: float | None, side: str, min_n: int = MIN_N) -> str:
    """The sentence for one row: the estimate with its interval, the benchmark and q.

    ``side`` is the row's :func:`direction`. A difference called by the log-rank test (the
    whole closing curve) or by Brunner-Munzel (won deals tend to be larger) is worded as what
    those tests show, with the medians beside it, not as a difference of medians.
    """
    fmt = _FMT[r.metric]
    title = _TITLE[r.metric]
    if side == "not enough data" or q is None:
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
    if side == "no clear difference":
        return (
            f"{r.group}: {title} {est} shows no clear difference from {r.benchmark_label} "
            f"({fmt(r.benchmark)}; q = {q:.2f})."
        )
    return sentence(r.metric, r.kind, side).format(
        group=r.group,
        title=title,
        estimate=est,
        label=r.benchmark_label,
        benchmark=fmt(r.benchmark),
        q=q_text,
        share=fmt_pct(r.statistic, 0),
    )


def sentence(metric: str, kind: str, side: str) -> str:
    """The English template of a called difference (above / below) of ``metric`` and ``kind``."""
    if kind != "external" and metric == "median_won_deal_size":
        return _OVERALL[("size", side)]
    if kind != "external" and metric == "cycle_length_km_days":
        return _OVERALL[("cycle", side)]
    return _SENTENCES[(side, metric == "cycle_length_km_days")]


_SENTENCES = {
    ("above", False): N_("{group}: {title} {estimate} is higher than {label} ({benchmark}; {q})."),
    ("below", False): N_("{group}: {title} {estimate} is lower than {label} ({benchmark}; {q})."),
    ("above", True): N_("{group}: {title} {estimate} is longer than {label} ({benchmark}; {q})."),
    ("below", True): N_("{group}: {title} {estimate} is shorter than {label} ({benchmark}; {q})."),
}
# the tests against the rest and the past that are not tests of the median (significance.py)
_OVERALL = {
    # (the share is P(larger) + ½ P(tie): with list prices most pairs can tie, and "in 62% of
    # pairs the deal here is the larger" read 62% where it was larger in 25% and tied in 75%)
    ("size", "above"): N_(
        "{group}: won deals tend to be larger than in {label}: in {share} of pairs the deal "
        "here is the larger, a tie counting as half (Brunner-Munzel; {q}); median {estimate} "
        "against {benchmark}."
    ),
    ("size", "below"): N_(
        "{group}: won deals tend to be smaller than in {label}: in only {share} of pairs the "
        "deal here is the larger, a tie counting as half (Brunner-Munzel; {q}); median "
        "{estimate} against {benchmark}."
    ),
    ("cycle", "above"): N_(
        "{group}: deals close more slowly overall than in {label} (log-rank test of the whole "
        "closing curve; {q}); median sales cycle {estimate} against {benchmark}."
    ),
    ("cycle", "below"): N_(
        "{group}: deals close faster overall than in {label} (log-rank test of the whole "
        "closing curve; {q}); median sales cycle {estimate} against {benchmark}."
    ),
}
_EXACT_LABEL = N_("the benchmark (treated as exact)")
_LABELS = {
    "rest_of_org": N_("the rest of the organisation"),
    "trailing": N_("its own previous quarters"),
    "external": N_("the benchmark"),
}


def localised_verdict(row: Mapping[str, Any], fmt: Formatter) -> str:
    """The verdict of one row of :func:`verdict_table` in ``fmt``'s language and currency.

    The sentence of :func:`verdict`, with the benchmark named by its kind (the rest of the
    organisation, the team's own previous quarters, the external benchmark).
    """
    _ = fmt._
    show = {"win_rate": fmt.pct, "cycle_length_km_days": fmt.days}.get(row["metric"], fmt.money)
    title = _(_TITLE.get(row["metric"], row["metric"]))
    label = _(_LABELS.get(row["kind"], row["kind"]))
    if row["kind"] == "external" and str(row["test"]).endswith(TREATED_AS_EXACT):
        label = _(_EXACT_LABEL)
    q, side = row["q_value"], row["direction"]
    if side == "not enough data" or q is None:
        return _("{group}: not enough data to compare the {title} with {label} (n = {n}).").format(
            group=row["group"], title=title, label=label, n=row["n"]
        )
    if row["ci_high"] is None or np.isnan(row["ci_high"]):
        estimate = _("{estimate} (95% CI from {low}; upper end not reached)").format(
            estimate=show(row["estimate"]), low=show(row["ci_low"])
        )
    else:
        estimate = _("{estimate} (95% CI {low} to {high})").format(
            estimate=show(row["estimate"]), low=show(row["ci_low"]), high=show(row["ci_high"])
        )
    if side == "no clear difference":
        return _(
            "{group}: {title} {estimate} shows no clear difference from {label} ({benchmark}; "
            "q = {q})."
        ).format(
            group=row["group"],
            title=title,
            estimate=estimate,
            label=label,
            benchmark=show(row["benchmark"]),
            q=f"{q:.2f}",
        )
    return _(sentence(row["metric"], row["kind"], side)).format(
        group=row["group"],
        title=title,
        estimate=estimate,
        label=label,
        benchmark=show(row["benchmark"]),
        q="q < 0.001" if q < 0.001 else f"q = {q:.3f}",
        share=fmt.pct(row["statistic"], 0),
    )
