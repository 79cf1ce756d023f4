"""The team report's sections over time: period over period, trends, pipeline against target.

Each function takes the report's :class:`~pipeline_kit.report_data.TeamData` and returns
Markdown or a chart; :class:`~pipeline_kit.team_report.TeamReport` exposes them as sections
(which fail softly there).
"""

from __future__ import annotations

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.formatting import FORMAT, fmt_days, fmt_money, fmt_pct, missing
from pipeline_kit.report_data import TeamData
from pipeline_kit.sections import escape, markdown, md_table
from pipeline_kit.stats import MIN_N

__all__ = [
    "conversion_alerts",
    "conversion_control_chart",
    "deal_lists_appendix",
    "lost_by_stage_table",
    "needed_for_target_table",
    "period_over_period_table",
    "pipeline_size_note",
    "pipeline_vs_target_chart",
    "seasonality_chart",
    "unused_content_note",
    "win_rate_trend_chart",
]

_TITLES = {
    "win_rate": "Win rate",
    "deals_won": "Deals won",
    "bookings": "Bookings",
    "avg_won_deal_size": "Average won deal",
    "cycle_length_days": "Cycle length (created to closed)",
    "open_pipeline_value": "Open pipeline on the last day read",
}
_WITH_INTERVAL = {"win_rate", "avg_won_deal_size", "cycle_length_days"}


def _signed(value: float | None, unit: str) -> str:
    """A change with its sign: +3.2 pts, -$4,555, +2.1 days, +3."""
    if value is None or missing(value):
        return "–"
    if unit == "share":
        return FORMAT["difference"](value)
    sign = "+" if value > 0 else ("-" if value < 0 else "±")
    if unit == "currency":
        return sign + fmt_money(abs(value))
    if unit == "days":
        return sign + fmt_days(abs(value))
    return f"{sign}{abs(value):,.0f}"


def _value_cell(r: dict, side: str) -> str:
    unit, figure = r["unit"], r["figure"]
    value = r[f"{side}value"]
    if value is None:
        return "–"
    text = FORMAT[unit](value)
    if figure in _WITH_INTERVAL and r[f"{side}ci_low"] is not None:
        text += f" ({FORMAT[unit](r[f'{side}ci_low'])} to {FORMAT[unit](r[f'{side}ci_high'])})"
    n = r[f"{side}n"]
    if figure == "open_pipeline_value":
        text += f", {n:,} deals"
    elif figure in _WITH_INTERVAL:
        text += f", n = {n:,}" + (" · not enough data" if n < MIN_N else "")
    return text


def _change_cell(r: dict, name: str) -> str:
    unit = r["unit"]
    text = _signed(r[name], unit)
    if text == "–":
        return text
    if r[f"{name}_ci_low"] is not None:
        low, high = _signed(r[f"{name}_ci_low"], unit), _signed(r[f"{name}_ci_high"], unit)
        text += f" ({low} to {high})"
    elif r[f"relative_{name}"] is not None:
        text += f" ({r[f'relative_{name}']:+.0%})"
    return text


def period_over_period_table(data: TeamData) -> Markdown:
    """The period, the previous one and the same period a year earlier, with the changes."""
    reason = data.shape.why_no_dates("comparison with earlier periods")
    if reason or data.period.is_all:
        return markdown(
            "No comparison with earlier periods: "
            + (reason or "the report covers the whole export, not a period")
            + "."
        )
    frame = data.period_over_period()
    if frame.height == 0:
        return markdown(f"No deals for {escape(data.team)}: nothing to compare.")
    first = frame.row(0, named=True)
    this, prev, year = first["period"], first["previous_period"], first["year_ago_period"]
    rows = [
        [
            _TITLES[r["figure"]],
            _value_cell(r, ""),
            _value_cell(r, "previous_"),
            _value_cell(r, "year_ago_"),
            _change_cell(r, "change_vs_previous"),
            _change_cell(r, "change_vs_year_ago"),
        ]
        for r in frame.iter_rows(named=True)
    ]
    table = md_table(["Figure", this, prev, year, f"Change on {prev}", f"Change on {year}"], rows)
    cut = (
        f"\n\nThe period is read up to {data.as_of}, so each earlier period is cut at the same "
        "day into it."
        if data.as_of < data.period.end
        else ""
    )
    return markdown(
        table + "\n\nIntervals are 95%: Wilson for the win rate, skew-aware for the averages. A "
        "change in win rate is in percentage points with Newcombe's interval; the averages' "
        "changes combine their two intervals the same way (MOVER); counts and totals show the "
        "relative change. A change whose interval includes 0 is within what chance alone "
        "would produce." + cut
    )


