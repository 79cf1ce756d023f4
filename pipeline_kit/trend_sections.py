"""The team report's sections over time: period over period, trends, pipeline against target.

Each function takes the report's :class:`~pipeline_kit.report_data.TeamData` and returns
Markdown or a chart; :class:`~pipeline_kit.team_report.TeamReport` exposes them as sections
(which fail softly there) and passes its :class:`~pipeline_kit.formatting.Formatter` as
``fmt``: the language of the sentences and charts, the currency of the amounts (default:
English, US dollars).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import altair as alt
import polars as pl
from babel.dates import get_month_names
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.charts._base import pattern_regex
from pipeline_kit.formatting import Formatter, missing
from pipeline_kit.i18n import N_
from pipeline_kit.periods import Period
from pipeline_kit.report_data import TeamData
from pipeline_kit.sections import escape, markdown, md_table
from pipeline_kit.stats import MIN_N

__all__ = [
    "banded_trend_chart",
    "conversion_alerts",
    "conversion_control_chart",
    "deal_lists_appendix",
    "localised",
    "lost_by_stage_table",
    "needed_for_target_table",
    "no_time_reason",
    "period_over_period_table",
    "pipeline_size_note",
    "pipeline_vs_target_chart",
    "seasonality_chart",
    "unused_content_note",
    "win_rate_trend_chart",
]

_TITLES = {
    "win_rate": N_("Win rate"),
    "deals_won": N_("Deals won"),
    "bookings": N_("Bookings"),
    "avg_won_deal_size": N_("Average won deal"),
    "cycle_length_days": N_("Cycle length (created to closed)"),
    "open_pipeline_value": N_("Open pipeline on the last day read"),
}
_WITH_INTERVAL = {"win_rate", "avg_won_deal_size", "cycle_length_days"}
# the signals of the stage-conversion p-chart (metrics.conversion.SIGNALS), as shown
_SIGNALS = {
    "above": N_("above"),
    "below": N_("below"),
    "within": N_("within"),
    "no baseline": N_("no baseline"),
}
ENGLISH = Formatter()


def _signed(value: float | None, unit: str, f: Formatter) -> str:
    """A change with its sign: +3.2 pts, -$4,555, +2.1 days, +3."""
    if value is None or missing(value):
        return "–"
    if unit == "share":
        return f.difference(value)
    sign = "+" if value > 0 else ("-" if value < 0 else "±")
    if unit == "currency":
        return sign + f.money(abs(value))
    if unit == "days":
        return sign + f.days(abs(value))
    return f"{sign}{abs(value):,.0f}"


def _value_cell(r: dict, side: str, f: Formatter) -> str:
    unit, figure, _ = r["unit"], r["figure"], f._
    value = r[f"{side}value"]
    if value is None:
        return "–"
    show = f.by_unit()[unit]
    text = show(value)
    if figure in _WITH_INTERVAL and r[f"{side}ci_low"] is not None:
        text += _(" ({low} to {high})").format(
            low=show(r[f"{side}ci_low"]), high=show(r[f"{side}ci_high"])
        )
    n = r[f"{side}n"]
    if figure == "open_pipeline_value":
        text += ", " + _("{n} deals").format(n=f"{n:,}")
    elif figure in _WITH_INTERVAL:
        text += f", n = {n:,}" + (_(" · not enough data") if n < MIN_N else "")
    return text


def _change_cell(r: dict, name: str, f: Formatter) -> str:
    unit = r["unit"]
    text = _signed(r[name], unit, f)
    if text == "–":
        return text
    if r[f"{name}_ci_low"] is not None:
        low, high = _signed(r[f"{name}_ci_low"], unit, f), _signed(r[f"{name}_ci_high"], unit, f)
        text += f._(" ({low} to {high})").format(low=low, high=high)
    elif r[f"relative_{name}"] is not None:
        text += f" ({r[f'relative_{name}']:+.0%})"
    return text


def _row_formatter(r: dict, f: Formatter) -> Formatter:
    """One money form across a row: compact for every amount when one reaches a million."""
    if r["unit"] != "currency":
        return f
    return f.side_by_side(v for k, v in r.items() if isinstance(v, float) and "relative" not in k)


def _period_name(data: TeamData, f: Formatter) -> str:
    """How the sentences name the period: "2025-Q4", or "the whole export" translated."""
    return f._("the whole export") if data.period.is_all else data.period.label


def localised(chart: alt.TopLevelMixin, f: Formatter) -> alt.TopLevelMixin:
    """``chart`` in the report's language, its amounts in the report's currency."""
    return charts.localise(chart, f.lang, f.currency)


def period_over_period_table(data: TeamData, *, fmt: Formatter = ENGLISH) -> Markdown:
    """The period, the previous one and the same period a year earlier, with the changes."""
    _ = fmt._
    if reason := no_time_reason(data, N_("comparison with earlier periods"), fmt):
        return markdown(_("No comparison with earlier periods: {reason}.").format(reason=reason))
    frame = data.period_over_period()
    if frame.height == 0:
        return markdown(
            _("No deals for {team}: nothing to compare.").format(team=escape(data.team))
        )
    first = frame.row(0, named=True)
    this, prev, year = first["period"], first["previous_period"], first["year_ago_period"]
    # a win rate the rest of the report does not show (won deals only, lost deals only) is
    # not shown here either: one figure, one reading
    no_win_rate = data.shape.in_language(fmt.text).why_no_win_rate()
    if no_win_rate:
        frame = frame.filter(pl.col("figure") != "win_rate")
    data_start = data.ds.first_date
    # an earlier period wholly before the data's first day is not in the export: no figures
    before = {
        side: data_start is not None and Period.parse(label).end < data_start
        for side, label in (("previous_", prev), ("year_ago_", year))
    }
    titles = {figure: _(title) for figure, title in _TITLES.items()}
    rows = [
        [
            titles[r["figure"]],
            _value_cell(r, "", row_fmt := _row_formatter(r, fmt)),
            "–" if before["previous_"] else _value_cell(r, "previous_", row_fmt),
            "–" if before["year_ago_"] else _value_cell(r, "year_ago_", row_fmt),
            "–" if before["previous_"] else _change_cell(r, "change_vs_previous", row_fmt),
            "–" if before["year_ago_"] else _change_cell(r, "change_vs_year_ago", row_fmt),
        ]
        for r in frame.iter_rows(named=True)
    ]
    started_inside = [
        label
        for label in (prev, year)
        if data_start is not None and Period.parse(label).start < data_start
    ]
    change_on = _("Change on {period}")
    table = md_table(
        [
            _("Figure"),
            this,
            prev,
            year,
            change_on.format(period=prev),
            change_on.format(period=year),
        ],
        rows,
    )
    cut = (
        "\n\n"
        + _(
            "The period is read up to {as_of}, so each earlier period is cut at the same day "
            "into it."
        ).format(as_of=fmt.date(data.as_of))
        if data.as_of < data.period.end
        else ""
    )
    young = (
        _(
            "The data starts on {first}, after {periods} began: a period wholly before it "
            "shows –, and one it starts inside holds only its part from {first} on, so a "
            "change against it is not like for like."
        ).format(first=fmt.date(data_start), periods=_(" and ").join(started_inside))
        + "\n\n"
        if started_inside and data_start is not None
        else ""
    )
    hidden = _("No win rate: {reason}.").format(reason=no_win_rate) + "\n\n" if no_win_rate else ""
    return markdown(
        table
        + "\n\n"
        + hidden
        + young
        + _(
            "Intervals are 95%: Wilson for the win rate, skew-aware for the averages. A change "
            "in win rate is in percentage points with Newcombe's interval; the averages' "
            "changes combine their two intervals the same way (MOVER); counts and totals show "
            "the relative change. A change whose interval includes 0 is within what chance "
            "alone would produce."
        )
        + cut
    )


def win_rate_trend_chart(
    data: TeamData, *, fmt: Formatter = ENGLISH
) -> alt.TopLevelMixin | Markdown:
    """The team's win rate over the last eight quarters, with its interval as a band."""
    _ = fmt._
    shape = data.shape.in_language(fmt.text)
    reason = shape.why_no_dates(N_("win-rate trend")) or shape.why_no_win_rate()
    if reason or data.period.is_all:
        return markdown(
            _("No win-rate trend: {reason}.").format(
                reason=reason or _("the report covers the whole export")
            )
        )
    trend = data.quarterly_trend("win_rate").filter(pl.col("n") > 0)
    title = _("Win rate by quarter: {team}").format(team=data.team)
    return banded_trend_chart(
        trend, title, _("{n} quarter(s) with fewer than {min_n} closed deals"), fmt
    )


