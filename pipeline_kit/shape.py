"""What an export holds, so that every section can say why it shows nothing.

Real exports come in shapes the bundled sample never has: only closed deals, only won deals,
no owner column, no stage history, one team, lost deals without amounts. A section that cannot
be computed on such an export states the real reason in one sentence ("there are no open deals
in this export"), never a generic "not enough data" when the team has hundreds of deals.

>>> shape = DataShape.of(ds)                     # doctest: +SKIP
>>> shape.why_no_win_rate()                       # doctest: +SKIP
'this export has no lost deals: ...'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import ONE_TEAM, UNKNOWN_OWNER

__all__ = ["DataShape"]


@dataclass(frozen=True)
class DataShape:
    """Counts that decide which analyses an export supports (whole dataset, all periods)."""

    deals: int
    open: int
    won: int
    lost: int
    teams: int
    owners_known: bool
    one_team_by_default: bool
    history_derived: bool
    open_stages: int
    lost_amounts_all_zero: bool
    leads: int
    undated: bool = False
    days_to_close: bool = False  # (a win/loss export may give each deal's cycle in days)
    # how the reasons are worded: English (a Message, which is its English text) or a report's
    say: Callable[[Message], str] = field(default=str, compare=False, repr=False)

    def in_language(self, text: Callable[[object], str]) -> DataShape:
        """The same shape, its reasons worded by ``text`` (a report's ``Formatter.text``)."""
        return replace(self, say=text)

    @classmethod
    def of(cls, ds: Dataset) -> DataShape:
        """The shape of ``ds`` (computed once per dataset)."""
        return ds.memoised(("data_shape",), lambda: cls._compute(ds))

    @classmethod
    def _compute(cls, ds: Dataset) -> DataShape:
        deals = ds.tables["deals"]
        counts = deals.select(
            pl.len().alias("deals"),
            pl.col("status").eq("open").sum().alias("open"),
            pl.col("status").eq("won").sum().alias("won"),
            pl.col("status").eq("lost").sum().alias("lost"),
            pl.col("team").n_unique().alias("teams"),
            pl.col("owner").ne(UNKNOWN_OWNER).any().alias("owners_known"),
            (pl.col("team").eq(ONE_TEAM).all() & pl.len().gt(0)).alias("one_team"),
            (pl.col("amount").filter(pl.col("status") == "lost").max().fill_null(1.0) == 0).alias(
                "lost_zero"
            ),
        ).row(0, named=True)
        stages = ds.tables["stages"]
        open_stages = stages.filter(~pl.col("is_won") & ~pl.col("is_lost")).height
        return cls(
            deals=counts["deals"],
            open=counts["open"],
            won=counts["won"],
            lost=counts["lost"],
            teams=counts["teams"],
            owners_known=bool(counts["owners_known"]),
            one_team_by_default=bool(counts["one_team"])
            and any("no team column" in n or "one team 'All'" in n for n in ds.notes),
            history_derived=ds.stage_history_approximate,
            open_stages=open_stages,
            lost_amounts_all_zero=bool(counts["lost_zero"]) and counts["lost"] > 0,
            leads=ds.tables["leads"].height if ds.has("leads") else 0,
            undated=ds.undated,
            days_to_close="days_to_close" in deals.columns
            and deals["days_to_close"].is_not_null().any(),
        )

    # ------------------------------------------------------------------ reasons
    def why_no_dates(self, what: str) -> str | None:
        """Why ``what`` (something over time) cannot be shown: the export has no dates."""
        if self.undated:
            return self.say(
                Message(N_("this export has no dates, so there is no {what}"), what=Message(what))
            )
        return None

    def why_no_cycle(self) -> str | None:
        """Why no sales cycle length can be computed: no dates, and no ``days_to_close``."""
        return None if self.days_to_close else self.why_no_dates(N_("sales cycle length"))

    def why_no_open_pipeline(self) -> str | None:
        """Why no snapshot of open deals can be shown, or None when one can."""
        if self.undated:
            return self.say(
                Message(
                    N_(
                        "this export has no dates, so there is no snapshot of the pipeline on a "
                        "day (it holds {open} open deal(s) in all)"
                    ),
                    open=self.open,
                )
            )
        if self.open == 0:
            return self.say(
                Message(
                    N_(
                        "there are no open deals in this export (every "
                        "deal is won or lost), so there "
                        "is no open pipeline, coverage, stalled deal or velocity to show"
                    )
                )
            )
        if self.open_stages == 0:
            return self.say(
                Message(N_("the stages table has no open stage, so open deals cannot be placed"))
            )
        return None

    def why_no_win_rate(self) -> str | None:
        """Why a win rate would mislead on this export, or None when it can be read."""
        if self.won + self.lost == 0:
            return self.say(
                Message(N_("this export has no closed deals, so there is no win rate yet"))
            )
        if self.lost == 0:
            return self.say(
                Message(
                    N_(
                        "this export has no lost deals (won deals only, as in many marketing or "
                        "bookings exports), so a win rate would read 100% "
                        "by construction; it is not shown"
                    )
                )
            )
        if self.won == 0:
            return self.say(
                Message(
                    N_(
                        "this export has no won deals (lost deals only), "
                        "so a win rate would read 0% "
                        "by construction; it is not shown"
                    )
                )
            )
        return None

    def why_no_amount_win_rate(self) -> str | None:
        """Why a value-weighted win rate cannot be read."""
        if self.lost_amounts_all_zero:
            return self.say(
                Message(
                    N_(
                        "every lost deal has amount 0 in this export "
                        "(many CRMs clear the amount when "
                        "a deal is lost), so a win rate by amount would read 100%"
                    )
                )
            )
        return self.why_no_win_rate()

    def why_no_reps(self) -> str | None:
        """Why rep-level figures cannot be shown."""
        if not self.owners_known:
            return self.say(
                Message(N_("this export has no owner column, so there are no rep-level figures"))
            )
        return None

    def describe(self) -> str:
        """One sentence on what the export holds."""
        parts = [f"{self.deals:,} deals ({self.open:,} open, {self.won:,} won, {self.lost:,} lost)"]
        parts.append(f"{self.teams} team" + ("s" if self.teams != 1 else ""))
        if self.history_derived:
            parts.append("no stage history (derived from the deals)")
        if self.leads:
            parts.append(f"{self.leads:,} leads")
        return "This export holds " + ", ".join(parts) + "."
