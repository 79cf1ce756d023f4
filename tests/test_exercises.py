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


def test_smb_win_rate_exercise_matches_a_count_over_the_rows(sample):
    """Independent of the kit: won / (won + lost) over SMB's deals closed in 2025-Q4."""
    import datetime as dt

    won = closed = 0
    for d in sample.tables["deals"].iter_rows(named=True):
        in_q4 = d["closed_at"] is not None and dt.date(2025, 10, 1) <= d["closed_at"] <= dt.date(
            2025, 12, 31
        )
        if d["team"] == "SMB" and in_q4 and d["status"] in ("won", "lost"):
            closed += 1
            won += d["status"] == "won"
    assert pk.exercises.EXERCISES["smb_win_rate"].compute(sample) == won / closed


@pytest.mark.parametrize("name", sorted(pk.exercises.EXERCISES))
def test_every_solution_runs_and_gives_the_answer(sample, name):
    """The code a learner is shown must run as shown and give the checked answer."""
    import polars as pl

    exercise = pk.exercises.EXERCISES[name]
    lines = exercise.solution.strip().splitlines()
    namespace = {"pk": pk, "pl": pl, "ds": sample}
    exec("\n".join(lines[:-1]), namespace)
    answer = eval(lines[-1], namespace)
    assert float(answer) == pytest.approx(exercise.compute(sample), abs=exercise.tolerance)


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
