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
