"""The bookings forecast: a period's bookings as a distribution, from what was known at ``as_of``.

``bookings(period) = won so far + won from the deals open at as_of + won from deals not yet
created``, each part simulated (Monte Carlo, fixed seed, vectorised over draws):

* **Open deals.** A deal's chance of being won inside the period's remaining window
  ``[as_of + d0, as_of + d1]`` is learnt from *comparable situations in the past*: the same
  point of earlier periods (``as_of`` moved back 1..``past_periods`` periods, and a week either
  side). Every deal open on such a past day, in the same stage and a similar age in stage
  (tertiles of the stage's ages), is one example; it succeeded when it was won within the same
  window after that day (one that closed before its window opened was not won in it, as a deal
  open today may close before the period opens; but a past day a week early has a week more
  before its window than today: a deal that closed in that extra week is no example, and at a
  quarter's start those are the previous quarter's last-week signings). Only past days whose window
  ended by ``as_of`` are used, so every example's outcome was known at ``as_of`` and nothing
  is censored. Rates are estimated in a hierarchy (stage -> stage x age
  -> stage x age x size -> that x group), each level a Beta posterior shrunk towards the level
  above with ``prior_strength`` pseudo-deals, a group's cells towards the organisation's cell
  moved by the group's own log-odds offset in the stage (:func:`_group_offsets`), itself
  drawn each draw from its approximate posterior (how well the group's examples pin its level
  down: every cell of the group's stage moves with it); each draw samples the rates first and
  then every deal's outcome, so a small team's forecast carries the uncertainty of its few
  examples and deals in one cell move together. A period effect
  (:func:`_period_effect_sd`) shifts all the rates of a draw together. The teams are always
  simulated apart (:func:`simulated_groups`): the organisation's forecast, or one by region,
  is the sum of its teams' draws.
* **New deals.** Deals created after ``as_of`` and won inside the window: counts in the same
  windows of past periods give a Gamma posterior for the rate (``shape = sum + 0.5``,
  ``rate = number of past periods``), times the season's factor (:func:`_seasonal_factor`),
  each draw a Poisson count, amounts resampled from those past deals.
* **Won so far**: deals won from the period's first day to ``as_of``.

Amounts are the deals' current amounts (exports have no amount history). The forecast of a
past period can be compared with what happened: :func:`pipeline_kit.backtest_forecast`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import special

from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting._state import (
    Snapshots,
    group_sums,
    key_index,
    open_deals_on,
    period_months,
    shift_months,
    won_between,
)
from pipeline_kit.i18n import N_
from pipeline_kit.metrics._common import By, as_period, check_by, group_columns
from pipeline_kit.periods import Period, parse_date

__all__ = ["BookingsForecast", "forecast", "forecast_windows"]

QUANTILES = (0.1, 0.5, 0.9)
PRIOR_STRENGTH = 10.0  # forecast's default prior_strength
_CHUNK = 4096  # deals simulated at a time (bounds memory at deals x draws)


@dataclass(frozen=True)
class BookingsForecast:
    """A period's bookings as a distribution (see :func:`forecast`).

    Attributes
    ----------
    period, as_of, by
        What was forecast, from which day, for which groups.
    summary
        One row per group: ``won_to_date``, ``open_deals``, ``open_amount``,
        ``without_amount`` (deals won so far or open at ``as_of`` with no amount: they add
        nothing to any bookings figure, which is then the bookings of the deals with an
        amount), ``expected_from_open``, ``expected_from_new``, ``mean``, ``p10``, ``p50``, ``p90``,
        ``target``, ``p_reach_target`` (share of draws at or above the target), the number of
        past examples (``examples``, distinct deals) and past periods (``past_periods``) the
        rates rest on, and ``note`` (why a figure is missing or weak; empty otherwise).
    samples
        The draws: the group columns, ``draw``, ``from_open``, ``from_new`` and ``bookings``
        (``won_to_date`` included).
    deals
        The deals open at ``as_of`` with their stage and age that day, their amount, the
        chance of being won inside the period (``p_win_in_period``, mean over draws), the
        org-wide rate of their stage alone (``stage_rate_in_period``) and the CRM's default
        probability of the stage (``crm_probability``).
    """

    period: Period
    as_of: dt.date
    by: list[str]
    summary: pl.DataFrame
    samples: pl.DataFrame = field(repr=False)
    deals: pl.DataFrame = field(repr=False)

    def quantiles(self, qs: list[float] | tuple[float, ...] = QUANTILES) -> pl.DataFrame:
        """Any quantiles of the bookings distribution, one column ``q<percent>`` each."""
        aggs = [pl.col("bookings").quantile(q, "linear").alias(f"q{q * 100:g}") for q in qs]
        if not self.by:
            return self.samples.select(aggs)
        return self.samples.group_by(self.by, maintain_order=True).agg(aggs)

    def _repr_markdown_(self) -> str:
        from pipeline_kit.formatting import fmt_money
        from pipeline_kit.sections import md_table

        header = [*self.by, "won so far", "P10", "P50", "P90", "target", "chance of target"]
        rows = [
            [
                *[str(r[g]) for g in self.by],
                *[fmt_money(r[c]) for c in ("won_to_date", "p10", "p50", "p90")],
                fmt_money(r["target"]) if r["target"] is not None else "none",
                f"{r['p_reach_target']:.0%}" if r["p_reach_target"] is not None else "",
            ]
            for r in self.summary.iter_rows(named=True)
        ]
        title = f"**Bookings forecast for {self.period.label}**, as of {self.as_of}"
        return f"{title}\n\n{md_table(header, rows)}"


@dataclass(frozen=True)
class _Windows:
    """The comparable past situations of a forecast.

    ``past``: one row per past day at the same point of an earlier period (``main``) or a
    week either side of it, with the window of that earlier period it is scored on
    (``window_first`` .. ``window_last``: the earlier period's remaining days, so that every
    window ends on its period's last day, where quarter-end closes cluster), and
    ``open_through``: the day to which a deal open on the past day must stay open to be an
    example. Today's deals have some days before their window opens (none once the period
    has begun), the main past day's as many; a day a week early may have seven more, and a
    deal that closed in those seven days (at a quarter's start, a signing of the previous
    quarter's last week) is not a situation today's deals can be in.
    """

    past: pl.DataFrame

    @property
    def replicas(self) -> np.ndarray:
        """The k of each main past day (periods back), ascending."""
        return np.sort(self.past.filter(pl.col("main"))["replica"].to_numpy())

    @property
    def periods(self) -> int:
        """Earlier periods used."""
        return int(self.past["main"].sum())

    def days(self, main_only: bool = False) -> list[dt.date]:
        """The past days (only the main ones with ``main_only``)."""
        frame = self.past.filter(pl.col("main")) if main_only else self.past
        return frame["snapshot"].to_list()


def forecast_windows(
    period: Period, as_of: dt.date, first_day: dt.date, past_periods: int = 8
) -> _Windows:
    """The comparable past situations of a forecast of ``period`` made at ``as_of``.

    For k = 1..``past_periods``, the period k periods earlier and the day at the same point of
    it (and a week either side); a past day qualifies when its window ended by ``as_of`` (its
    outcome was known then) and it is not before the data's first day. ``open_through`` is
    the past day moved on by the days its window opens later than the main past day's (7 for
    the day a week early when the period has not begun; else 0).

    >>> w = forecast_windows(Period.parse("2025-Q4"), dt.date(2025, 9, 30), dt.date(2024, 1, 1), 1)
    >>> w.past.select("snapshot", "window_first", "open_through").rows()[0]
    (datetime.date(2025, 6, 23), datetime.date(2025, 7, 1), datetime.date(2025, 6, 30))
    """
    months = period_months(period)

    def back(day: dt.date, k: int) -> dt.date:
        return shift_months(day, -k * months) if months else day - dt.timedelta(k * period.days)

    rows = []
    for k in range(1, past_periods + 1):
        start, end, day = back(period.start, k), back(period.end, k), back(as_of, k)
        if end > as_of:
            continue
        # the days before the window opens, in which a deal open on the day may close
        gap = max(day + dt.timedelta(days=1), start) - (day + dt.timedelta(days=1))
        for jitter in (-7, 0, 7):
            d = day + dt.timedelta(days=jitter)
            first = max(d + dt.timedelta(days=1), start)
            extra = max(first - (d + dt.timedelta(days=1)) - gap, dt.timedelta(0))
            if d >= first_day and first <= end:
                rows.append((d, first, end, jitter == 0, k, d + extra))
    frame = pl.DataFrame(
        rows,
        schema={
            "snapshot": pl.Date,
            "window_first": pl.Date,
            "window_last": pl.Date,
            "main": pl.Boolean,
            "replica": pl.Int64,
            "open_through": pl.Date,
        },
        orient="row",
    ).unique("snapshot", keep="first", maintain_order=True)
    return _Windows(frame.sort("snapshot"))


AGE_QUANTILES = (1 / 3, 2 / 3, 0.9)  # age-in-stage cut points: tertiles and the long tail


def _age_buckets(training: pl.DataFrame, min_deals: int = 30) -> pl.DataFrame:
    """Per stage, the cut points of age in stage among the examples (:data:`AGE_QUANTILES`).

    The last bucket (older than 90% of the examples) holds the stale deals, which win far less
    than the rest. One bucket when the stage has fewer than ``min_deals`` distinct deals.
    """
    enough = pl.col("deal_id").n_unique() >= min_deals
    return training.group_by("stage").agg(
        pl.when(enough).then(pl.col("age_in_stage").quantile(q, "lower")).alias(f"cut{i}")
        for i, q in enumerate(AGE_QUANTILES)
    )


def _with_bucket(
    frame: pl.DataFrame, cuts: pl.DataFrame, sizes: tuple[float, float]
) -> pl.DataFrame:
    """Add ``age_bucket`` and ``size_bucket``.

    ``age_bucket`` (0-3): how many of the stage's age cut points the deal's age in stage
    exceeds; ``size_bucket`` (0-2): tertile of amount among all examples; -1 for a deal
    without an amount.
    """
    cut_names = [f"cut{i}" for i in range(len(AGE_QUANTILES))]
    return (
        frame.join(cuts, on="stage", how="left")
        .with_columns(
            pl.sum_horizontal(
                (pl.col("age_in_stage") > pl.col(c)).fill_null(False).cast(pl.Int8)
                for c in cut_names
            )
            .cast(pl.Int8)
            .alias("age_bucket"),
            (
                (pl.col("amount") > sizes[0]).cast(pl.Int8)
                + (pl.col("amount") > sizes[1]).cast(pl.Int8)
            )
            .fill_null(-1)  # (no amount: a cell of their own, they are won at their own rate)
            .alias("size_bucket"),
        )
        .drop(cut_names)
    )


def _cells(training: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Examples per cell: distinct deals ``n`` and effective wins ``w = rate x n``."""
    return (
        training.group_by(keys)
        .agg(
            pl.col("deal_id").n_unique().cast(pl.Float64).alias("n"),
            pl.col("won").mean().alias("rate"),
        )
        .with_columns((pl.col("rate") * pl.col("n")).alias("w"))
    )


