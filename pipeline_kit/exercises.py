"""Self-checking exercises for the teaching notebooks.

Each exercise knows how to compute its answer with the kit; :func:`check` compares the learner's
answer with it and gives a hint instead of the answer; :func:`solution` shows the code when the
learner asks for it (so solutions are available but not in the way).

>>> check("smb_win_rate", 0.48, ds)      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from IPython.display import Markdown

from pipeline_kit.dataset import Dataset

__all__ = ["EXERCISES", "Exercise", "check", "solution"]


@dataclass(frozen=True)
class Exercise:
    """A question on a dataset, the function computing its answer, and help to get there."""

    question: str
    compute: Callable[[Dataset], float]
    tolerance: float
    hint: str
    solution: str


def _metric(fn_name: str, period: str, by: str | None, key: str | None, column: str, **kw):
    def compute(ds: Dataset) -> float:
        import pipeline_kit as pk

        frame = getattr(pk, fn_name)(ds, period, by=by, **kw)
        if key is not None:
            if by is None:
                raise ValueError(f"key {key!r} needs the `by` column it is a value of")
            frame = frame.filter(pl.col(by) == key)
        return float(frame[column][0])

    return compute


EXERCISES: dict[str, Exercise] = {
    "smb_win_rate": Exercise(
        "What is SMB's win rate in 2025-Q4 (a share between 0 and 1)?",
        _metric("win_rate", "2025-Q4", "team", "SMB", "win_rate"),
        0.005,
        "Win rate counts the deals closed in the period: pk.win_rate(ds, '2025-Q4', by='team').",
        "pk.win_rate(ds, '2025-Q4', by='team').filter(pl.col('team') == 'SMB')['win_rate'][0]",
    ),
    "partners_ci_width": Exercise(
        "How wide (ci_high - ci_low) is the 95% interval of Partners' 2025-Q4 win rate?",
        lambda ds: _width(ds, "Partners"),
        0.01,
        "Look at ci_low and ci_high in pk.win_rate(..., by='team'); subtract.",
        "r = pk.win_rate(ds, '2025-Q4', by='team').filter(pl.col('team') == 'Partners')\n"
        "r['ci_high'][0] - r['ci_low'][0]",
    ),
    "enterprise_km_median": Exercise(
        "Median cycle in days of Enterprise deals created in 2025-Q2, open deals censored?",
        _metric("cycle_length_km", "2025-Q2", "team", "Enterprise", "median_days"),
        0.5,
        "The censoring-aware median is pk.cycle_length_km, not the mean of closed deals.",
        "pk.cycle_length_km(ds, '2025-Q2', by='team').filter(pl.col('team') == 'Enterprise')"
        "['median_days'][0]",
    ),
    "proposal_conversion": Exercise(
        "Share of deals that entered Proposal in 2025-Q2 and advanced (a share)?",
        lambda ds: _stage(ds),
        0.005,
        "pk.stage_conversion gives one row per stage; read the Proposal row's conversion.",
        "pk.stage_conversion(ds, '2025-Q2').filter(pl.col('stage') == 'Proposal')['conversion'][0]",
    ),
    "negotiation_open_deals": Exercise(
        "How many deals (all teams) were open in Negotiation at the end of 2025-12-31?",
        lambda ds: _open_in(ds, "Negotiation", "2025-12-31"),
        0.5,
        "A snapshot: pk.open_pipeline(ds, '2025-12-31') has one row per open stage.",
        "pk.open_pipeline(ds, '2025-12-31').filter(pl.col('stage') == 'Negotiation')"
        "['open_deals'][0]",
    ),
    "stalled_deal_count": Exercise(
        "How many open deals were stalled (longer in their stage than usual) on 2025-12-31?",
        lambda ds: _stalled(ds, "2025-12-31"),
        0.5,
        "pk.stalled_deals(ds, '2025-12-31') lists every open deal; count those with stalled true.",
        "pk.stalled_deals(ds, '2025-12-31')['stalled'].sum()",
    ),
}


def _open_in(ds: Dataset, stage: str, as_of: str) -> float:
    import pipeline_kit as pk

    row = pk.open_pipeline(ds, as_of).filter(pl.col("stage") == stage)
    return float(row["open_deals"][0])


def _stalled(ds: Dataset, as_of: str) -> float:
    import pipeline_kit as pk

    return float(pk.stalled_deals(ds, as_of)["stalled"].sum())


def _width(ds: Dataset, team: str) -> float:
    import pipeline_kit as pk

    row = pk.win_rate(ds, "2025-Q4", by="team").filter(pl.col("team") == team)
    return float(row["ci_high"][0] - row["ci_low"][0])


def _stage(ds: Dataset) -> float:
    import pipeline_kit as pk

    row = pk.stage_conversion(ds, "2025-Q2").filter(pl.col("stage") == "Proposal")
    return float(row["conversion"][0])


def check(name: str, answer: float | None, ds: Dataset) -> Markdown:
    """Compare ``answer`` with the kit's own computation; a hint when it is off."""
    exercise = EXERCISES[name]
    if answer is None:
        return Markdown(f"**{exercise.question}** Not answered yet. Hint: {exercise.hint}")
    truth = exercise.compute(ds)
    if abs(float(answer) - truth) <= exercise.tolerance:
        return Markdown(f"Correct: {truth:.4g}.")
    return Markdown(
        f"Not quite ({answer:.4g}). Hint: {exercise.hint} "
        f"(`pk.exercises.solution('{name}')` shows the solution.)"
    )


def solution(name: str) -> Markdown:
    """The solution code of an exercise."""
    return Markdown(f"```python\n{EXERCISES[name].solution}\n```")