def banded_trend_chart(
    trend: pl.DataFrame, title: str, thin_note: str, fmt: Formatter
) -> alt.TopLevelMixin:
    """A rate's quarterly trend with its 95% band; the subtitle counts the thin quarters.

    ``thin_note`` (translated, with ``{n}`` and ``{min_n}``) says what a quarter had too few
    of, when any quarter of ``trend`` has fewer than :data:`MIN_N`.
    """
    chart = charts.trend_chart(trend, title=title)
    thin = trend.filter(pl.col("n") < MIN_N).height
    if thin:
        chart = chart.properties(
            title=alt.Title(
                title,
                subtitle=fmt._("Band: 95% interval")
                + " · "
                + thin_note.format(n=thin, min_n=MIN_N),
            )
        )
    return localised(chart, fmt)


def no_time_reason(data: TeamData, what: str, f: Formatter) -> str | None:
    """Why ``data`` has no figure over time (no dates, or the whole export), else None."""
    reason = data.shape.in_language(f.text).why_no_dates(what)
    if reason:
        return reason
    return f._("the report covers the whole export, not a period") if data.period.is_all else None


def pipeline_vs_target_chart(
    data: TeamData, *, fmt: Formatter = ENGLISH
) -> alt.TopLevelMixin | Markdown:
    """The team's pipeline at each quarter's start against that quarter's target, as a chart."""
    _ = fmt._
    if reason := no_time_reason(data, N_("pipeline against target over time"), fmt):
        return markdown(_("No pipeline against target over time: {reason}.").format(reason=reason))
    if not data.ds.has("targets"):
        return markdown(
            _(
                "Provide targets.csv (team, period_start, period_end, target) to see the "
                "pipeline against target quarter by quarter."
            )
        )
    return localised(
        charts.pipeline_vs_target_chart(
            data.pipeline_vs_target(),
            title=_("Pipeline at each quarter's start against its target: {team}").format(
                team=data.team
            ),
        ),
        fmt,
    )


