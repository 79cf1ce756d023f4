"""The team report's churn reasons and churn trend, calls by industry and lead-response trend.

Each function takes the report's :class:`~pipeline_kit.report_data.TeamData` and returns
Markdown or a chart; :class:`~pipeline_kit.team_report.TeamReport` exposes them as sections
(which fail softly there) and passes its :class:`~pipeline_kit.formatting.Formatter` as
``fmt`` (default: English, US dollars). A table the export lacks (customers, activities,
leads) gives an empty section here: the section's first part (churn, activity chart, lead
response) already says which file to provide.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.formatting import Formatter
from pipeline_kit.i18n import N_
from pipeline_kit.metrics.activity import UNKNOWN_INDUSTRY, has_industry
from pipeline_kit.metrics.revenue import UNKNOWN_REASON
from pipeline_kit.report_data import TeamData
from pipeline_kit.sections import escape, markdown, md_table
from pipeline_kit.stats import MIN_N
from pipeline_kit.trend_sections import banded_trend_chart, localised, no_time_reason

__all__ = [
    "calls_by_industry_table",
    "churn_reasons_table",
    "churn_trend_chart",
    "lead_response_trend_chart",
]

ENGLISH = Formatter()


def _interval(
    value: float | None,
    low: float | None,
    high: float | None,
    show: Callable[[float | None], str],
    f: Formatter,
) -> str:
    """``value (low to high)``, or the value alone without an interval."""
    if low is None or high is None:
        return show(value)
    return show(value) + f._(" ({low} to {high})").format(low=show(low), high=show(high))


def churn_reasons_table(data: TeamData, *, fmt: Formatter = ENGLISH) -> Markdown:
    """The team's customers churned in the period by reason: accounts, share, MRR lost."""
    _, f = fmt._, fmt
    if reason := no_time_reason(data, N_("churn reasons over time"), fmt):
        return markdown(_("No churn reasons: {reason}.").format(reason=reason))
    if not data.ds.has("customers"):
        return markdown("")  # churn_section says which file to provide
    reasons = data.churn_reasons()
    period = data.period.label
    if reasons.height == 0:
        return markdown(
            _("No customer of {team} churned in {period}: no churn reasons to show.").format(
                team=escape(data.team), period=period
            )
        )
    n = int(reasons["n"][0])
    if reasons.height == 1 and reasons["churn_reason"][0] == UNKNOWN_REASON:
        return markdown(
            _(
                "No churn reason is recorded for the {n} accounts that churned in {period}: "
                "add a churn_reason column to customers.csv to see why customers leave."
            ).format(n=f"{n:,}", period=period)
        )
    rows = [
        [
            _("unknown (no reason recorded)")
            if r["churn_reason"] == UNKNOWN_REASON
            else escape(r["churn_reason"]),
            f"{r['churned']:,}",
            _interval(r["share"], r["ci_low"], r["ci_high"], f.pct, f),
            f.money(r["mrr_lost"]),
        ]
        for r in reasons.iter_rows(named=True)
    ]
    text = md_table(
        [_("Churn reason"), _("Accounts"), _("Share of churned (95% CI)"), _("MRR lost")], rows
    )
    text += "\n\n" + _(
        "{n} accounts of {team} active at the start of {period} churned during it."
    ).format(n=f"{n:,}", team=escape(data.team), period=period)
    if n < MIN_N:
        text += " " + _(
            "Fewer than {min_n} churned accounts: read the shares as indications, not a ranking."
        ).format(min_n=MIN_N)
    return markdown(text)


def churn_trend_chart(data: TeamData, *, fmt: Formatter = ENGLISH) -> alt.TopLevelMixin | Markdown:
    """The team's customer churn rate over the last eight quarters, its interval as a band."""
    _ = fmt._
    if reason := no_time_reason(data, N_("churn trend"), fmt):
        return markdown(_("No churn trend: {reason}.").format(reason=reason))
    if not data.ds.has("customers"):
        return markdown("")  # churn_section says which file to provide
    trend = data.churn_trend().filter(pl.col("n") > 0)
    title = _("Customer churn rate by quarter: {team}").format(team=data.team)
    return banded_trend_chart(
        trend, title, _("{n} quarter(s) with fewer than {min_n} customers at the start"), fmt
    )


def calls_by_industry_table(data: TeamData, *, fmt: Formatter = ENGLISH) -> Markdown:
    """Calls per deal the team closed in the period, by industry, won deals against lost."""
    _, f = fmt._, fmt
    if reason := no_time_reason(data, N_("calls by industry over time"), fmt):
        return markdown(_("No calls by industry: {reason}.").format(reason=reason))
    if not data.ds.has("activities"):
        return markdown("")  # the activity chart says which file to provide
    if not has_industry(data.ds):
        return markdown(
            _(
                "No calls by industry: the deals carry no industry (add an industry column "
                "to deals.csv)."
            )
        )
    table = data.calls_per_deal_by_industry()
    period = data.period.label
    if table.height == 0:
        return markdown(
            _("{team} closed no deals in {period}: no calls per deal to show.").format(
                team=escape(data.team), period=period
            )
        )

    def per(x: float | None) -> str:
        return f.number(x, 1)

    rows = [
        [
            _("unknown") if r["industry"] == UNKNOWN_INDUSTRY else escape(r["industry"]),
            f"{r['closed_deals']:,}" + ("*" if not r["enough_data"] else ""),
            f"{r['calls']:,}",
            _interval(r["calls_per_deal"], r["ci_low"], r["ci_high"], per, f),
            per(r["calls_per_won_deal"]),
            per(r["calls_per_lost_deal"]),
        ]
        for r in table.iter_rows(named=True)
    ]
    text = md_table(
        [
            _("Industry"),
            _("Closed deals"),
            _("Calls"),
            _("Calls per deal (95% CI)"),
            _("Per won deal"),
            _("Per lost deal"),
        ],
        rows,
    )
    text += "\n\n" + _(
        "Calls logged on the deals {team} won or lost in {period}, whenever they were made. "
        "The interval allows for calls being spread unevenly over deals. Won deals collect "
        "more calls partly because they go further: effort, not its effect."
    ).format(team=escape(data.team), period=period)
    if not table["enough_data"].all():
        text += " " + _("* fewer than {min_n} closed deals: an indication only.").format(
            min_n=MIN_N
        )
    return markdown(text)


def lead_response_trend_chart(
    data: TeamData, *, fmt: Formatter = ENGLISH
) -> alt.TopLevelMixin | Markdown:
    """Median time to first response to the team's leads over the last eight quarters."""
    _ = fmt._
    if reason := no_time_reason(data, N_("lead response trend"), fmt):
        return markdown(_("No lead response trend: {reason}.").format(reason=reason))
    if not data.ds.has("leads") or data.leads_scope() is None:
        return markdown("")  # the leads section says why
    trend = data.lead_response_trend().filter(pl.col("n") > 0)
    title = _("Median lead response time by quarter (hours): {team}").format(team=data.team)
    return localised(charts.trend_chart(trend, title=title, value_format=",.0f"), fmt)
