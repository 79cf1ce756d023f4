"""Forecasting: will the period's number be hit, how sure is that, and how good were past forecasts.

* :mod:`.model`: :func:`forecast`, the period's bookings as a distribution seen at ``as_of``;
* :mod:`.baselines`: the usual single-number forecasts, computed from the same snapshot;
* :mod:`.backtest`: :func:`backtest_forecast`, every past period re-forecast from what was known
  then and scored as a distribution;
* :mod:`.calibration`: :func:`probability_calibration`, stage and deal probabilities against
  what happened.
"""

from pipeline_kit.forecasting.backtest import Backtest, backtest_forecast
from pipeline_kit.forecasting.baselines import BASELINES, baseline_forecasts
from pipeline_kit.forecasting.calibration import Calibration, probability_calibration
from pipeline_kit.forecasting.model import BookingsForecast, forecast

__all__ = [
    "BASELINES",
    "Backtest",
    "BookingsForecast",
    "Calibration",
    "backtest_forecast",
    "baseline_forecasts",
    "forecast",
    "probability_calibration",
]
