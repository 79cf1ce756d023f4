import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline_kit.periods import Period, latest_complete_quarter, resolve_period


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2025-Q4", dt.date(2025, 10, 1), dt.date(2025, 12, 31), "2025-Q4"),
        ("2024q1", dt.date(2024, 1, 1), dt.date(2024, 3, 31), "2024-Q1"),
        ("2024-H1", dt.date(2024, 1, 1), dt.date(2024, 6, 30), "2024-H1"),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29), "2024-02"),
        ("2023", dt.date(2023, 1, 1), dt.date(2023, 12, 31), "2023"),
        (
            "2025-10-05..2025-10-20",
            dt.date(2025, 10, 5),
            dt.date(2025, 10, 20),
            "2025-10-05..2025-10-20",
        ),
    ],
)
def test_parse(text, start, end, label):
    p = Period.parse(text)
    assert (p.start, p.end, p.label) == (start, end, label)


@pytest.mark.parametrize(
    "bad", ["2025-Q5", "Q4", "2025-13", "last quarter", "2025-12-31..2025-01-01"]
)
def test_parse_rejects_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="period"):
        Period.parse(bad)


def test_latest_complete_quarter():
    assert latest_complete_quarter(dt.date(2025, 12, 31)).label == "2025-Q4"
    assert latest_complete_quarter(dt.date(2025, 12, 30)).label == "2025-Q3"
    assert latest_complete_quarter(dt.date(2017, 12, 31)).label == "2017-Q4"
    assert resolve_period("latest", dt.date(2024, 5, 2)).label == "2024-Q1"
    assert resolve_period("2023-Q2", dt.date(2024, 5, 2)).label == "2023-Q2"


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2090, 12, 31)))
def test_quarter_of_contains_the_day_and_tiles_the_calendar(day):
    q = Period.quarter_of(day)
    assert q.start <= day <= q.end
    assert q.shift(1).start == q.end + dt.timedelta(days=1)
    assert q.shift(-1).end == q.start - dt.timedelta(days=1)
    assert 90 <= q.days <= 92


def test_latest_on_an_export_shorter_than_a_quarter_is_the_quarter_of_its_last_day():
    # data from 2025-01-02 to 2025-03-28: no complete quarter inside it
    assert resolve_period("latest", dt.date(2025, 3, 28), dt.date(2025, 1, 2)).label == "2025-Q1"
    # with a complete quarter inside the data, that one
    assert resolve_period("latest", dt.date(2025, 3, 28), dt.date(2024, 9, 1)).label == "2024-Q4"
    # no dates at all: the whole export
    assert resolve_period("latest", None).is_all


def test_period_all_contains_every_row_also_without_a_date():
    frame = pl.DataFrame({"d": [dt.date(2025, 1, 1), None, dt.date(1900, 1, 1)]})
    everything = Period.parse("all")
    assert frame.filter(everything.contains("d")).height == 3
    assert frame.select(everything.contains("d").sum()).item() == 3