def pipeline_size_note(data: TeamData, *, fmt: Formatter = ENGLISH) -> Markdown:
    """How much pipeline the next quarter's target needs, at the team's own past conversion."""
    _ = fmt._
    if no_time_reason(data, "", fmt) or not data.ds.has("targets"):
        return markdown("")  # the chart's place says why
    past = data.pipeline_vs_target().filter(pl.col("pipeline_per_booking").is_not_null())
    if past.height == 0:
        return markdown(_("No past quarter with bookings: no pipeline-to-bookings ratio yet."))
    ratios = past["pipeline_per_booking"].to_list()
    ratio = float(past["pipeline_per_booking"].median() or 0.0)  # type: ignore[arg-type]
    lines = [
        _(
            "Over the last {n} quarter(s) the team booked one unit for every **{ratio}** units "
            "of pipeline open at the quarter's start (median; range {low} to {high})."
        ).format(
            n=past.height,
            ratio=fmt.number(ratio, 2),
            low=fmt.number(min(ratios), 2),
            high=fmt.number(max(ratios), 2),
        )
    ]
    following = data.pipeline_due_next_period()
    target = following["target"][0] if "target" in following.columns and following.height else None
    if target:
        open_now = float(data.open_pipeline()["open_value"].sum())
        needed = target * ratio
        lines.append(
            _(
                "At that ratio the {target} target of {period} needs about **{needed}** of open "
                "pipeline at its start; on {as_of} the team has {open_now} ({share} of it)."
            ).format(
                target=fmt.money(target),
                period=following["next_period"][0],
                needed=fmt.money(needed),
                as_of=fmt.date(data.as_of),
                open_now=fmt.money(open_now),
                share=fmt.pct(open_now / needed, 0),
            )
        )
    lines.append(
        _(
            "*A median of few quarters, without an interval: read it as an order of magnitude, "
            "not a quota.*"
        )
    )
    return markdown("\n\n".join(lines))


