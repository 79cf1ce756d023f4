import pytest

import pipeline_kit as pk


@pytest.mark.parametrize("name", sorted(pk.exercises.EXERCISES))
def test_exercises_check_answers_and_give_hints(sample, name):
    exercise = pk.exercises.EXERCISES[name]
    truth = exercise.compute(sample)
    assert pk.exercises.check(name, truth, sample).data.startswith("Correct")
    wrong = pk.exercises.check(name, truth + 10 * exercise.tolerance + 1, sample).data
    assert wrong.startswith("Not quite") and "Hint" in wrong
    assert "Not answered yet" in pk.exercises.check(name, None, sample).data
    assert "```python" in pk.exercises.solution(name).data


def test_smb_win_rate_exercise_matches_the_metric(sample):
    import polars as pl

    smb = pk.win_rate(sample, "2025-Q4", by="team").filter(pl.col("team") == "SMB")
    assert pk.exercises.EXERCISES["smb_win_rate"].compute(sample) == smb["win_rate"][0]


def test_snapshot_exercises_match_plain_python_over_rows(sample):
    """Independent of the kit: open deals in Negotiation rebuilt from the rows."""
    import datetime as dt

    day = dt.date(2025, 12, 31)
    order = {r["stage"]: r["order"] for r in sample.tables["stages"].iter_rows(named=True)}
    history: dict[str, list[tuple]] = {}
    for r in sample.tables["stage_history"].iter_rows(named=True):
        history.setdefault(r["deal_id"], []).append(
            (r["entered_at"], order[r["stage"]], r["stage"])
        )
    count = 0
    for d in sample.tables["deals"].iter_rows(named=True):
        if d["created_at"] > day or (d["closed_at"] is not None and d["closed_at"] <= day):
            continue
        moves = sorted(history.get(d["deal_id"], []))
        before = [m for m in moves if m[0] <= day]
        stage = before[-1][2] if before else (moves[0][2] if moves else d["stage"])
        count += stage == "Negotiation"
    assert pk.exercises.EXERCISES["negotiation_open_deals"].compute(sample) == count
