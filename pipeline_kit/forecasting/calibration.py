"""Are the probabilities right? CRM stage and model deal probabilities against outcomes.

* **CRM stages** (:attr:`Calibration.stages`): for each stage, the CRM's default probability
  against the share of deals that *were ever in the stage* and closed by ``as_of`` that were
  won (cohort of closed deals; Wilson 95% interval). A stage is flagged when its CRM probability
  lies outside the interval and at least ``min_n`` deals closed.
* **Deal level** (from a :class:`~pipeline_kit.forecasting.backtest.Backtest`): each
  prediction made at a checkpoint against its outcome. Two sources: ``model`` (the model's
  chance of a win inside the period, outcome ``won_in_period``) and ``crm`` (the CRM's stage
  probability, outcome ``won_eventually``, deals still open left out).
  **Brier score** ``mean((p - y)^2)``; **Brier skill** ``1 - Brier / Brier(reference)``, the
  reference being the organisation's stage rate of the same outcome (``stage_rate_in_period``
  for the model; for the CRM, the share of those deals that were won); **expected calibration
  error** ``sum_b n_b / N |mean(y)_b - mean(p)_b|`` over ``bins`` equal-width bins; and the
  reliability diagram (per bin: predictions, mean predicted, observed share with its Wilson
  interval).

Predictions of one deal at successive checkpoints are not independent; the intervals treat
them as if they were, so read them as a lower bound on the uncertainty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting._state import closed_deals_by_stage, key_index
from pipeline_kit.forecasting.backtest import Backtest
from pipeline_kit.periods import parse_date
from pipeline_kit.stats import MIN_N, wilson_interval

__all__ = ["Calibration", "probability_calibration"]


@dataclass(frozen=True)
class Calibration:
    """Stage and deal probabilities against outcomes (see :func:`probability_calibration`).

    Attributes
    ----------
    stages
        Per stage: ``crm_probability``, ``closed`` (deals ever in the stage, closed by as_of),
        ``won``, ``win_rate``, ``ci_low``, ``ci_high``, ``flag`` (``"CRM too high"``,
        ``"CRM too low"`` or empty).
    reliability
        Per source (``model``, ``crm``) and bin: ``bin_low``, ``bin_high``, ``predictions``,
        ``mean_predicted``, ``observed``, ``ci_low``, ``ci_high``.
    scores
        Per source: ``predictions``, ``brier``, ``reference_brier``, ``brier_skill``, ``ece``.
    scores_by_stage
        The same Brier figures per source and stage (the stage the deal was in when predicted).
    """

    as_of: dt.date
    stages: pl.DataFrame
    reliability: pl.DataFrame
    scores: pl.DataFrame
    scores_by_stage: pl.DataFrame


def _stage_table(ds: Dataset, as_of: dt.date, min_n: int) -> pl.DataFrame:
    visited = closed_deals_by_stage(ds, as_of)
    stages = ds.lazy("stages").filter(
        ~pl.col("is_won").fill_null(False) & ~pl.col("is_lost").fill_null(False)
    )
    low, high = wilson_interval("won", "closed")
    return (
        stages.select("stage", "order", pl.col("probability").alias("crm_probability"))
        .join(
            visited.group_by("stage").agg(
                pl.len().alias("closed"), (pl.col("status") == "won").sum().alias("won")
            ),
            on="stage",
            how="left",
        )
        .with_columns(pl.col("closed", "won").fill_null(0).cast(pl.Int64))
        .with_columns(
            pl.when(pl.col("closed") > 0).then(pl.col("won") / pl.col("closed")).alias("win_rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
        )
        .with_columns(
            pl.when((pl.col("closed") >= min_n) & (pl.col("crm_probability") > pl.col("ci_high")))
            .then(pl.lit("CRM too high"))
            .when((pl.col("closed") >= min_n) & (pl.col("crm_probability") < pl.col("ci_low")))
            .then(pl.lit("CRM too low"))
            .otherwise(pl.lit(""))
            .alias("flag")
        )
        .sort("order")
        .drop("order")
        .collect()
    )


def _predictions(backtest: Backtest) -> pl.DataFrame:
    """Long frame of (source, p, y, reference) from the backtest's deal predictions."""
    deals = backtest.deals
    if not deals.is_empty() and {"as_of", "deal_id"} <= set(deals.columns):
        deals = deals.sort("as_of", "deal_id")  # a fixed order: the float means repeat exactly
    if deals.is_empty():
        return pl.DataFrame(
            schema={
                "source": pl.String,
                "stage": pl.String,
                "p": pl.Float64,
                "y": pl.Float64,
                "ref": pl.Float64,
            }
        )
    model = deals.select(
        pl.lit("model").alias("source"),
        "stage",
        pl.col("p_win_in_period").alias("p"),
        pl.col("won_in_period").cast(pl.Float64).alias("y"),
        pl.col("stage_rate_in_period").alias("ref"),
    )
    crm = deals.filter(
        pl.col("won_eventually").is_not_null() & pl.col("crm_probability").is_not_null()
    )
    crm = crm.select(
        pl.lit("crm").alias("source"),
        "stage",
        pl.col("crm_probability").alias("p"),
        pl.col("won_eventually").cast(pl.Float64).alias("y"),
    ).with_columns(pl.col("y").mean().alias("ref"))
    return pl.concat([model, crm]).drop_nulls()


