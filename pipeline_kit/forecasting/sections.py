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
from dataclasses import dataclass
from functools import cached_property

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.backtest import Backtest, backtest_forecast
from pipeline_kit.forecasting.model import BookingsForecast, forecast
from pipeline_kit.formatting import fmt_money, fmt_pct
from pipeline_kit.periods import Period
from pipeline_kit.sections import markdown, md_table

__all__ = ["ForecastSection"]

DRAWS = 2000
SEED = 20


@dataclass
class ForecastSection:
    """The forecast and its track record for ``team`` (None: the whole organisation)."""

    ds: Dataset
    period: Period
    as_of: dt.date
    team: str | None = None

    @property
    def _who(self) -> str:
        return self.team or "the organisation"

    @property
    def _by(self) -> list[str]:
        return ["team"] if self.team is not None else []

    def _why_not(self) -> str | None:
        if self.ds.undated or self.ds.first_date is None:
            return "the export has no dates, so there is no quarter to forecast"
        if self.period.is_all:
            return "the report covers the whole export, not a quarter"
        return None

    @cached_property
    def next_period(self) -> Period:
        """The quarter still running after ``as_of`` (the next one at a quarter's end)."""
        return Period.quarter_of(self.as_of + dt.timedelta(days=1))

    @cached_property
    def outlook(self) -> BookingsForecast:
        """The next quarter's forecast (seeded)."""
        return forecast(
            self.ds, self.next_period, as_of=self.as_of, by=self._by, draws=DRAWS, seed=SEED
        )

    @cached_property
    def track_record(self) -> Backtest:
        """The backtest of every earlier quarter (seeded)."""
        return backtest_forecast(self.ds, by=self._by, draws=DRAWS // 2, seed=SEED)

    def _row(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("team") == self.team) if self.team is not None else frame

    def outlook_table(self) -> Markdown:
        """The next quarter's forecast and what it rests on."""
        if (why := self._why_not()) is not None:
            return markdown(f"No forecast: {why}.")
        rows = self._row(self.outlook.summary)
        if rows.height == 0:
            return markdown(
                f"No forecast for {self._who}: no deals in the data before {self.as_of}."
            )
        r = rows.row(0, named=True)
        target = (
            f"target {fmt_money(r['target'])}, "
            f"{fmt_pct(r['p_reach_target'], 0)} chance of reaching it"
            if r["target"] is not None
            else "no target for this quarter in the targets table"
        )
        lines = [
            f"**{self.next_period.label}, as of {self.as_of}**: {_range(r)}; {target}.",
            "",
            md_table(
                [
                    "Won so far",
                    "From open deals",
                    "From deals not yet created",
                    "P10",
                    "P50",
                    "P90",
                ],
                [
                    [
                        fmt_money(r["won_to_date"]),
                        fmt_money(r["expected_from_open"]),
                        fmt_money(r["expected_from_new"]),
                        fmt_money(r["p10"]),
                        fmt_money(r["p50"]),
                        fmt_money(r["p90"]),
                    ]
                ],
            ),
            "",
            f"It rests on {r['open_deals']:,} open deals worth {fmt_money(r['open_amount'])}, "
            f"each given its chance of being won by {self.next_period.end} from "
            f"{r['examples']:,} comparable deals at the same point of "
            f"{r['past_periods']} earlier quarters (same stage, age in stage and size"
            + (", this team's own deals shrunk towards the organisation's" if self.team else "")
            + "). Amounts are the deals' current amounts.",
        ]
        if r["note"]:
            lines += ["", f"> Note: {r['note']}."]
        return markdown("\n".join(lines))

    def outlook_chart(self) -> alt.TopLevelMixin | Markdown:
        """The next quarter's forecast as a chart."""
        if (why := self._why_not()) is not None:
            return markdown(f"No forecast chart: {why}.")
        group = "team" if self.team is not None else None
        return charts.forecast_chart(
            self._row(self.outlook.summary),
            group,
            title=f"{self.next_period.label} bookings forecast, as of {self.as_of}",
        )

    def track_record_table(self) -> Markdown:
        """How the method did on this data's past quarters, and on the report's own period."""
        if (why := self._why_not()) is not None:
            return markdown(f"No backtest: {why}.")
        model = self._row(self.track_record.forecasts.filter(pl.col("method") == "model"))
        if model.height == 0:
            return markdown(
                "No backtest yet: it needs at least three complete quarters of data (two to "
                "learn from, one to forecast)."
            )
        rows = []
        for checkpoint in ("start", "month 1", "month 2"):
            part = model.filter(pl.col("checkpoint") == checkpoint)
            if part.height == 0:
                continue
            rows.append(
                [
                    _checkpoint_name(checkpoint),
                    str(part.height),
                    fmt_pct(_number(part["in_80"].cast(pl.Float64).mean()), 0),
                    fmt_pct(_number(part["ape"].median()), 0),
                ]
            )
        lines = [
            f"Re-run on {model['period'].n_unique()} past quarters of this data, each from what "
            "was known on the day:",
            "",
            md_table(
                ["Forecast made", "Quarters", "Actual inside the 80% range", "Median error"], rows
            ),
        ]
        own = model.filter(pl.col("period") == self.period.label).sort("as_of")
        if own.height:
            said = "; ".join(
                f"{_checkpoint_name(r['checkpoint'])}, {fmt_money(r['p10'])} to "
                f"{fmt_money(r['p90'])}"
                for r in own.iter_rows(named=True)
            )
            booked = fmt_money(own["actual"][0])
            lines += ["", f"For {self.period.label} it said: {said}. Booked: {booked}."]
        return markdown("\n".join(lines))

    def track_record_chart(self) -> alt.TopLevelMixin | Markdown:
        """Past forecasts against what was booked."""
        if (why := self._why_not()) is not None:
            return markdown(f"No backtest chart: {why}.")
        return charts.backtest_chart(
            self._row(self.track_record.forecasts),
            title=f"Past forecasts for {self._who} against what was booked",
        )

    def teams_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's forecast of the next quarter side by side (organisation summary)."""
        if (why := self._why_not()) is not None:
            return markdown(f"No forecast chart: {why}.")
        by_team = forecast(
            self.ds, self.next_period, as_of=self.as_of, by="team", draws=DRAWS, seed=SEED
        )
        return charts.forecast_chart(
            by_team.summary,
            "team",
            title=f"{self.next_period.label} bookings forecast by team, as of {self.as_of}",
        )


def _number(value: object) -> float | None:
    """A polars scalar aggregate as a float (None when missing)."""
    return float(value) if isinstance(value, int | float) else None


def _range(r: dict) -> str:
    return (
        f"between {fmt_money(r['p10'])} and {fmt_money(r['p90'])} in 8 of 10 outcomes, "
        f"{fmt_money(r['p50'])} in the middle"
    )


def _checkpoint_name(checkpoint: str) -> str:
    return {
        "start": "at the quarter's start",
        "month 1": "after its first month",
        "month 2": "a month before its end",
    }.get(checkpoint, checkpoint)
