"""Statistical comparisons against benchmarks, with verdicts a sales leader can read.

:func:`compare` sets each group's figure against three kinds of benchmark:

* ``external`` - a reference value from the benchmarks table (scope = the group, else ``all``);
* ``rest_of_org`` - every other group together (never a total that contains the group);
* ``trailing`` - the group's own previous quarters (quarter periods only).

Tests by kind of metric (all from scipy, see :mod:`pipeline_kit.stats`):

====================  ===============================  =======================  ===================
metric                vs external value                vs rest of organisation  vs trailing quarters
====================  ===============================  =======================  ===================
win_rate              Fisher mid-p (row states n),     Fisher's exact test      z-test allowing for
                      MOVER (low/high), else exact     (mid-p)                  the quarters' spread
                      binomial (treated as exact)
cycle_length_km_days  MOVER on the KM median (low/     log-rank test            log-rank test
                      high), else KM log-log z-test,
                      S(value)=.5 (treated as exact)
median_won_deal_size  MOVER on the medians (low/high,  Brunner-Munzel           Brunner-Munzel
                      else n), else sign test
                      (treated as exact)
====================  ===============================  =======================  ===================

Rates carry Wilson intervals, cycle lengths Kaplan-Meier medians with their interval (open deals
censored), median deal sizes order-statistic intervals (medians, because a few large deals
dominate means). The log-rank and Brunner-Munzel tests do not compare medians (the whole
closing curve; whether one group's deals tend to be larger), and their verdicts say so. All
p-values of one call are corrected together with Benjamini-Hochberg (``q_value``); a
difference is called only when ``q < alpha``.

Minimum-n rule: a comparison needs at least ``min_n`` (default 20) observations in the group
(closed deals for win rate, won deals for deal size, the deals of the cohort, closed or open,
for cycle length: a gate on how many had closed would select fast cohorts) and, for
two-sample tests, in the benchmark group too. Below that no test is run and the verdict says
"not enough data".

Modules: :mod:`.benchmarks` (the benchmarks table, the value that applies to a group, the
trailing quarters), :mod:`.significance` (the tests, one row each), :mod:`.verdicts`
(q-values, directions, sentences), :mod:`.mix` (the mix-adjusted win rate and its warning),
:mod:`.shrinkage` (rep win rates shrunk towards the organisation, funnel limits) and
:mod:`.compare_groups` (:func:`compare`, :func:`compare_teams`).
"""

from pipeline_kit.comparisons.benchmarks import load_benchmarks
from pipeline_kit.comparisons.compare_groups import METRICS, compare, compare_teams
from pipeline_kit.comparisons.mix import mix_adjusted_win_rate
from pipeline_kit.comparisons.shrinkage import funnel_limits_curve, rep_win_rates
from pipeline_kit.comparisons.verdicts import COMPARE_COLUMNS

__all__ = [
    "COMPARE_COLUMNS",
    "METRICS",
    "compare",
    "compare_teams",
    "funnel_limits_curve",
    "load_benchmarks",
    "mix_adjusted_win_rate",
    "rep_win_rates",
]