def seasonality_chart(data: TeamData, *, fmt: Formatter = ENGLISH) -> alt.TopLevelMixin | Markdown:
    """The team's deals created per calendar month, with intervals, against an average month."""
    _ = fmt._
    if reason := no_time_reason(data, N_("seasonality"), fmt):
        return markdown(_("No seasonality: {reason}.").format(reason=reason))
    frame = data.seasonality()
    if fmt.lang != "en":  # the months as the language abbreviates them (CLDR)
        months = get_month_names("abbreviated", locale=fmt.lang)
        frame = frame.with_columns(
            pl.col("month").replace_strict(dict(months), return_dtype=pl.String).alias("month_name")
        )
    return localised(
        charts.seasonality_chart(
            frame,
            what="created",
            title=_("Deals created per calendar month: {team}").format(team=data.team),
        ),
        fmt,
    )


def lost_by_stage_table(data: TeamData, reasons: int = 3, *, fmt: Formatter = ENGLISH) -> Markdown:
    """The team's losses by the stage they were lost from, with each stage's top reasons."""
    _, pct = fmt._, fmt.pct
    frame = data.lost_reasons_by_stage()
    if frame.height == 0:
        return markdown(
            _("No deal of {team} was lost in {period}.").format(
                team=escape(data.team), period=_period_name(data, fmt)
            )
        )
    total = int(frame["lost"].sum())
    rows = []
    # several pipelines: the rows are per pipeline and stage (see metrics._common.stage_groups)
    keys = ["pipeline", "lost_from_stage"] if "pipeline" in frame.columns else ["lost_from_stage"]
    for key, part in frame.group_by(keys, maintain_order=True):
        stage = key[-1] if len(key) == 1 else f"{key[0] or _('(no pipeline)')} · {key[-1]}"
        n = int(part["n"][0])
        top = [
            escape(r["lost_reason"])
            + " "
            + _("{rate} ({low} to {high})").format(
                rate=pct(r["share"], 0), low=pct(r["ci_low"], 0), high=pct(r["ci_high"], 0)
            )
            for r in part.head(reasons).iter_rows(named=True)
        ]
        more = part.height - reasons
        rows.append(
            [
                escape(str(stage)),
                _("{n} ({share} of losses)").format(n=f"{n:,}", share=pct(n / total, 0)),
                "; ".join(top) + (_("; and {n} more").format(n=more) if more > 0 else ""),
            ]
        )
    note = ""
    if frame["approximate"][0]:
        note = "\n\n" + _(
            "*The stage history was not exported but derived (see the load's notes), so the "
            "stage a deal was lost from is approximate or unknown: export the stage history to "
            "see it.*"
        )
    return markdown(
        md_table(
            [
                _("Lost from stage"),
                _("Lost deals"),
                _("Top reasons (share of the stage's losses, 95% CI)"),
            ],
            rows,
        )
        + "\n\n"
        + _("The stage a deal was lost from is the last open stage it entered before closing.")
        + note
    )