def _aggregate(frame: pl.DataFrame, keys: list[str], sums: dict[str, pl.Expr]) -> pl.DataFrame:
    """Per distinct ``keys`` (sorted): the row count ``n`` and the sum of each expression.

    Summed sequentially in the frame's order (``np.bincount``), so the figures are bit-for-bit
    the same on every run (a parallel group-by can add in another order and differ in the last
    bit, which would change a report's chart).
    """
    values = frame.select(
        *keys, *[expr.cast(pl.Float64).alias(name) for name, expr in sums.items()]
    )
    groups = values.select(keys).unique().sort(keys)
    index = key_index(values, groups, keys).to_numpy().astype(np.int64)
    out = groups.with_columns(pl.Series("n", np.bincount(index, minlength=groups.height)))
    for name in sums:
        total = np.bincount(index, values[name].to_numpy(), minlength=groups.height)
        out = out.with_columns(pl.Series(name, total))
    return out


def probability_calibration(
    ds: Dataset,
    backtest: Backtest | None = None,
    *,
    as_of: str | dt.date | None = None,
    bins: int = 10,
    min_n: int = MIN_N,
) -> Calibration:
    """Stage probabilities (CRM) and deal-level probabilities against what happened.

    Parameters
    ----------
    ds
        A loaded dataset.
    backtest
        A :func:`pipeline_kit.backtest_forecast` result; without it only the stage table is
        filled (the deal-level frames are empty).
    as_of
        Deals closed by this day count in the stage table (default: the data's last day).
    bins
        Equal-width probability bins of the reliability diagram.
    min_n
        Closed deals a stage needs before it can be flagged.

    Returns
    -------
    Calibration
        ``stages``, ``reliability`` and ``scores`` (see the class).

    Examples
    --------
    >>> import pipeline_kit as pk
    >>> cal = pk.probability_calibration(pk.load(pk.synthetic.sample_path()))
    >>> cal.stages.columns[:4]
    ['stage', 'crm_probability', 'closed', 'won']
    """
    day = parse_date(as_of) or ds.last_date
    if day is None:
        raise ValueError("probability calibration needs dated deals")
    stages = _stage_table(ds, day, min_n)
    preds = (
        _predictions(backtest)
        if backtest is not None
        else _predictions(Backtest([], pl.DataFrame(), pl.DataFrame()))
    )
    width = 1.0 / bins
    binned = preds.with_columns(
        (pl.col("p") / width).floor().clip(0, bins - 1).cast(pl.Int64).alias("bin")
    )
    low, high = wilson_interval("positives", "predictions")
    reliability = (
        _aggregate(binned, ["source", "bin"], {"p_sum": pl.col("p"), "positives": pl.col("y")})
        .rename({"n": "predictions"})
        .with_columns(
            (pl.col("bin") * width).alias("bin_low"),
            ((pl.col("bin") + 1) * width).alias("bin_high"),
            (pl.col("p_sum") / pl.col("predictions")).alias("mean_predicted"),
            (pl.col("positives") / pl.col("predictions")).alias("observed"),
            low.alias("ci_low"),
            high.alias("ci_high"),
        )
        .select(
            "source",
            "bin_low",
            "bin_high",
            "predictions",
            "mean_predicted",
            "observed",
            "ci_low",
            "ci_high",
        )
    )
    ece = _aggregate(
        reliability,
        ["source"],
        {
            "gap": pl.col("predictions") * (pl.col("observed") - pl.col("mean_predicted")).abs(),
            "total": pl.col("predictions"),
        },
    ).select("source", (pl.col("gap") / pl.col("total")).alias("ece"))
    squares = {
        "brier": (pl.col("p") - pl.col("y")) ** 2,
        "reference_brier": (pl.col("ref") - pl.col("y")) ** 2,
    }
    means = [
        pl.col("n").alias("predictions"),
        (pl.col("brier") / pl.col("n")).alias("brier"),
        (pl.col("reference_brier") / pl.col("n")).alias("reference_brier"),
    ]
    skill = (1 - pl.col("brier") / pl.col("reference_brier")).alias("brier_skill")
    scores = (
        _aggregate(preds, ["source"], squares)
        .select("source", *means)
        .with_columns(skill)
        .join(ece, on="source", how="left", maintain_order="left")
    )
    order = ds.lazy("stages").select("stage", "order").collect()
    by_stage = (
        _aggregate(preds, ["source", "stage"], squares)
        .select("source", "stage", *means)
        .with_columns(skill)
        .join(order, on="stage", how="left", maintain_order="left")
        .sort("source", "order", maintain_order=True)
        .drop("order")
    )
    return Calibration(day, stages, reliability, scores, by_stage)
