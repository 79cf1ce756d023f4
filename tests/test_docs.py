from pathlib import Path

from pipeline_kit.docs import render

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_reference_is_generated_and_current():
    text = README.read_text()
    assert render(text) == text, "README reference is stale: run `make docs`"
    assert "`win_rate`" in text and "`stage_history`" in text
