"""The Forecast section of the team report and the organisation summary.

Two questions, answered for one team (``team=...``) or the whole organisation:

* **Will the next quarter make its number?** The forecast of the quarter after the report's
  period, made at the report's ``as_of``: P10 / P50 / P90, the chance of reaching the target,
  and what it rests on (won so far, open deals, new deals, how many past periods and deals).
* **How far can it be trusted?** The same method re-run on every earlier quarter of this data
  from what was known at its start and at each month end, scored against what was booked:
  how often the 80% interval held the outcome, the median error, and the report's own period.

Both are seeded, so a report is byte-identical on a re-run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.charts._base import pattern_regex
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.backtest import Backtest, backtest_forecast
from pipeline_kit.forecasting.model import NOTE_PARTS, BookingsForecast, forecast
from pipeline_kit.formatting import Formatter, as_float
from pipeline_kit.i18n import N_
from pipeline_kit.periods import Period
from pipeline_kit.sections import markdown, md_table

__all__ = ["ForecastSection"]

DRAWS = 2000
SEED = 20
# past quarters below which the track record gives no verdict on the range
MIN_QUARTERS_TO_JUDGE = 4
# complete earlier quarters below which a forecast is called indicative (the backtest's
# "two to learn from")
MIN_PAST_QUARTERS = 2


# the forecast table's amounts, read side by side
_TABLE_AMOUNTS = ("won_to_date", "expected_from_open", "expected_from_new", "p10", "p50", "p90")


@dataclass
class ForecastSection:
    """The forecast and its track record for ``team`` (None: the whole organisation).

    In the report's language ``lang``, amounts in ``currency`` (an ISO 4217 code).
    """

    ds: Dataset
    period: Period
    as_of: dt.date
    team: str | None = None
    lang: str = "en"
    currency: str = "USD"
    fmt: Formatter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fmt = Formatter(self.lang, self.currency)

    @property
    def _who(self) -> str:
        return self.team or self.fmt._("the organisation")

    def _chart(self, chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
        return charts.localise(chart, self.fmt.lang, self.fmt.currency)

    @property
    def _by(self) -> list[str]:
        return ["team"] if self.team is not None else []

    def _why_not(self) -> str | None:
        if self.ds.undated or self.ds.first_date is None:
            return self.fmt._("the export has no dates, so there is no quarter to forecast")
        if self.period.is_all:
            return self.fmt._("the report covers the whole export, not a quarter")
        if not self.ds.has_amounts:
            return self.fmt._("no deal in the export has an amount, so there are no bookings")
        return None

    @cached_property
    def next_period(self) -> Period:
        """The quarter still running after ``as_of`` (the next one at a quarter's end)."""
        return Period.quarter_of(self.as_of + dt.timedelta(days=1))

    @cached_property
    def outlook(self) -> BookingsForecast:
        """The next quarter's forecast (seeded), every team's at once.

        Computed once per dataset (:meth:`~pipeline_kit.Dataset.memoised`): a report kernel
        that runs several teams forecasts them all in its first, and a dataset loaded through
        the on-disk cache keeps it there for the other kernels of the batch.
        """
        key = ("forecast", self.next_period.label, self.as_of, tuple(self._by), DRAWS, SEED)
        return self.ds.memoised(
            key,
            lambda: forecast(
                self.ds, self.next_period, as_of=self.as_of, by=self._by, draws=DRAWS, seed=SEED
            ),
            persist=True,
        )

    @cached_property
    def track_record(self) -> Backtest:
        """The backtest of every earlier quarter (seeded), once per dataset as :attr:`outlook`."""
        key = ("backtest_forecast", tuple(self._by), DRAWS // 2, SEED)
        return self.ds.memoised(
            key,
            lambda: backtest_forecast(self.ds, by=self._by, draws=DRAWS // 2, seed=SEED),
            persist=True,
        )

    def _row(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("team") == self.team) if self.team is not None else frame

    def outlook_table(self) -> Markdown:
        """The next quarter's forecast and what it rests on."""
        f = self.fmt
        _ = f._
        if (why := self._why_not()) is not None:
            return markdown(_("No forecast: {reason}.").format(reason=why))
        rows = self._row(self.outlook.summary)
        if rows.height == 0:
            return markdown(
                _("No forecast for {who}: no deals in the data before {as_of}.").format(
                    who=self._who, as_of=f.date(self.as_of)
                )
            )
        r = rows.row(0, named=True)
        row = f.side_by_side(r[c] for c in _TABLE_AMOUNTS)  # one money form across the table
        target = (
            _("target {target}, {chance} chance of reaching it").format(
                target=f.money(r["target"]), chance=f.pct(r["p_reach_target"], 0)
            )
            if r["target"] is not None
            else _("no target for this quarter in the targets table")
        )
        thin = (
            " "
            + _(
                "*Indicative only:* it rests on {past_periods} complete earlier quarter(s) and "
                "{examples} comparable past deal(s) (the track record below needs {least} "
                "quarters to learn from)."
            ).format(
                past_periods=r["past_periods"],
                examples=f"{r['examples']:,}",
                least=MIN_PAST_QUARTERS,
            )
            if r["past_periods"] < MIN_PAST_QUARTERS
            else ""
        )
        lines = [
            _("**{period}, as of {as_of}**: {range}; {target}.").format(
                period=self.next_period.label,
                as_of=f.date(self.as_of),
                range=_range(r, f),
                target=target,
            )
            + thin,
            "",
            md_table(
                [
                    _("Won so far"),
                    _("From open deals"),
                    _("From deals not yet created"),
                    "P10",
                    "P50",
                    "P90",
                ],
                [[row.money(r[c]) for c in _TABLE_AMOUNTS]],
            ),
            "",
            _(
                "It rests on {open_deals} open deals worth {open_amount}, each given its chance "
                "of being won by {end} from {examples} comparable deals at the same point of "
                "{past_periods} earlier quarters (same stage, age in stage and size{shrunk}). "
                "Amounts are the deals' current amounts."
            ).format(
                open_deals=f"{r['open_deals']:,}",
                open_amount=f.money(r["open_amount"])
                + (
                    _(" ({n} deal(s) without an amount left out)").format(n=r["without_amount"])
                    if r.get("without_amount")
                    else ""
                ),
                end=f.date(self.next_period.end),
                examples=f"{r['examples']:,}",
                past_periods=r["past_periods"],
                shrunk=_(", this team's own deals shrunk towards the organisation's")
                if self.team
                else "",
            ),
        ]
        if r["note"]:
            sep = "；" if f.lang.startswith("zh") else "; "  # Chinese: a full-width semicolon
            note = sep.join(_note_part(piece, _) for piece in r["note"].split("; "))
            lines += ["", _("> Note: {note}.").format(note=note)]
        return markdown("\n".join(lines))

    def outlook_chart(self) -> alt.TopLevelMixin | Markdown:
        """The next quarter's forecast as a chart."""
        if (why := self._why_not()) is not None:
            return markdown(self.fmt._("No forecast chart: {reason}.").format(reason=why))
        group = "team" if self.team is not None else None
        return self._chart(
            charts.forecast_chart(
                self._row(self.outlook.summary),
                group,
                title=self.fmt._("{period} bookings forecast, as of {as_of}").format(
                    period=self.next_period.label, as_of=self.fmt.date(self.as_of)
                ),
            )
        )

    def track_record_table(self) -> Markdown:
        """How the method did on this data's past quarters, and on the report's own period."""
        f = self.fmt
        _ = f._
        if (why := self._why_not()) is not None:
            return markdown(_("No backtest: {reason}.").format(reason=why))
        model = self._row(self.track_record.forecasts.filter(pl.col("method") == "model"))
        if model.height == 0:
            return markdown(
                _(
                    "No backtest yet: it needs at least three complete quarters of data (two to "
                    "learn from, one to forecast)."
                )
            )
        rows = []
        for checkpoint in ("start", "month 1", "month 2"):
            part = model.filter(pl.col("checkpoint") == checkpoint)
            if part.height == 0:
                continue
            rows.append(
                [
                    _(_checkpoint_name(checkpoint)),
                    str(part.height),
                    f.pct(as_float(part["in_80"].cast(pl.Float64).mean()), 0),
                    f.pct(as_float(part["ape"].median()), 0),
                ]
            )
        lines = [
            _(
                "Re-run on {n} past quarters of this data, each from what was known on the day:"
            ).format(n=model["period"].n_unique()),
            "",
            md_table(
                [
                    _("Forecast made"),
                    _("Quarters"),
                    _("Actual inside the 80% range"),
                    _("Median error"),
                ],
                rows,
            ),
            "",
            track_record_verdict(model, f),
        ]
        own = model.filter(pl.col("period") == self.period.label).sort("as_of")
        if own.height:
            said = "; ".join(
                _("{checkpoint}, {low} to {high}").format(
                    checkpoint=_(_checkpoint_name(r["checkpoint"])),
                    low=f.money(r["p10"]),
                    high=f.money(r["p90"]),
                )
                for r in own.iter_rows(named=True)
            )
            booked = f.money(own["actual"][0])
            lines += [
                "",
                _("For {period} it said: {said}. Booked: {booked}.").format(
                    period=self.period.label, said=said, booked=booked
                ),
            ]
        return markdown("\n".join(lines))

    def track_record_chart(self) -> alt.TopLevelMixin | Markdown:
        """Past forecasts against what was booked."""
        if (why := self._why_not()) is not None:
            return markdown(self.fmt._("No backtest chart: {reason}.").format(reason=why))
        return self._chart(
            charts.backtest_chart(
                self._row(self.track_record.forecasts),
                title=self.fmt._("Past forecasts for {who} against what was booked").format(
                    who=self._who
                ),
            )
        )

    def teams_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's forecast of the next quarter side by side (organisation summary)."""
        if (why := self._why_not()) is not None:
            return markdown(self.fmt._("No forecast chart: {reason}.").format(reason=why))
        by_team = forecast(
            self.ds, self.next_period, as_of=self.as_of, by="team", draws=DRAWS, seed=SEED
        )
        return self._chart(
            charts.forecast_chart(
                by_team.summary,
                "team",
                title=self.fmt._("{period} bookings forecast by team, as of {as_of}").format(
                    period=self.next_period.label, as_of=self.fmt.date(self.as_of)
                ),
            )
        )


def track_record_verdict(model: pl.DataFrame, f: Formatter) -> str:
    """How far the 80% range can be trusted, from the backtest's quarter-start forecasts.

    ``held`` of ``n`` past quarters had what was booked inside P10-P90. Below
    :data:`MIN_QUARTERS_TO_JUDGE` quarters no verdict is given (only the side of every miss,
    when all fell on one side); from there an exact binomial test of ``held`` against 0.8
    (one-sided each way, 5%) says whether the range held what was booked less (or more) often
    than an 80% range should, and on which side the misses fell.
    """
    _ = f._
    start = model.filter((pl.col("checkpoint") == "start") & pl.col("actual").is_not_null())
    n = start.height
    held = int(start["in_80"].sum())
    below = int((start["actual"] < start["p10"]).sum())
    above = int((start["actual"] > start["p90"]).sum())
    if n < MIN_QUARTERS_TO_JUDGE:
        text = _(
            "{n} past quarter(s) are too few to tell how far the range can be trusted (it "
            "takes {least})."
        ).format(n=n, least=MIN_QUARTERS_TO_JUDGE)
        if n >= 2 and below == n:
            text += " " + _("In each, what was booked fell below the range: it ran high.")
        elif n >= 2 and above == n:
            text += " " + _("In each, what was booked fell above the range: it ran low.")
        return text
    from scipy.stats import binomtest

    if binomtest(held, n, 0.8, alternative="less").pvalue < 0.05:
        side = (
            _("most misses were below the range: it ran high")
            if below > above
            else _("most misses were above the range: it ran low")
            if above > below
            else _("the misses fell on both sides")
        )
        return _(
            "The 80% range held what was booked in only {held} of {n} past quarters (forecast "
            "at the quarter's start), fewer than 8 in 10 beyond chance (exact binomial test, "
            "5%); {side}. Read the range as narrower than the real uncertainty."
        ).format(held=held, n=n, side=side)
    if binomtest(held, n, 0.8, alternative="greater").pvalue < 0.05:
        return _(
            "The 80% range held what was booked in {held} of {n} past quarters (forecast at "
            "the quarter's start), more than 8 in 10 beyond chance (exact binomial test, 5%): "
            "the range is wider than it needs to be."
        ).format(held=held, n=n)
    return _(
        "The 80% range held what was booked in {held} of {n} past quarters (forecast at the "
        "quarter's start): within chance of 8 in 10."
    ).format(held=held, n=n)


def _range(r: dict, f: Formatter) -> str:
    return f._("between {p10} and {p90} in 8 of 10 outcomes, {p50} in the middle").format(
        p10=f.money(r["p10"]), p90=f.money(r["p90"]), p50=f.money(r["p50"])
    )


def _checkpoint_name(checkpoint: str) -> str:
    """How a checkpoint reads in English (the caller translates it)."""
    return {
        "start": N_("at the quarter's start"),
        "month 1": N_("after its first month"),
        "month 2": N_("a month before its end"),
    }.get(checkpoint, checkpoint)


def _note_part(text: str, _: Callable[[str], str]) -> str:
    """One part of a forecast note in the report's language (matched to its template)."""
    for template in NOTE_PARTS:
        if (hit := pattern_regex(template).match(text)) is not None:
            return _(template).format(**hit.groupdict())
    return _(text)