# control limits this close to 0 and 1 are read as the whole range (nothing can fall outside)
BLIND_EDGE = 0.0005


def blind_limits() -> pl.Expr:
    """Whether a row's control limits (``lcl``, ``ucl``) span 0% to 100%: they flag nothing."""
    return (pl.col("lcl") <= BLIND_EDGE) & (pl.col("ucl") >= 1 - BLIND_EDGE)


def signal_text(signal: str, f: Formatter) -> str:
    """A stage's p-chart signal in the report's language, above and below in bold."""
    text = f._(_SIGNALS.get(signal, signal))
    return f"**{text}**" if signal in ("above", "below") else text


def conversion_alerts(data: TeamData, *, fmt: Formatter = ENGLISH) -> Markdown:
    """Stages whose conversion this quarter is outside the p-chart limits of past quarters."""
    _, pct = fmt._, fmt.pct
    if reason := no_time_reason(data, N_("stage conversion over time"), fmt):
        return markdown(_("No stage alerts: {reason}.").format(reason=reason))
    frame = data.stage_conversion_control()
    if frame.height == 0:
        return markdown(
            _("No deal of {team} entered a stage in {period}.").format(
                team=escape(data.team), period=_period_name(data, fmt)
            )
        )
    rows = [
        [
            escape(r["stage"]),
            _("{rate} ({advanced} of {n})").format(
                rate=pct(r["conversion"]), advanced=f"{r['advanced']:,}", n=f"{r['n']:,}"
            )
            + (" · " + _("young cohort") if r["incomplete"] else ""),
            _("{rate} over {quarters} quarter(s), n = {n}").format(
                rate=pct(r["centre"]), quarters=r["past_quarters"], n=f"{r['past_n']:,}"
            )
            + (" · " + _("swing ± {sd}").format(sd=pct(r["between_sd"])) if r["between_sd"] else "")
            if r["centre"] is not None
            else "–",
            _("{low} to {high}").format(low=pct(r["lcl"]), high=pct(r["ucl"]))
            if r["lcl"] is not None
            else "–",
            signal_text(r["signal"], fmt),
        ]
        for r in frame.iter_rows(named=True)
    ]
    flagged = frame.filter(pl.col("signal").is_in(["above", "below"]))
    # limits from 0% to 100% flag nothing: too few past quarters for the swing between them
    blind = frame.filter(blind_limits())
    judged = frame.filter(pl.col("lcl").is_not_null())
    blind_note = _(
        "The limits of {stages} span 0% to 100%: with {quarters} past quarter(s) and the swing "
        "between them, no conversion could fall outside; more past quarters narrow them."
    ).format(
        stages=", ".join(escape(s) for s in blind["stage"]),
        quarters=", ".join(str(q) for q in blind["past_quarters"].unique(maintain_order=True)),
    )
    head = (
        _("No stage can be judged against its own past yet.") + " " + blind_note
        if flagged.height == 0 and blind.height and blind.height == judged.height
        else _(
            "No stage converted outside its control limits: the changes are within what the "
            "team's own past makes ordinary."
        )
        + (" " + blind_note if blind.height else "")
        if flagged.height == 0
        else _(
            "**{n} stage(s) outside the control limits**: {stages}. Look for a cause before "
            "reacting."
        ).format(
            n=flagged.height,
            stages=", ".join(
                f"{escape(s)} ({_(_SIGNALS[g])})"
                for s, g in flagged.select("stage", "signal").rows()
            ),
        )
    )
    return markdown(
        head
        + "\n\n"
        + md_table(
            [
                _("Stage"),
                _("This quarter"),
                _("Past quarters (pooled)"),
                _("3-sigma limits"),
                _("Signal"),
            ],
            rows,
        )
        + "\n\n"
        + _(
            "Each past quarter's cohort is read at the same age as this one, so a young cohort "
            "is compared with cohorts as young as it was (p-chart, Shewhart limits). The limits "
            "include how much the past quarters' conversion swung from quarter to quarter "
            "beyond chance (swing ±: its standard deviation), so an ordinary quarter falls "
            "outside them about 0.3% of the time."
        )
    )


