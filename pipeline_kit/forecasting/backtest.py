"""Back-testing: every past period forecast again from what was known at each checkpoint.

For each period and checkpoint (``as_of`` = the day before the period starts, then the last
day of each month but the last, or of each week), :func:`pipeline_kit.forecast` and every
baseline of :mod:`.baselines` are computed from the data as it stood that day, and compared
with the bookings that followed. The forecasts are scored *as distributions*:

* **CRPS** (continuous ranked probability score, ``scoringrules.crps_ensemble``; in money, lower
  is better; for a single number it is the absolute error), **pinball loss** at 10/50/90%,
* **coverage** of the 50%, 80% and 90% central intervals, the **PIT** (share of draws at or
  below the actual: uniform when the forecast is calibrated),
* **absolute percentage error** and **bias** of the median.

A baseline is a single number; it becomes a distribution from its *own* past errors: its
point x the ratios ``actual / point`` it had at the same checkpoint in periods that had ended
by ``as_of`` (at least ``min_errors`` of them, pooled over groups; before that it is not
scored). **Skill** = ``1 - CRPS(model) / CRPS(baseline)`` over the forecasts both scored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting._state import Snapshots, shift_months, won_between
from pipeline_kit.forecasting.baselines import baseline_points
from pipeline_kit.forecasting.model import (
    PRIOR_STRENGTH,
    BookingsForecast,
    _forecast,
    forecast_windows,
    simulated_groups,
)
from pipeline_kit.metrics._common import By, check_by, group_columns
from pipeline_kit.periods import Period

__all__ = ["Backtest", "backtest_forecast", "checkpoint_days"]

T = TypeVar("T")

MODEL = "model"
# the backtest's forecasts run this many at a time: each has its own seed and reads the data
# only, so the figures are the same (about half the wall time on two cores: most of a forecast
# is NumPy's draws and polars' queries, which leave the GIL)
BACKTEST_THREADS = 2
LEVELS = (0.5, 0.8, 0.9)


def checkpoint_days(period: Period, checkpoints: str) -> list[tuple[str, dt.date]]:
    """The (label, as_of) checkpoints of ``period``.

    ``"start"`` (the day before it starts), ``"monthly"`` (start and each month end but the
    last), ``"weekly"`` (start and every 7 days while before the last week).

    >>> [(label, str(day)) for label, day in checkpoint_days(Period.parse("2025-Q4"), "monthly")]
    [('start', '2025-09-30'), ('month 1', '2025-10-31'), ('month 2', '2025-11-30')]
    """
    start = period.start - dt.timedelta(days=1)
    days = [("start", start)]
    if checkpoints == "start":
        return days
    if checkpoints == "monthly":
        k = 1
        while (day := shift_months(start, k)) < period.end:
            days.append((f"month {k}", day))
            k += 1
        return days
    if checkpoints == "weekly":
        k = 1
        while (day := start + dt.timedelta(days=7 * k)) < period.end - dt.timedelta(days=6):
            days.append((f"week {k}", day))
            k += 1
        return days
    raise ValueError(f"checkpoints must be 'start', 'monthly' or 'weekly', not {checkpoints!r}")


@dataclass(frozen=True)
class Backtest:
    """Every back-tested forecast and its scores (see :func:`backtest_forecast`).

    Attributes
    ----------
    forecasts
        One row per group, period, checkpoint and method (``model`` or a baseline): ``as_of``,
        ``actual``, ``point`` (the model's median or the baseline's number), ``p10``, ``p50``,
        ``p90``, ``crps``, ``pinball_10``/``_50``/``_90``, ``in_50``/``in_80``/``in_90``,
        ``pit``, ``ape``, ``bias`` (null where a method could not be scored).
    deals
        The model's deal-level predictions at every checkpoint, with what happened:
        ``won_in_period`` and ``won_eventually`` (null while still open at the data's end).
    """

    by: list[str]
    forecasts: pl.DataFrame
    deals: pl.DataFrame = field(repr=False)

    def summary(self) -> pl.DataFrame:
        """Per method and checkpoint: forecasts, scores, coverage and error.

        Forecasts made and scored as distributions (a baseline needs ``min_errors`` earlier
        errors first), mean CRPS, interval coverage of the scored ones, median absolute
        percentage error and median bias of the point forecast.
        """
        scored = pl.col("crps").is_not_null()
        return (
            self.forecasts.group_by("method", "checkpoint")
            .agg(
                pl.len().alias("forecasts"),
                scored.sum().alias("scored"),
                pl.col("crps").mean().alias("mean_crps"),
                *[
                    pl.col(f"in_{round(lv * 100)}")
                    .filter(scored)
                    .cast(pl.Float64)
                    .mean()
                    .alias(f"coverage_{round(lv * 100)}")
                    for lv in LEVELS
                ],
                pl.col("ape").median().alias("median_ape"),
                pl.col("bias").median().alias("median_bias"),
            )
            .sort("checkpoint", "method")
        )

    def skill(self) -> pl.DataFrame:
        """Per checkpoint and baseline: the model's CRPS skill and how many forecasts it rests on.

        ``1 - mean CRPS(model) / mean CRPS(baseline)`` over the forecasts both scored
        (positive: the model is better).
        """
        keys = [*self.by, "period", "checkpoint"]
        model = self.forecasts.filter(pl.col("method") == MODEL).select(
            *keys, pl.col("crps").alias("model_crps")
        )
        return (
            self.forecasts.filter((pl.col("method") != MODEL) & pl.col("crps").is_not_null())
            .join(model, on=keys, nulls_equal=True)
            .group_by("checkpoint", pl.col("method").alias("baseline"))
            .agg(
                pl.len().alias("forecasts"),
                (1 - pl.col("model_crps").mean() / pl.col("crps").mean()).alias("crps_skill"),
            )
            .sort("checkpoint", "baseline")
        )

    def pit_histogram(self, bins: int = 10) -> pl.DataFrame:
        """The model's PIT values in ``bins`` equal bins (flat when calibrated), with counts."""
        pit = self.forecasts.filter(pl.col("method") == MODEL)["pit"].drop_nulls().to_numpy()
        counts, edges = np.histogram(pit, bins=bins, range=(0.0, 1.0))
        return pl.DataFrame(
            {"bin_low": edges[:-1], "bin_high": edges[1:], "forecasts": counts.astype(np.int64)}
        )


def _default_periods(ds: Dataset, min_past_periods: int) -> list[Period]:
    """Every complete quarter with at least ``min_past_periods`` earlier quarters in the data."""
    assert ds.first_date is not None and ds.last_date is not None
    first = Period.quarter_of(ds.first_date)
    if first.start < ds.first_date:
        first = first.shift(1)
    periods = []
    q = first.shift(min_past_periods)
    while q.end <= ds.last_date:
        periods.append(q)
        q = q.shift(1)
    return periods


def _actuals(ds: Dataset, period: Period, groups: list[str], keys: pl.DataFrame) -> np.ndarray:
    won = ds.lazy("deals").filter(won_between(period.start, period.end))
    if not groups:
        return np.array([float(won.select(pl.col("amount").sum()).collect().item())])
    sums = won.group_by(groups).agg(pl.col("amount").sum()).collect()
    return (
        keys.join(sums, on=groups, how="left", maintain_order="left", nulls_equal=True)["amount"]
        .fill_null(0.0)
        .to_numpy()
    )


def _scores(actual: np.ndarray, ensemble: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of ensembles (rows) against the actuals."""
    import scoringrules

    q = np.quantile(ensemble, [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95], axis=1)
    out: dict[str, np.ndarray] = {
        "p10": q[1],
        "p50": q[3],
        "p90": q[5],
        "crps": np.asarray(scoringrules.crps_ensemble(actual, ensemble)),
    }
    for level, (lo, hi) in zip(LEVELS, [(q[2], q[4]), (q[1], q[5]), (q[0], q[6])], strict=True):
        out[f"in_{round(level * 100)}"] = (actual >= lo) & (actual <= hi)
    for tau, qv in ((0.1, q[1]), (0.5, q[3]), (0.9, q[5])):
        diff = actual - qv
        out[f"pinball_{round(tau * 100)}"] = np.maximum(tau * diff, (tau - 1) * diff)
    out["pit"] = (ensemble <= actual[:, None]).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ape"] = np.where(actual > 0, np.abs(q[3] - actual) / actual, np.nan)
        out["bias"] = np.where(actual > 0, (q[3] - actual) / actual, np.nan)
    return out


def _in_threads(run: Callable[[int], T], n: int, threads: int) -> list[T]:
    """``[run(0), ..., run(n - 1)]``, ``threads`` at a time after the first.

    The first runs alone: it reads the tables the others share before any thread does.
    """
    if n == 0:
        return []
    first = run(0)
    if threads < 2 or n == 1:
        return [first, *(run(i) for i in range(1, n))]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [first, *pool.map(run, range(1, n))]


def backtest_forecast(
    ds: Dataset,
    *,
    periods: list[str | Period] | None = None,
    checkpoints: str = "monthly",
    by: By = None,
    draws: int = 2000,
    seed: int = 0,
    past_periods: int = 8,
    min_past_periods: int = 2,
    min_errors: int = 3,
    progress: bool = False,
) -> Backtest:
    """Forecast every past period again from each checkpoint, and score it against what happened.

    Parameters
    ----------
    ds
        A loaded dataset.
    periods
        Periods to back-test; default every complete quarter with at least
        ``min_past_periods`` earlier quarters in the data.
    checkpoints
        ``"start"``, ``"monthly"`` (default) or ``"weekly"`` (see :func:`checkpoint_days`).
    by, draws, seed, past_periods
        As in :func:`pipeline_kit.forecast`.
    min_errors
        Past errors a baseline needs before it is scored as a distribution.
    progress
        Show a progress bar (tqdm) over the forecasts.

    Returns
    -------
    Backtest
        ``forecasts`` (every forecast and its scores), ``deals`` (deal-level predictions and
        outcomes), with ``summary()``, ``skill()`` and ``pit_histogram()``.

    Examples
    --------
    >>> import pipeline_kit as pk
    >>> ds = pk.load(pk.synthetic.sample_path())
    >>> bt = pk.backtest_forecast(ds, periods=["2025-Q3"], checkpoints="start", draws=200)
    >>> bt.forecasts.filter(pl.col("method") == "model").height
    1
    """
    from pipeline_kit.metrics._common import as_period

    groups = group_columns(by)
    check_by(ds, "deals", groups)
    if ds.undated or ds.first_date is None:
        raise ValueError("a backtest needs dated deals (created_at and closed_at)")
    if not ds.has_amounts:
        raise ValueError(
            "a backtest of the bookings forecast needs amounts, and no deal in the export has "
            "one: add the amount column to the export"
        )
    chosen = (
        [as_period(p, ds) for p in periods] if periods else _default_periods(ds, min_past_periods)
    )
    plan = [(p, label, day) for p in chosen for label, day in checkpoint_days(p, checkpoints)]
    if not plan:  # too little history: an empty backtest with the usual columns
        return Backtest(groups, _empty_forecasts(ds, groups), pl.DataFrame())
    if progress:
        from tqdm.auto import tqdm

        plan = list(tqdm(plan, desc="backtest", unit="forecast"))

    # the deals open on every day a forecast or a baseline reads, in one query: the
    # checkpoints' days and their past days recur across the plan's forecasts
    first_day = ds.first_date
    windows = [forecast_windows(period, day, first_day, past_periods) for period, _, day in plan]
    days = {day for _, _, day in plan} | {d for w in windows for d in w.days()}
    known = Snapshots(ds, sorted(days), simulated_groups(ds, groups))

    def run(i: int) -> BookingsForecast:
        period, _label, day = plan[i]
        return _forecast(
            ds,
            period,
            day,
            groups,
            draws,
            seed + i,
            past_periods,
            PRIOR_STRENGTH,
            known,
            windows[i],
        )

    made = _in_threads(run, len(plan), BACKTEST_THREADS)
    rows, baselines, deal_rows = [], [], []
    for (period, label, day), f in zip(plan, made, strict=True):
        keys = f.summary.select(groups) if groups else pl.DataFrame({"_all": [0]})
        actual = _actuals(ds, period, groups, keys)
        ensemble = f.samples["bookings"].to_numpy().reshape(keys.height, draws)
        scores = _scores(actual, ensemble)
        tag = [
            pl.lit(period.label).alias("period"),
            pl.lit(period.end).alias("period_end"),
            pl.lit(label).alias("checkpoint"),
            pl.lit(day).alias("as_of"),
        ]
        base = keys.select(*groups, *tag) if groups else pl.select(*tag)
        rows.append(
            base.with_columns(
                pl.lit(MODEL).alias("method"),
                pl.Series("actual", actual),
                pl.Series("point", scores["p50"]),
                *[pl.Series(k, v) for k, v in scores.items()],
                pl.lit(f.summary["past_periods"][0]).alias("past_periods"),
            )
        )
        points = baseline_points(ds, period, day, groups, keys, known.on([day]))
        baselines.append(
            points.join(
                base.with_columns(pl.Series("actual", actual)),
                on=groups,
                how="left",
                nulls_equal=True,
            )
            if groups
            else points.join(base.with_columns(pl.Series("actual", actual)), how="cross")
        )
        deal_rows.append(f.deals.with_columns(*tag))
    model = pl.concat(rows, how="diagonal")
    scored_baselines = _score_baselines(pl.concat(baselines), groups, min_errors)
    forecasts = pl.concat([model, scored_baselines], how="diagonal_relaxed").sort(
        "period_end", "checkpoint", "method", *groups
    )
    return Backtest(groups, forecasts.drop("period_end"), _with_outcomes(ds, deal_rows))


def _empty_forecasts(ds: Dataset, groups: list[str]) -> pl.DataFrame:
    schema = ds.lazy("deals").select(groups).collect_schema()
    columns: dict[str, pl.DataType] = dict(schema)
    columns |= {"period": pl.String(), "checkpoint": pl.String(), "as_of": pl.Date()}
    columns |= {"method": pl.String()}
    floats = ["actual", "point", "p10", "p50", "p90", "crps"]
    floats += ["pinball_10", "pinball_50", "pinball_90", "pit", "ape", "bias"]
    columns |= {name: pl.Float64() for name in floats}
    columns |= {f"in_{round(lv * 100)}": pl.Boolean() for lv in LEVELS}
    columns |= {"past_periods": pl.Int64()}
    return pl.DataFrame(schema=columns)


def _score_baselines(points: pl.DataFrame, groups: list[str], min_errors: int) -> pl.DataFrame:
    """Each baseline as a distribution from its own earlier errors, scored like the model.

    The errors are the ratios actual / point at the same checkpoint, in periods ended by as_of.
    """
    points = points.rename({"baseline": "method"})
    history = points.filter(pl.col("point") > 0).select(
        "method", "checkpoint", "period_end", (pl.col("actual") / pl.col("point")).alias("ratio")
    )
    out = []
    for (method, checkpoint), part in points.group_by("method", "checkpoint", maintain_order=True):
        past = history.filter((pl.col("method") == method) & (pl.col("checkpoint") == checkpoint))
        scored = []
        for row in part.partition_by("period", "as_of", maintain_order=True):
            as_of = row["as_of"][0]
            ratios = past.filter(pl.col("period_end") <= as_of)["ratio"].to_numpy()
            point = row["point"].to_numpy()
            ok = ratios.size >= min_errors and not np.isnan(point.astype(float)).any()
            if ok:
                ensemble = point.astype(float)[:, None] * ratios[None, :]
                s = _scores(row["actual"].to_numpy(), ensemble)
                scored.append(
                    row.with_columns(
                        *[pl.Series(k, v) for k, v in s.items() if k != "p50"],
                        pl.Series("p50", s["p50"]),
                    )
                )
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    actual = row["actual"].to_numpy()
                    error = np.where(actual > 0, (point - actual) / actual, np.nan)
                scored.append(
                    row.with_columns(
                        pl.Series("ape", np.abs(error).astype(float)),
                        pl.Series("bias", error.astype(float)),
                    )
                )
        out.append(pl.concat(scored, how="diagonal_relaxed"))
    return pl.concat(out, how="diagonal_relaxed").with_columns(pl.col(pl.Float64).fill_nan(None))


def _with_outcomes(ds: Dataset, deal_rows: list[pl.DataFrame]) -> pl.DataFrame:
    if not deal_rows:
        return pl.DataFrame()
    outcome = ds.lazy("deals").select("deal_id", "status", "closed_at").collect()
    return (
        pl.concat(deal_rows, how="diagonal")
        .join(outcome, on="deal_id", how="left", maintain_order="left")
        .with_columns(
            (
                (pl.col("status") == "won")
                & (pl.col("closed_at") > pl.col("as_of"))
                & (pl.col("closed_at") <= pl.col("period_end"))
            ).alias("won_in_period"),
            pl.when(pl.col("status") != "open")
            .then(pl.col("status") == "won")
            .alias("won_eventually"),
        )
        .drop("status", "closed_at")
    )
