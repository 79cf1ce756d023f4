"""Definition cards of the forecast's figures: what each number means, written once.

They are not catalogue metrics (a forecast is a distribution about a period that has not
ended, not a count over one that has), so they live here rather than in the metric registry;
``pk.explain`` finds them as well, the README's forecast reference is generated from them and
the reports' methodology appendix shows the ones the Forecast section uses.
"""

from __future__ import annotations

from pipeline_kit.metrics.cards import WILSON, MetricCard

__all__ = ["FORECAST_CARDS", "REPORT_FORECAST_CARDS"]

_AS_OF = (
    "forecast made at the end of as_of, from what was known then; the period may have begun "
    "(won so far counts) or not"
)
_BACKTEST = (
    "every past quarter with at least two earlier quarters, forecast again at its start and at "
    "each month end from what was known that day"
)

_CARDS = [
    MetricCard(
        "forecast_bookings",
        "Bookings forecast (P10 / P50 / P90)",
        "bookings = won so far + sum over open deals of amount x Bernoulli(p_deal) + sum of "
        "new deals won; p_deal from comparable past deals (Beta posteriors, stage -> age -> "
        "size -> group), new deals Gamma-Poisson; quantiles of the Monte Carlo draws",
        _AS_OF,
        "deals won in the period so far; deals open at as_of (stage and age that day, current "
        "amount); deals not yet created, from the same weeks of up to 8 earlier periods",
        "P10-P90: 80% of simulated outcomes; includes the uncertainty of the rates "
        "(posterior draws, a group's level against the organisation's among them) and a "
        "period effect estimated from past quarters",
        "currency",
        (
            "Amounts are the deals' current amounts (exports keep no amount history).",
            "New deals get a seasonal factor from the past periods a whole number of years back "
            "(the organisation's, for every group).",
            "Teams are simulated apart and their draws summed: the organisation's forecast (or "
            "one by region) is the sum of its teams', each at its own win rate.",
        ),
        "pipeline_kit.forecast",
        reading="In 8 outcomes out of 10 the period's bookings land between P10 and P90; P50 "
        "is the middle. Check how much rests on deals not yet created (expected_from_new).",
    ),
    MetricCard(
        "forecast_p_reach_target",
        "Chance of reaching the target",
        "share of Monte Carlo draws with bookings >= the period's target",
        _AS_OF,
        "targets rows covering exactly the period (team rows without owner, or per-owner rows "
        "with by='owner')",
        "none (a probability from the forecast distribution)",
        "share",
        ("Only as good as the forecast's calibration: read the backtest's coverage first.",),
        "pipeline_kit.forecast",
        reading="0.5 is a coin toss; above 0.8 the target is safe unless something changes; "
        "below 0.2 it needs deals that do not exist yet.",
    ),
    MetricCard(
        "deal_p_win_in_period",
        "A deal's chance of being won in the period",
        "mean over draws of the cell rate: share of comparable past deals (same stage, tertile "
        "of age in stage and of amount, same group) won within the same remaining window",
        _AS_OF,
        "the deal itself, open at as_of; examples: deals open at the same point of earlier "
        "periods (and a week either side, if still open at that point), whose window ended by "
        "as_of",
        "none per deal; the Beta posterior of its cell is in the forecast's spread",
        "share",
        ("Not the chance of ever being won: a deal can be won next quarter.",),
        "pipeline_kit.forecast",
        reading="The weighted pipeline's stage probability, corrected for time left, age in "
        "stage, size and the team's own record.",
    ),
    MetricCard(
        "backtest_crps",
        "CRPS of a forecast",
        "CRPS(F, y) = E|X - y| - E|X - X'| / 2 over the forecast's draws X (scoringrules."
        "crps_ensemble); mean over forecasts",
        _BACKTEST,
        "every scored forecast of a method at a checkpoint",
        "none (a score)",
        "currency",
        ("A baseline is scored only once it has min_errors earlier errors (3).",),
        "pipeline_kit.backtest_forecast",
        reading="The error of a whole distribution, in money; for a single number it is the "
        "absolute error. Lower is better.",
    ),
    MetricCard(
        "backtest_crps_skill",
        "CRPS skill against a baseline",
        "1 - mean CRPS(model) / mean CRPS(baseline), over the forecasts both scored",
        _BACKTEST,
        "forecasts where both the model and the baseline were scored",
        "none (a ratio of means)",
        "ratio",
        ("Few quarters make it noisy: a single bad quarter moves it.",),
        "pipeline_kit.backtest_forecast",
        reading="Above 0 the model beats the baseline; 0.3 means its error is 30% smaller.",
    ),
    MetricCard(
        "backtest_coverage",
        "Interval coverage",
        "share of actual bookings inside the forecasts' central 50% / 80% / 90% intervals",
        _BACKTEST,
        "every scored forecast of a method at a checkpoint",
        "none; with n forecasts one more hit moves it by 1/n",
        "share",
        ("Seven quarters give steps of 14 points: read it as roughly right or clearly wrong.",),
        "pipeline_kit.backtest_forecast",
        reading="Close to 0.5 / 0.8 / 0.9: the ranges can be trusted. Lower: the forecast is "
        "overconfident. Higher: it is vaguer than it needs to be.",
    ),
    MetricCard(
        "backtest_pit",
        "PIT value (probability integral transform)",
        "share of a forecast's draws at or below the actual bookings",
        _BACKTEST,
        "every scored model forecast",
        "none",
        "share",
        (),
        "pipeline_kit.backtest_forecast",
        reading="Their histogram is flat for calibrated forecasts, U-shaped when the ranges "
        "are too narrow, humped when too wide, sloped when biased.",
    ),
    MetricCard(
        "backtest_ape",
        "Absolute percentage error of the median",
        "|P50 - actual| / actual (for a baseline: its number); median over forecasts, and "
        "bias = median of (P50 - actual) / actual",
        _BACKTEST,
        "forecasts of periods with bookings above 0",
        "none",
        "share",
        (),
        "pipeline_kit.backtest_forecast",
        reading="How far the middle of the forecast was from what was booked; the bias says "
        "whether it leans high or low.",
    ),
    MetricCard(
        "crm_stage_calibration",
        "CRM stage probability against the stage's win rate",
        "won / closed among deals ever in the stage and closed by as_of, against the stage's "
        "CRM probability",
        "cohort: deals ever in the stage, closed by as_of (default: last date in the data)",
        "closed deals (won or lost) that entered the stage",
        WILSON + "; flagged when the CRM probability is outside it (n >= 20)",
        "share",
        ("Eventual wins: the time a deal takes is not in the CRM probability either.",),
        "pipeline_kit.probability_calibration",
        reading="A stage flagged 'CRM too low' or 'too high' makes every weighted pipeline "
        "wrong by that much; fix the probability before anyone multiplies by it.",
    ),
    MetricCard(
        "brier_score",
        "Brier score and Brier skill",
        "Brier = mean((p - y)^2); skill = 1 - Brier / Brier(reference), the reference being "
        "the organisation's stage rates of the same outcome",
        _BACKTEST,
        "model: deals open at each checkpoint, y = won in the period; CRM: y = eventually won, "
        "deals still open left out",
        "none (a score)",
        "share",
        ("Predictions of one deal at successive checkpoints are not independent.",),
        "pipeline_kit.probability_calibration",
        reading="Lower Brier is better; skill above 0 means the probabilities beat one rate "
        "per stage.",
    ),
    MetricCard(
        "expected_calibration_error",
        "Expected calibration error",
        "sum over probability bins of n_b / N x |observed share - mean predicted|",
        _BACKTEST,
        "as for the Brier score; 10 equal-width bins",
        "per bin: Wilson 95% of the observed share (reliability diagram)",
        "share",
        (),
        "pipeline_kit.probability_calibration",
        reading="The average gap between what the probabilities said and what happened; under "
        "0.05 is well calibrated.",
    ),
]

FORECAST_CARDS: dict[str, MetricCard] = {card.name: card for card in _CARDS}
# the cards behind the reports' Forecast section (methodology appendix)
REPORT_FORECAST_CARDS = (
    "forecast_bookings",
    "forecast_p_reach_target",
    "backtest_coverage",
    "backtest_ape",
)