def add_rows(acc: np.ndarray, keys: np.ndarray, rows: np.ndarray) -> None:
    """``acc[keys[i]] += rows[i]`` for each ``i`` in order: ``np.add.at(acc, keys, rows)``.

    The same sums bit for bit: each row of ``acc`` adds its rows one after the other, in
    their order (a stable sort by key, then NumPy's reduction along the first axis of a
    C-ordered array, which adds row after row), starting from ``acc``'s row. ``np.add.at``
    on rows of draws runs its loop per element; this is about six times faster.
    """
    if not keys.size:
        return
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], keys.size]
    ordered = rows[order]
    for start, end in zip(starts, ends, strict=True):
        k = sorted_keys[start]
        acc[k] = np.add.reduce(np.vstack([acc[k][None, :], ordered[start:end]]), axis=0)


def _beta(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return rng.beta(np.maximum(a, 1e-6), np.maximum(b, 1e-6))


def _logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, with rates of 0 and 1 held at 1e-9 from them (finite)."""
    return np.asarray(special.logit(np.clip(p, 1e-9, 1 - 1e-9)))


def _group_offsets(
    training: pl.DataFrame, groups: list[str], prior_strength: float, steps: int = 50
) -> pl.DataFrame:
    """Per stage and group, how far the group's win odds sit from the organisation's.

    Why: a group (a team) that wins more, or closes faster, than the organisation does so in
    every age and size cell of a stage; shrinking each of its small cells separately towards
    the organisation's cell loses that, and the team's forecast is then too low (or too high)
    quarter after quarter. So the group's cell is centred on the organisation's cell rate
    moved by one log-odds ``offset`` per stage and group, estimated on all the group's
    examples in the stage at once (indirect standardisation):

    * ``E`` = sum over the group's examples of the organisation's rate of their cell (stage x
      age x size), ``W`` = their wins; both scaled to distinct deals (a deal is an example on
      several past days);
    * the ratio ``W / E`` shrunk towards 1 with ``c = prior_strength x E / deals`` expected
      wins (the pseudo-deals of the prior): ``(W + c) / (E + c)``;
    * ``offset`` solves ``sum expit(logit(rate_i) + offset) = E x ratio`` (Newton steps).

    Its uncertainty, ``offset_se = 1 / sqrt(I)``, from the Fisher information of a log-odds
    shift of Bernoulli outcomes at the solution, ``I = sum p (1 - p)`` over the group's
    examples (``p`` the moved rates; scaled to distinct deals) plus the ``c`` pseudo-wins'
    share, ``c (1 - mean p)`` (for rare wins ``I`` is about ``W + c``: a Poisson count of
    wins with its prior). The forecast draws the offset, normal with sd ``offset_se``, once
    per draw, stage and group (:func:`_drawn_offsets`): a group's level is known only as well
    as its examples allow, and it moves all the group's cells of the stage together. Centred
    so that the group's
    expected rate stays the point estimate's: a normal shift on the log-odds raises the mean of
    low rates (for rare wins ``E[exp(x + se z)] = exp(x + se^2 / 2)``), so the draws are
    centred at ``offset - se^2 / 2 x bend`` with ``bend = sum p (1 - p) (1 - 2p) / sum p (1 - p)``
    (the second-order term of the mean rate; ``1`` for rare wins, ``0`` at ``p = 1/2``): a
    spread around the estimate, not a move of it.
    Columns: ``stage``, the group columns, ``offset``, ``offset_se``, ``offset_bend``.
    """
    cells = ["stage", "age_bucket", "size_bucket"]
    keys = ["stage", *groups]
    rated = training.with_columns(
        pl.col("won").cast(pl.Float64).mean().over(cells).alias("rate")
    ).with_columns(pl.struct(keys).rank("dense").cast(pl.Int64).sub(1).alias("_g"))
    g = rated["_g"].to_numpy()
    count = int(g.max()) + 1 if g.size else 0
    rows = np.bincount(g, minlength=count).astype(float)
    wins = np.bincount(g, rated["won"].cast(pl.Float64).to_numpy(), minlength=count)
    logit = _logit(rated["rate"].to_numpy())
    expected = np.bincount(g, special.expit(logit), minlength=count)
    deals = (
        rated.group_by("_g").agg(pl.col("deal_id").n_unique().alias("n")).sort("_g")["n"]
    ).to_numpy()
    scale = deals / np.maximum(rows, 1)
    e_deals, w_deals = expected * scale, wins * scale
    c = prior_strength * e_deals / np.maximum(deals, 1)
    ratio = (w_deals + c) / np.maximum(e_deals + c, 1e-12)
    target = np.minimum(expected * ratio, rows - 1e-3)  # below all-won: a finite offset
    offset = np.log(np.maximum(ratio, 1e-9))
    for _ in range(steps):
        p = special.expit(logit + offset[g])
        gap = np.bincount(g, p, minlength=count) - target
        slope = np.bincount(g, p * (1 - p), minlength=count)
        step = np.where(slope > 1e-12, gap / np.maximum(slope, 1e-12), 0.0)
        offset = offset - step
        if np.abs(step).max(initial=0.0) < 1e-10:  # (Newton: a few steps, more near all-won)
            break
    p = special.expit(logit + offset[g])
    moved = np.bincount(g, p, minlength=count)
    slope = np.bincount(g, p * (1 - p), minlength=count)
    # Fisher information of the offset (log-odds): the examples' sum p (1 - p), in distinct
    # deals, plus the c pseudo-wins' share of it, c (1 - mean p)
    info = slope * scale + c * (1 - moved / np.maximum(rows, 1))
    se = np.where((slope > 1e-12) & (info > 1e-12), 1 / np.sqrt(np.maximum(info, 1e-12)), 0.0)
    # how the mean rate bends with the offset: sum p (1 - p) (1 - 2p) / sum p (1 - p)
    bend = np.bincount(g, p * (1 - p) * (1 - 2 * p), minlength=count) / np.maximum(slope, 1e-12)
    first = rated.group_by("_g").agg(pl.col(keys).first()).sort("_g")
    return first.select(keys).with_columns(
        pl.Series("offset", offset), pl.Series("offset_se", se), pl.Series("offset_bend", bend)
    )


def _simulate_rates(
    rng: np.random.Generator,
    current: pl.DataFrame,
    training: pl.DataFrame,
    groups: list[str],
    draws: int,
    prior_strength: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws of each current deal's cell rate.

    Returns (cell index per deal, rates cells x draws, org stage-only rate per deal).
    """
    levels = [["stage"], ["stage", "age_bucket"], ["stage", "age_bucket", "size_bucket"]]
    if groups:
        levels.append(["stage", "age_bucket", "size_bucket", *groups])
    cell_keys = levels[-1]
    cells = current.select(cell_keys).unique().sort(cell_keys)
    rates: np.ndarray | None = None
    for depth, keys in enumerate(levels):
        stats = _cells(training, keys)
        at = cells.join(stats, on=keys, how="left").with_columns(
            pl.col("n").fill_null(0.0), pl.col("w").fill_null(0.0)
        )
        n = at["n"].to_numpy()[:, None]
        w = at["w"].to_numpy()[:, None]
        size = (cells.height, draws)
        if depth == 0:  # Jeffreys prior at the top
            a = np.broadcast_to(w + 0.5, size)
            b = np.broadcast_to(n - w + 0.5, size)
        else:
            assert rates is not None
            prior = rates
            if depth == 3:  # the group's cell: centred on the org's cell moved by the group
                prior = special.expit(
                    _logit(rates)
                    + _drawn_offsets(rng, cells, training, groups, prior_strength, draws)
                )
            a = prior_strength * prior + w
            b = prior_strength * (1 - prior) + n - w
        rates = _beta(rng, a, b)
    assert rates is not None
    index = current.join(
        cells.with_row_index("cell"), on=cell_keys, how="left", maintain_order="left"
    )["cell"].to_numpy()
    stage_only = current.join(
        _cells(training, ["stage"]).select("stage", "rate"),
        on="stage",
        how="left",
        maintain_order="left",
    )["rate"].to_numpy()
    return index, rates, stage_only


def forecast(
    ds: Dataset,
    period: str | Period,
    *,
    as_of: str | dt.date | None = None,
    by: By = None,
    draws: int = 4000,
    seed: int = 0,
    past_periods: int = 8,
    prior_strength: float = PRIOR_STRENGTH,
) -> BookingsForecast:
    """The period's bookings (sum of amounts won in it) as a distribution, seen at ``as_of``.

    Parameters
    ----------
    ds
        A loaded dataset (deals with ``created_at``; ``stage_history`` for stages as of the day).
    period
        The period forecast (``"2025-Q4"``, a :class:`Period`), or ``"current"``: the quarter
        still running after ``as_of`` (the next one when ``as_of`` is a quarter's last day).
    as_of
        The day the forecast is made (end of that day); only what was known then is used.
        Default: the data's last day, or the period's last day before it if earlier.
    by
        Group column(s), e.g. ``"team"``; None for the whole organisation.
    draws, seed
        Monte Carlo draws and the seed (the same seed gives the same figures).
    past_periods
        How many earlier periods supply comparable situations (default 8).
    prior_strength
        Pseudo-deals with which a cell's rate is shrunk towards the level above.

    Returns
    -------
    BookingsForecast
        ``summary`` (P10 / P50 / P90, mean, parts, target and the chance of reaching it),
        ``samples`` and the open ``deals`` with their chance of closing in the period.

    Examples
    --------
    >>> import pipeline_kit as pk
    >>> ds = pk.load(pk.synthetic.sample_path())
    >>> f = pk.forecast(ds, "2025-Q4", as_of="2025-10-31", draws=500)
    >>> f.summary.select("won_to_date", "p10", "p50", "p90").height
    1
    """
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    if ds.undated or ds.last_date is None or ds.first_date is None:
        raise ValueError("a forecast needs dated deals (created_at and closed_at)")
    if not ds.has_amounts:
        raise ValueError(
            "a bookings forecast needs amounts, and no deal in the export has one: add the "
            "amount column to the export"
        )
    if isinstance(period, str) and period.strip().lower() == "current":
        day = parse_date(as_of) if as_of is not None else ds.last_date
        assert day is not None
        period = Period.quarter_of(day + dt.timedelta(days=1))
    period = as_period(period, ds)
    day = parse_date(as_of) if as_of is not None else min(ds.last_date, period.end)
    assert day is not None
    if day >= period.end:
        raise ValueError(
            f"as_of {day} is not before the end of {period.label}: its bookings are known; "
            "use pk.revenue or pk.win_rate for what happened"
        )
    return _forecast(ds, period, day, groups, draws, seed, past_periods, prior_strength)


def _forecast(
    ds: Dataset,
    period: Period,
    day: dt.date,
    groups: list[str],
    draws: int,
    seed: int,
    past_periods: int,
    prior_strength: float,
    known: Snapshots | None = None,
    windows: _Windows | None = None,
) -> BookingsForecast:
    """:func:`forecast` of a resolved ``period`` at ``day`` (before its end).

    ``known``: the deals open on the days the forecast reads (``day`` and its past days), when
    a backtest has computed them for all its forecasts at once; else they are queried here.
    ``windows``: :func:`forecast_windows` of the forecast, when the caller has it.
    """
    assert ds.first_date is not None
    # the groups simulated (``groups`` and the team, :func:`simulated_groups`); the figures
    # are then summed draw by draw to the groups asked for
    report, groups = groups, simulated_groups(ds, groups)
    if windows is None:
        windows = forecast_windows(period, day, ds.first_date, past_periods)
    rng = np.random.default_rng(seed)

    def open_on(days: list[dt.date]) -> pl.LazyFrame:
        return known.on(days) if known is not None else open_deals_on(ds, days, groups)

    deals = ds.lazy("deals")
    won_so_far = deals.filter(won_between(period.start, day)).select("deal_id", *groups, "amount")
    current = open_on([day]).collect().sort("deal_id")
    training = (
        open_on(windows.days())
        .join(windows.past.lazy(), on="snapshot", how="left")
        # a deal that closed by open_through is no example (a day a week early: see _Windows);
        # one that closed after it but before its window opened is an example not won in the
        # window, as a deal open today may also close before the period opens
        .filter(pl.col("closed_at").is_null() | (pl.col("closed_at") > pl.col("open_through")))
        .with_columns(won_between(pl.col("window_first"), pl.col("window_last")).alias("won"))
        .collect()
        .sort("snapshot", "deal_id")  # a fixed order: float sums and draws repeat exactly
    )
    cuts = _age_buckets(training)
    amounts_seen = training["amount"] if training.height else pl.Series([0.0])
    sizes = (
        float(amounts_seen.quantile(1 / 3, "lower") or 0.0),
        float(amounts_seen.quantile(2 / 3, "lower") or 0.0),
    )
    training = _with_bucket(training, cuts, sizes)
    current = _with_bucket(current, cuts, sizes)

    # new deals in the same window of past periods (main past days only: they do not overlap)
    past = windows.past.lazy().filter(pl.col("main"))
    new_won = (
        deals.join(past, how="cross")
        .filter(
            (pl.col("created_at") > pl.col("snapshot"))
            & won_between(pl.col("window_first"), pl.col("window_last"))
        )
        .select("snapshot", "replica", "deal_id", *groups, "amount")
        .collect()
        .sort("snapshot", "deal_id")  # the resampled amounts follow this order
    )
    recent = deals.filter(
        pl.col("created_at").is_between(min(windows.days(), default=day), day)
    ).select(groups)
    frames = [recent.collect(), current.select(groups), won_so_far.select(groups).collect()]
    keys = pl.concat(frames).unique().sort(groups) if groups else pl.DataFrame({"_all": [0]})

    # open deals: cell rates per draw, then each deal's outcome (chunked over deals)
    from_open = np.zeros((keys.height, draws))
    p_deal = np.zeros(current.height)
    stage_rate = np.full(current.height, np.nan)
    if current.height and training.height:
        index, rates, stage_rate = _simulate_rates(
            rng, current, training, groups, draws, prior_strength
        )
        sigma = _period_effect_sd(training, groups, prior_strength)
        if sigma > 0:  # periods differ more than chance: one shift per draw, on the logit scale
            shift = rng.normal(0.0, sigma, size=draws)
            logit = np.log(np.clip(rates, 1e-9, 1 - 1e-9) / np.clip(1 - rates, 1e-9, 1))
            rates = 1 / (1 + np.exp(-(logit + shift[None, :])))
        p_deal = rates[index].mean(axis=1)
        amounts = current["amount"].fill_null(0.0).to_numpy()  # (no amount: adds nothing)
        key_of_deal = _key_index(current, keys, groups)
        for lo in range(0, current.height, _CHUNK):
            hi = min(lo + _CHUNK, current.height)
            wins = rng.random((hi - lo, draws)) < rates[index[lo:hi]]
            contribution = wins * amounts[lo:hi, None]
            add_rows(from_open, key_of_deal[lo:hi], contribution)

    # new deals: Gamma-Poisson count per group, amounts resampled from past ones
    from_new = np.zeros((keys.height, draws))
    k = windows.periods
    if k:
        counts = _key_index(new_won, keys, groups) if new_won.height else np.array([], int)
        replica = new_won["replica"].to_numpy() if new_won.height else np.array([], int)
        per_period = np.zeros((keys.height, k))  # new deals won per group and past period
        np.add.at(per_period, (counts, np.searchsorted(windows.replicas, replica)), 1)
        org_pool = new_won["amount"].fill_null(0.0).to_numpy()  # (no amount: adds nothing)
        season = _seasonal_factor(rng, per_period.sum(axis=0), windows.replicas, period, draws)
        for g in range(keys.height):  # one iteration per group, not per deal
            pool = org_pool[counts == g] if counts.size else org_pool
            pool = pool if pool.size else org_pool
            if not pool.size:
                continue
            lam = _new_deal_rates(rng, per_period[g], draws)
            if season is not None:
                lam = lam * season
            n_new = rng.poisson(lam)
            picks = pool[rng.integers(0, pool.size, size=int(n_new.sum()))]
            from_new[g] = np.bincount(np.repeat(np.arange(draws), n_new), picks, draws)

    if groups != report:  # each draw's teams summed to the groups asked for
        keys, to_report = _report_keys(keys, report)
        from_open, from_new = (
            _summed(from_open, to_report, keys.height),
            _summed(from_new, to_report, keys.height),
        )
        groups = report
    won = _per_key(won_so_far.collect(), keys, groups)
    bookings = won[:, None] + from_open + from_new
    samples = _samples_frame(keys, groups, from_open, from_new, bookings)
    targets = _targets(ds, period, groups, keys)
    summary = _summary(
        keys,
        groups,
        period,
        day,
        won,
        current,
        training,
        k,
        bookings,
        from_open,
        from_new,
        targets,
    )
    # deals without an amount add nothing to the bookings: say how many (won so far, open)
    blank = pl.col("amount").is_null()
    without = _count_per_key(current.filter(blank), keys, groups) + _count_per_key(
        won_so_far.filter(blank).collect(), keys, groups
    )
    summary = summary.insert_column(
        summary.columns.index("open_amount") + 1, pl.Series("without_amount", without, pl.Int64)
    )
    deal_frame = (
        current.select("deal_id", *groups, "stage", "age_in_stage", "age_bucket", "amount")
        .with_columns(
            pl.Series("p_win_in_period", p_deal),
            pl.Series("stage_rate_in_period", stage_rate),
        )
        .join(_crm_probability(ds), on="stage", how="left", maintain_order="left")
    )
    return BookingsForecast(period, day, groups, summary, samples, deal_frame)


def simulated_groups(ds: Dataset, groups: list[str]) -> list[str]:
    """The groups a forecast simulates: ``groups``, and ``team`` when the deals name two or more.

    Why: teams differ in win rate and cycle length, and a cell (stage x age x size) cannot
    see that; an organisation's forecast from the cells alone gives its large deals the win
    rate of the cell, while most of them belong to the team that wins them least often and
    latest (in the backtest of the bench's organisations, 26-29% of quarters fell below its
    P10 one and two months into the quarter). Every team is simulated with its own level
    (:func:`_group_offsets`) and the draws summed: the organisation's forecast is the sum of
    its teams'.
    """
    if "team" in groups or "team" not in ds.schema("deals").names():
        return list(groups)
    teams = ds.lazy("deals").select(pl.col("team").n_unique()).collect().item()
    return [*groups, "team"] if teams > 1 else list(groups)


def _report_keys(keys: pl.DataFrame, report: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """The keys of ``report`` (sorted) and the row of each simulated key among them."""
    if not report:
        return pl.DataFrame({"_all": [0]}), np.zeros(keys.height, dtype=np.int64)
    wanted = keys.select(report).unique().sort(report)
    return wanted, _key_index(keys, wanted, report)


def _summed(rows: np.ndarray, to_report: np.ndarray, count: int) -> np.ndarray:
    """``rows`` (simulated keys x draws) summed into ``count`` reported keys, in a fixed order."""
    total = np.zeros((count, rows.shape[1]))
    add_rows(total, to_report, rows)
    return total


def _offsets_of(
    frame: pl.DataFrame, training: pl.DataFrame, groups: list[str], prior_strength: float
) -> np.ndarray:
    """Each row's group offset in its stage (:func:`_group_offsets`), 0 where it has none."""
    offset = frame.join(
        _group_offsets(training, groups, prior_strength),
        on=["stage", *groups],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )["offset"]
    return offset.fill_null(0.0).to_numpy()


def _drawn_offsets(
    rng: np.random.Generator,
    cells: pl.DataFrame,
    training: pl.DataFrame,
    groups: list[str],
    prior_strength: float,
    draws: int,
) -> np.ndarray:
    """Draws (cells x draws) of each cell's group offset.

    ``offset - offset_se^2 / 2 x offset_bend + offset_se x z``: one standard normal ``z`` per
    draw and stage x group (:func:`_group_offsets`), shared by all the cells of that stage and
    group; 0 for a cell whose group has no offset.
    """
    table = _group_offsets(training, groups, prior_strength).with_row_index("_o")
    at = cells.join(
        table, on=["stage", *groups], how="left", nulls_equal=True, maintain_order="left"
    )
    se = at["offset_se"].fill_null(0.0).to_numpy()[:, None]
    bend = at["offset_bend"].fill_null(0.0).to_numpy()[:, None]
    offset = at["offset"].fill_null(0.0).to_numpy()[:, None] - se**2 / 2 * bend
    z = rng.standard_normal((table.height, draws))
    row = at["_o"].fill_null(0).cast(pl.Int64).to_numpy()
    return offset + se * (z[row] if table.height else 0.0)


def _period_effect_sd(
    training: pl.DataFrame,
    groups: list[str] | None = None,
    prior_strength: float = PRIOR_STRENGTH,
    min_expected: float = 5.0,
) -> float:
    """How much more than chance the past periods' bookings from open deals miss (sd).

    Per group and past period (main past days only), the bookings the examples brought
    ``W = sum amount x won`` against ``E = sum amount x rate`` (``rate``: the organisation's
    cell rate moved by the group's offset, :func:`_group_offsets`) and the variance chance
    alone gives, ``V = sum amount^2 x rate x (1 - rate)``. The squared relative misses beyond
    chance, ``sigma^2 = max(0, sum((W - E)^2 / E^2) / (N - G) - mean(V / E^2))`` over the ``N``
    group-periods (``G`` groups: each group's level is estimated from its own periods), is
    what a period's shock and the deals' differences a cell cannot see (a big deal's own
    chance) add. Amount-weighted because bookings are: a few large deals decide a team's
    quarter. Needs three group-periods with ``sum rate >= min_expected`` expected wins.
    """
    cells = ["stage", "age_bucket", "size_bucket"]
    groups = groups or []
    rated = training.filter(pl.col("main")).with_columns(
        pl.col("won").cast(pl.Float64).mean().over(cells).alias("rate")
    )
    if not rated.height:
        return 0.0
    if groups:
        offset = _offsets_of(rated, training, groups, prior_strength)
        moved = special.expit(_logit(rated["rate"].to_numpy()) + offset)
        rated = rated.with_columns(pl.Series("rate", moved))
    # sequential sums in the training's fixed order (a parallel sum could differ in the last
    # bit, and the draws with it)
    cell = rated.select(pl.struct([*groups, "replica"]).rank("dense").cast(pl.Int64) - 1)
    index = cell.to_series().to_numpy()
    amount = rated["amount"].cast(pl.Float64).fill_null(0.0).to_numpy()  # no amount: no bookings
    rate = rated["rate"].to_numpy()
    won = rated["won"].cast(pl.Float64).to_numpy()
    w = np.bincount(index, amount * won)
    e = np.bincount(index, amount * rate)
    v = np.bincount(index, amount**2 * rate * (1 - rate))
    keep = (np.bincount(index, rate) >= min_expected) & (e > 0)
    group_of = np.zeros(index.max() + 1, dtype=np.int64)
    if groups:  # the group of each group-period
        group_of[index] = rated.select(pl.struct(groups).rank("dense")).to_series().to_numpy()
    n = int(keep.sum())
    g = len(np.unique(group_of[keep]))
    if n < 3 or n - g < 2:
        return 0.0
    w, e, v = w[keep], e[keep], v[keep]
    excess = float(np.sum(((w - e) / e) ** 2) / (n - g) - np.mean(v / e**2))
    return float(np.sqrt(excess)) if excess > 0 else 0.0


SEASON_PRIOR = 10.0  # pseudo-deals (expected at no seasonal difference) of the seasonal factor


def _seasonal_factor(
    rng: np.random.Generator,
    counts: np.ndarray,
    replicas: np.ndarray,
    period: Period,
    draws: int,
) -> np.ndarray | None:
    """Draws of how much more (or less) the new-deal flow is in the period's season.

    ``counts``: new deals won in the window of each past period (all groups together),
    ``replicas``: how many periods back each was. For periods of whole months that divide a
    year (a quarter: 4 a year), the past periods a whole number of years back are the same
    season. Their rate against the other periods' rate ``r`` is the seasonal factor ``f``,
    drawn from ``Gamma(S + c, n r + c)`` (``S`` deals in the ``n`` same-season periods, shrunk
    towards 1 with ``c = SEASON_PRIOR`` pseudo-deals); the organisation's, for every group (a
    team's few deals cannot carry a season of their own). Returned as the multiplier of the
    all-period mean rate, ``f / (1 + n (f - 1) / K)`` over ``K`` past periods (the mean
    already holds the ``n`` same-season periods). None (no seasonal term) when there is no
    season (a ragged period, one of 5 months), no same-season or no other past period, or no
    new deal in the others.
    """
    months = period_months(period)
    if not months or 12 % months or counts.size != replicas.size:
        return None
    same = replicas % (12 // months) == 0
    n_same, n_other = int(same.sum()), int((~same).sum())
    if not n_same or not n_other or counts[~same].sum() <= 0:
        return None
    rate = counts[~same].sum() / n_other
    f = rng.gamma(counts[same].sum() + SEASON_PRIOR, 1.0 / (n_same * rate + SEASON_PRIOR), draws)
    return f / (1 + n_same * (f - 1) / replicas.size)


def _new_deal_rates(rng: np.random.Generator, counts: np.ndarray, draws: int) -> np.ndarray:
    """Draws of the expected number of new deals won in the window.

    The mean rate has a Gamma posterior (``shape = sum + 0.5``, ``rate = periods``); when the
    past periods' counts vary more than Poisson (``var > mean``, three periods or more), each
    draw also varies around that mean as a Gamma with the excess variance (a negative binomial
    count), so a seasonal or lumpy flow of new deals widens the range.
    """
    k = counts.size
    mean_rate = rng.gamma(counts.sum() + 0.5, 1.0 / k, size=draws)
    if k < 3:
        return mean_rate
    m, v = counts.mean(), counts.var(ddof=1)
    if v <= m or m == 0:
        return mean_rate
    shape = m * m / (v - m)
    return rng.gamma(shape, mean_rate / shape)


def _key_index(frame: pl.DataFrame, keys: pl.DataFrame, groups: list[str]) -> np.ndarray:
    if not groups:
        return np.zeros(frame.height, dtype=np.int64)
    return key_index(frame, keys, groups).to_numpy().astype(np.int64)


def _per_key(frame: pl.DataFrame, keys: pl.DataFrame, groups: list[str]) -> np.ndarray:
    return group_sums(frame, keys, groups, "amount")


def _samples_frame(keys, groups, from_open, from_new, bookings) -> pl.DataFrame:
    draws = bookings.shape[1]
    frame = pl.DataFrame(
        {
            "draw": np.tile(np.arange(draws), keys.height),
            "from_open": from_open.ravel(),
            "from_new": from_new.ravel(),
            "bookings": bookings.ravel(),
        }
    )
    if groups:
        frame = pl.concat(
            [keys.select(pl.all().repeat_by(draws).explode()), frame], how="horizontal"
        )
    return frame


def _targets(ds: Dataset, period: Period, groups: list[str], keys: pl.DataFrame) -> np.ndarray:
    """The period's target per group (NaN where the targets table has none that fits)."""
    missing = np.full(keys.height, np.nan)
    if not ds.has("targets") or groups not in ([], ["team"], ["owner"]):
        return missing
    rows = ds.lazy("targets").filter(
        (pl.col("period_start") == period.start) & (pl.col("period_end") == period.end)
    )
    names = ds.lazy("targets").collect_schema().names()
    if groups == ["owner"]:
        if "owner" not in names:
            return missing
        rows = rows.filter(pl.col("owner").is_not_null())
    elif "owner" in names:
        rows = rows.filter(pl.col("owner").is_null())
    found = rows.collect()
    if not found.height:
        return missing
    if not groups:
        return np.array([float(found["target"].sum())])
    sums = found.group_by(groups).agg(pl.col("target").sum())
    return (
        keys.join(sums, on=groups, how="left", maintain_order="left", nulls_equal=True)["target"]
        .fill_null(float("nan"))
        .to_numpy()
    )


def _crm_probability(ds: Dataset) -> pl.DataFrame:
    return (
        ds.lazy("stages").select("stage", pl.col("probability").alias("crm_probability")).collect()
    )


# the parts of a forecast summary's ``note`` (joined by "; "): a report translates each part
NOTE_PARTS = (
    N_("no earlier period with a known outcome before as_of: only deals won so far are counted"),
    N_("only {k} earlier period(s) to learn from: wide interval"),
    N_(
        "{examples} comparable past deals for this group (under 20): its rates lean on the "
        "organisation's"
    ),
)


def _summary(
    keys, groups, period, day, won, current, training, k, bookings, from_open, from_new, targets
) -> pl.DataFrame:
    p10, p50, p90 = np.quantile(bookings, QUANTILES, axis=1)
    open_n = _count_per_key(current, keys, groups)
    open_amount = _per_key(current, keys, groups)
    examples = _examples_per_key(training, keys, groups)
    reach = np.where(
        np.isnan(targets), np.nan, (bookings >= np.nan_to_num(targets)[:, None]).mean(axis=1)
    )
    notes = []
    for g in range(keys.height):
        why = []
        if k == 0:
            why.append(NOTE_PARTS[0])
        elif k < 4:
            why.append(NOTE_PARTS[1].format(k=k))
        if open_n[g] and examples[g] < 20:
            why.append(NOTE_PARTS[2].format(examples=int(examples[g])))
        notes.append("; ".join(why))
    frame = pl.DataFrame(
        {
            "period": [period.label] * keys.height,
            "as_of": [day] * keys.height,
            "won_to_date": won,
            "open_deals": open_n,
            "open_amount": open_amount,
            "expected_from_open": from_open.mean(axis=1),
            "expected_from_new": from_new.mean(axis=1),
            "mean": bookings.mean(axis=1),
            "p10": p10,
            "p50": p50,
            "p90": p90,
            "target": targets,
            "p_reach_target": reach,
            "examples": examples,
            "past_periods": [k] * keys.height,
            "note": notes,
        }
    ).with_columns(pl.col("target", "p_reach_target").fill_nan(None))
    return pl.concat([keys, frame], how="horizontal") if groups else frame


def _count_per_key(frame: pl.DataFrame, keys: pl.DataFrame, groups: list[str]) -> np.ndarray:
    if not groups:
        return np.array([frame.height])
    counts = frame.group_by(groups).len()
    return (
        keys.join(counts, on=groups, how="left", maintain_order="left", nulls_equal=True)["len"]
        .fill_null(0)
        .to_numpy()
    )


def _examples_per_key(training: pl.DataFrame, keys: pl.DataFrame, groups: list[str]) -> np.ndarray:
    if not groups:
        return np.array([training["deal_id"].n_unique() if training.height else 0])
    counts = training.group_by(groups).agg(pl.col("deal_id").n_unique().alias("n"))
    return (
        keys.join(counts, on=groups, how="left", maintain_order="left", nulls_equal=True)["n"]
        .fill_null(0)
        .cast(pl.Int64)
        .to_numpy()
    )