def conversion_control_chart(
    data: TeamData, *, fmt: Formatter = ENGLISH
) -> alt.TopLevelMixin | Markdown:
    """The team's stage conversion this quarter inside its control limits, as a chart."""
    if no_time_reason(data, "", fmt):
        return markdown("")  # the table's place says why
    return localised(
        charts.control_chart(
            data.stage_conversion_control(),
            title=fmt._("Stage conversion against its limits: {team}").format(team=data.team),
        ),
        fmt,
    )


def _need_cell(r: dict, need: str, done: str | None, f: Formatter) -> str:
    value = r[f"{need}_needed"]
    if value is None:
        return "–"
    text = f"{value:,.0f}"
    if r[f"{need}_needed_ci_low"] is not None:
        text += f._(" ({low} to {high})").format(
            low=f"{r[f'{need}_needed_ci_low']:,.0f}", high=f"{r[f'{need}_needed_ci_high']:,.0f}"
        )
    if done is not None:
        text += " · " + f._("done {n}").format(n=f"{r[done]:,}")
    return text


def needed_for_target_table(data: TeamData, *, fmt: Formatter = ENGLISH) -> Markdown:
    """Won deals, deals to close, leads and activities the target takes at the team's rates."""
    _ = fmt._
    if reason := no_time_reason(data, N_("needs against a target"), fmt):
        return markdown(_("No needs against a target: {reason}.").format(reason=reason))
    if not data.ds.has("targets"):
        return markdown(
            _(
                "Provide targets.csv (team, period_start, period_end, target) to see what the "
                "target takes in deals, leads and activities."
            )
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
        return markdown(
            _("No target for {team} in {period} or after it.").format(
                team=escape(data.team), period=_period_name(data, fmt)
            )
        )
    labels = {"this": data.period.label, "next": data.period.following().label}
    header = [_("Needed")] + [
        _("{period} (target {target})").format(period=labels[which], target=fmt.money(r["target"]))
        for which, r in columns
    ]
    rows = [
        [_("Won deals")]
        + [
            _need_cell(r, "won_deals", "won_deals_actual" if w == "this" else None, fmt)
            for w, r in columns
        ],
        [_("Deals to close (won or lost)")]
        + [
            _need_cell(r, "deals", "deals_closed_actual" if w == "this" else None, fmt)
            for w, r in columns
        ],
        [_("Leads becoming opportunities")]
        + [_need_cell(r, "leads", None, fmt) for _w, r in columns],
        [_("Activities")] + [_need_cell(r, "activities", None, fmt) for _w, r in columns],
    ]
    r = columns[-1][1]
    rates = _(
        "Rates behind {period}, from {rates_from}: average won deal {average}, win rate "
        "{win_rate} ({won} won of {closed}), lead conversion {lead_conversion}, {activities}"
    ).format(
        period=labels[columns[-1][0]],
        rates_from=r["rates_from"],
        average=fmt.money(r["avg_won_deal"]),
        win_rate=fmt.pct(r["win_rate"]),
        won=f"{r['won']:,}",
        closed=f"{r['won'] + r['lost']:,}",
        lead_conversion=fmt.pct(r["lead_conversion"]),
        activities=_("{n} activities per won deal.").format(
            n=f"{r['activities_per_won_deal']:,.1f}"
        )
        if r["activities_per_won_deal"] is not None
        else _("no activities logged."),
    )
    return markdown(
        md_table(header, rows)
        + "\n\n"
        + rates
        + " "
        + _(
            "Each figure chains them: target / average won deal / win rate / lead conversion. "
            "Intervals (95%) by simulation: 4,000 seeded draws of every rate (bootstrapped "
            "average, Beta win rate and conversion, Poisson activity count) through the same "
            "chain."
        )
    )


_LISTS = {  # kind -> heading
    "won": N_("Deals won"),
    "lost": N_("Deals lost"),
    "open": N_("Open deals on the snapshot day, by stage"),
    "stalled": N_("Stalled deals"),
    "slipped": N_("Slipped deals (past their expected close)"),
}
# the details metrics.deal_lists writes in English, translated by their pattern
_DETAILS = (
    N_("open {days} days"),
    N_("{days} days in stage (usual maximum {usual})"),
    N_("{days} days past the expected close"),
)


def _detail_translator(f: Formatter) -> Callable[[str], str]:
    """A deal's detail in the report's language (a lost reason, data, stays as it is)."""
    if f.lang == "en":
        return str
    patterns = [(pattern_regex(p), p) for p in _DETAILS]

    def translate(text: str) -> str:
        for regex, pattern in patterns:
            if (hit := regex.match(text)) is not None:
                return f._(pattern).format(**hit.groupdict())
        return text

    return translate


def deal_lists_appendix(data: TeamData, limit: int = 10, *, fmt: Formatter = ENGLISH) -> Markdown:
    """The deals behind the report's counts, a compact table per list capped at ``limit``."""
    _ = fmt._
    detail = _detail_translator(fmt)
    kinds = ["won", "lost"] if data.period.is_all or data.shape.undated else list(_LISTS)
    parts = []
    for kind in kinds:
        deals = data.deal_list(kind)
        title = "**" + _("{list}: {n}").format(list=_(_LISTS[kind]), n=f"{deals.height:,}") + "**"
        if deals.height == 0:
            parts.append(title + _(" (none)."))
            continue
        rows = [
            [
                escape(r["deal_id"]),
                escape(r["owner"]),
                escape(r["stage"]),
                fmt.money(r["amount"]),
                escape(detail(r["detail"])) if r["detail"] else "",
            ]
            for r in deals.head(limit).iter_rows(named=True)
        ]
        table = md_table([_("Deal"), _("Owner"), _("Stage"), _("Amount"), _("Detail")], rows)
        more = deals.height - limit
        if more > 0:
            code = f'`pk.deal_list(ds, "{data.period.label}", kind="{kind}")`'
            table += "\n\n" + _(
                "… and {n} more: {code} lists them all (every team's: the team column picks out "
                "this one)."
            ).format(n=f"{more:,}", code=code)
        parts.append(f"{title}\n\n{table}")
    return markdown("\n\n".join(parts))


def unused_content_note(data: TeamData, months: int = 6, *, fmt: Formatter = ENGLISH) -> Markdown:
    """The content the team's deals have not used for ``months`` months, or that all is used."""
    _ = fmt._
    if not data.ds.has("collateral_usage") or data.period.is_all or data.shape.undated:
        return markdown("")  # the collateral chart's place says why
    frame = data.unused_content(months)
    as_of = fmt.date(data.as_of)
    if frame.height == 0:
        return markdown(
            _("No content was used in {team}'s deals by {as_of}.").format(
                team=escape(data.team), as_of=as_of
            )
        )
    unused = frame.filter("unused")
    if unused.height == 0:
        return markdown(
            _(
                "Every one of the {n} pieces of content the team has used was used in the "
                "{months} months up to {as_of}."
            ).format(n=frame.height, months=months, as_of=as_of)
        )
    rows = [
        [
            escape(r["content_id"]),
            escape(r["title"] or ""),
            fmt.date(r["last_used"]) if isinstance(r["last_used"], dt.date) else "–",
            f"{r['uses']:,}",
        ]
        for r in unused.iter_rows(named=True)
    ]
    return markdown(
        _(
            "**{unused} of {n} pieces of content unused for {months} months** in the team's "
            "deals (on {as_of}):"
        ).format(unused=unused.height, n=frame.height, months=months, as_of=as_of)
        + "\n\n"
        + md_table([_("Content"), _("Title"), _("Last used"), _("Uses before")], rows)
    )