def win_rate_trend_chart(data: TeamData) -> alt.TopLevelMixin | Markdown:
    """The team's win rate over the last eight quarters, with its interval as a band."""
    reason = data.shape.why_no_dates("win-rate trend") or data.shape.why_no_win_rate()
    if reason or data.period.is_all:
        return markdown(
            "No win-rate trend: " + (reason or "the report covers the whole export") + "."
        )
    trend = data.quarterly_trend("win_rate").filter(pl.col("n") > 0)
    thin = trend.filter(pl.col("n") < MIN_N).height
    title = f"Win rate by quarter: {data.team}"
    chart = charts.trend_chart(trend, title=title)
    if thin:
        return chart.properties(
            title=alt.Title(
                title,
                subtitle=f"Band: 95% interval · {thin} quarter(s) with fewer than {MIN_N} "
                "closed deals",
            )
        )
    return chart


def _no_time_reason(data: TeamData, what: str) -> str | None:
    reason = data.shape.why_no_dates(what)
    if reason:
        return reason
    return "the report covers the whole export, not a period" if data.period.is_all else None


def pipeline_vs_target_chart(data: TeamData) -> alt.TopLevelMixin | Markdown:
    """The team's pipeline at each quarter's start against that quarter's target, as a chart."""
    if reason := _no_time_reason(data, "pipeline against target over time"):
        return markdown(f"No pipeline against target over time: {reason}.")
    if not data.ds.has("targets"):
        return markdown(
            "Provide targets.csv (team, period_start, period_end, target) to see the pipeline "
            "against target quarter by quarter."
        )
    return charts.pipeline_vs_target_chart(
        data.pipeline_vs_target(),
        title=f"Pipeline at each quarter's start against its target: {data.team}",
    )


def pipeline_size_note(data: TeamData) -> Markdown:
    """How much pipeline the next quarter's target needs, at the team's own past conversion."""
    if _no_time_reason(data, "") or not data.ds.has("targets"):
        return markdown("")  # the chart's place says why
    past = data.pipeline_vs_target().filter(pl.col("pipeline_per_booking").is_not_null())
    if past.height == 0:
        return markdown("No past quarter with bookings: no pipeline-to-bookings ratio yet.")
    ratios = past["pipeline_per_booking"].to_list()
    ratio = float(past["pipeline_per_booking"].median() or 0.0)  # type: ignore[arg-type]
    lines = [
        f"Over the last {past.height} quarter(s) the team booked one unit for every "
        f"**{ratio:,.2f}** units of pipeline open at the quarter's start (median; range "
        f"{min(ratios):,.2f} to {max(ratios):,.2f})."
    ]
    following = data.pipeline_due_next_period()
    target = following["target"][0] if "target" in following.columns and following.height else None
    if target:
        open_now = float(data.open_pipeline()["open_value"].sum())
        needed = target * ratio
        lines.append(
            f"At that ratio the {fmt_money(target)} target of {following['next_period'][0]} "
            f"needs about **{fmt_money(needed)}** of open pipeline at its start; on "
            f"{data.as_of} the team has {fmt_money(open_now)} "
            f"({open_now / needed:.0%} of it)."
        )
    lines.append(
        "*A median of few quarters, without an interval: read it as an order of magnitude, "
        "not a quota.*"
    )
    return markdown("\n\n".join(lines))


def seasonality_chart(data: TeamData) -> alt.TopLevelMixin | Markdown:
    """The team's deals created per calendar month, with intervals, against an average month."""
    if reason := _no_time_reason(data, "seasonality"):
        return markdown(f"No seasonality: {reason}.")
    return charts.seasonality_chart(
        data.seasonality(), what="created", title=f"Deals created per calendar month: {data.team}"
    )


def lost_by_stage_table(data: TeamData, reasons: int = 3) -> Markdown:
    """The team's losses by the stage they were lost from, with each stage's top reasons."""
    frame = data.lost_reasons_by_stage()
    if frame.height == 0:
        return markdown(f"No deal of {escape(data.team)} was lost in {data.period_name}.")
    total = int(frame["lost"].sum())
    rows = []
    for (stage,), part in frame.group_by("lost_from_stage", maintain_order=True):
        n = int(part["n"][0])
        top = [
            f"{escape(r['lost_reason'])} {fmt_pct(r['share'], 0)} "
            f"({fmt_pct(r['ci_low'], 0)} to {fmt_pct(r['ci_high'], 0)})"
            for r in part.head(reasons).iter_rows(named=True)
        ]
        more = part.height - reasons
        rows.append(
            [
                escape(str(stage)),
                f"{n:,} ({fmt_pct(n / total, 0)} of losses)",
                "; ".join(top) + (f"; and {more} more" if more > 0 else ""),
            ]
        )
    note = ""
    if frame["approximate"][0]:
        note = (
            "\n\n*The stage history was derived from the deals' current state, so the stage a "
            "deal was lost from is unknown: export the stage history to see it.*"
        )
    return markdown(
        md_table(
            ["Lost from stage", "Lost deals", "Top reasons (share of the stage's losses, 95% CI)"],
            rows,
        )
        + "\n\nThe stage a deal was lost from is the last open stage it entered before closing."
        + note
    )


def conversion_alerts(data: TeamData) -> Markdown:
    """Stages whose conversion this quarter is outside the p-chart limits of past quarters."""
    if reason := _no_time_reason(data, "stage conversion over time"):
        return markdown(f"No stage alerts: {reason}.")
    frame = data.stage_conversion_control()
    if frame.height == 0:
        return markdown(f"No deal of {escape(data.team)} entered a stage in {data.period_name}.")
    rows = [
        [
            escape(r["stage"]),
            f"{fmt_pct(r['conversion'])} ({r['advanced']:,} of {r['n']:,})"
            + (" · young cohort" if r["incomplete"] else ""),
            f"{fmt_pct(r['centre'])} over {r['past_quarters']} quarter(s), n = {r['past_n']:,}"
            if r["centre"] is not None
            else "–",
            f"{fmt_pct(r['lcl'])} to {fmt_pct(r['ucl'])}" if r["lcl"] is not None else "–",
            {"above": "**above**", "below": "**below**"}.get(r["signal"], r["signal"]),
        ]
        for r in frame.iter_rows(named=True)
    ]
    flagged = frame.filter(pl.col("signal").is_in(["above", "below"]))
    head = (
        "No stage converted outside its control limits: the changes are within what the "
        "team's own past makes ordinary."
        if flagged.height == 0
        else f"**{flagged.height} stage(s) outside the control limits**: "
        + ", ".join(f"{escape(s)} ({g})" for s, g in flagged.select("stage", "signal").rows())
        + ". Look for a cause before reacting."
    )
    return markdown(
        head
        + "\n\n"
        + md_table(
            ["Stage", "This quarter", "Past quarters (pooled)", "3-sigma limits", "Signal"], rows
        )
        + "\n\nEach past quarter's cohort is read at the same age as this one, so a young "
        "cohort is compared with cohorts as young as it was (p-chart, Shewhart limits)."
    )


def conversion_control_chart(data: TeamData) -> alt.TopLevelMixin | Markdown:
    """The team's stage conversion this quarter inside its control limits, as a chart."""
    if _no_time_reason(data, ""):
        return markdown("")  # the table's place says why
    return charts.control_chart(
        data.stage_conversion_control(), title=f"Stage conversion against its limits: {data.team}"
    )


def _need_cell(r: dict, need: str, done: str | None) -> str:
    value = r[f"{need}_needed"]
    if value is None:
        return "–"
    text = f"{value:,.0f}"
    if r[f"{need}_needed_ci_low"] is not None:
        text += f" ({r[f'{need}_needed_ci_low']:,.0f} to {r[f'{need}_needed_ci_high']:,.0f})"
    if done is not None:
        text += f" · done {r[done]:,}"
    return text


def needed_for_target_table(data: TeamData) -> Markdown:
    """Won deals, deals to close, leads and activities the target takes at the team's rates."""
    if reason := _no_time_reason(data, "needs against a target"):
        return markdown(f"No needs against a target: {reason}.")
    if not data.ds.has("targets"):
        return markdown(
            "Provide targets.csv (team, period_start, period_end, target) to see what the "
            "target takes in deals, leads and activities."
        )
    frames = [("this", data.needed_for_target())]
    if not data.period.label.count(".."):
        frames.append(("next", data.needed_for_target(following=True)))
    columns = [
        (which, f.row(0, named=True))
        for which, f in frames
        if f.height and f["target"][0] is not None
    ]
    if not columns:
        return markdown(f"No target for {escape(data.team)} in {data.period_name} or after it.")
    labels = {"this": data.period.label, "next": data.period.following().label}
    header = ["Needed"] + [
        f"{labels[which]} (target {fmt_money(r['target'])})" for which, r in columns
    ]
    rows = [
        ["Won deals"]
        + [
            _need_cell(r, "won_deals", "won_deals_actual" if w == "this" else None)
            for w, r in columns
        ],
        ["Deals to close (won or lost)"]
        + [
            _need_cell(r, "deals", "deals_closed_actual" if w == "this" else None)
            for w, r in columns
        ],
        ["Leads becoming opportunities"] + [_need_cell(r, "leads", None) for _, r in columns],
        ["Activities"] + [_need_cell(r, "activities", None) for _, r in columns],
    ]
    r = columns[-1][1]
    rates = (
        f"Rates behind {labels[columns[-1][0]]}, from {r['rates_from']}: average won deal "
        f"{fmt_money(r['avg_won_deal'])}, win "
        f"rate {fmt_pct(r['win_rate'])} ({r['won']:,} won of {r['won'] + r['lost']:,}), lead "
        f"conversion {fmt_pct(r['lead_conversion'])}, "
        + (
            f"{r['activities_per_won_deal']:,.1f} activities per won deal."
            if r["activities_per_won_deal"] is not None
            else "no activities logged."
        )
    )
    return markdown(
        md_table(header, rows)
        + "\n\n"
        + rates
        + " Each figure chains them: target / average won deal / win rate / lead conversion. "
        "Intervals (95%) by simulation: 4,000 seeded draws of every rate (bootstrapped average, "
        "Beta win rate and conversion, Poisson activity count) through the same chain."
    )


_LISTS = {  # kind -> heading
    "won": "Deals won",
    "lost": "Deals lost",
    "open": "Open deals on the snapshot day, by stage",
    "stalled": "Stalled deals",
    "slipped": "Slipped deals (past their expected close)",
}


def deal_lists_appendix(data: TeamData, limit: int = 10) -> Markdown:
    """The deals behind the report's counts, a compact table per list capped at ``limit``."""
    kinds = ["won", "lost"] if data.period.is_all or data.shape.undated else list(_LISTS)
    parts = []
    for kind in kinds:
        deals = data.deal_list(kind)
        title = f"**{_LISTS[kind]}: {deals.height:,}**"
        if deals.height == 0:
            parts.append(f"{title} (none).")
            continue
        rows = [
            [
                escape(r["deal_id"]),
                escape(r["owner"]),
                escape(r["stage"]),
                fmt_money(r["amount"]),
                escape(r["detail"]) if r["detail"] else "",
            ]
            for r in deals.head(limit).iter_rows(named=True)
        ]
        table = md_table(["Deal", "Owner", "Stage", "Amount", "Detail"], rows)
        more = deals.height - limit
        if more > 0:
            table += (
                f'\n\n… and {more:,} more: `pk.deal_list(ds, "{data.period.label}", '
                f'kind="{kind}")` lists them all (every team\'s: the team column picks out '
                "this one)."
            )
        parts.append(f"{title}\n\n{table}")
    return markdown("\n\n".join(parts))


def unused_content_note(data: TeamData, months: int = 6) -> Markdown:
    """The content the team's deals have not used for ``months`` months, or that all is used."""
    if not data.ds.has("collateral_usage") or data.period.is_all or data.shape.undated:
        return markdown("")  # the collateral chart's place says why
    frame = data.unused_content(months)
    if frame.height == 0:
        return markdown(f"No content was used in {escape(data.team)}'s deals by {data.as_of}.")
    unused = frame.filter("unused")
    if unused.height == 0:
        return markdown(
            f"Every one of the {frame.height} pieces of content the team has used was used in "
            f"the {months} months up to {data.as_of}."
        )
    rows = [
        [
            escape(r["content_id"]),
            escape(r["title"] or ""),
            str(r["last_used"]),
            f"{r['uses']:,}",
        ]
        for r in unused.iter_rows(named=True)
    ]
    return markdown(
        f"**{unused.height} of {frame.height} pieces of content unused for {months} months** "
        f"in the team's deals (on {data.as_of}):\n\n"
        + md_table(["Content", "Title", "Last used", "Uses before"], rows)
    )
