"""The report workbooks, the metrics workbook and ``explain`` in the reader's language.

``pipeline-kit report --xlsx --lang zh-Hans --currency CNY`` writes each team's workbook in
Simplified Chinese with amounts in yuan; the data columns of the table sheets keep the kit's
column ids. The workbooks are read back with openpyxl. The expected names, headers and number
formats are written here by hand (from the .po files' terms and CLDR's currency symbols, as in
tests/test_i18n.py), not read from the code under test.
"""

from __future__ import annotations

import re

import pytest

import pipeline_kit as pk
from pipeline_kit import cli, reports
from pipeline_kit.excel import currency_format, definitions_frame
from pipeline_kit.forecasting.cards import FORECAST_CARDS
from pipeline_kit.formatting import Formatter
from pipeline_kit.report_workbook import sheet_names, write_team_workbook

from .conftest import SAMPLE
from .test_i18n import ENGLISH, WORD, _allowed_words

openpyxl = pytest.importorskip("openpyxl")

LANGS = [("zh-Hans", "CNY"), ("zh-Hant", "TWD"), ("ms", "MYR")]
# CLDR's symbol of each currency in its language (tests/test_i18n.py test_money_per_locale)
SYMBOL = {"zh-Hans": "¥", "zh-Hant": "$", "ms": "RM"}
EXCEL_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@pytest.fixture(scope="module")
def sample_ds() -> pk.Dataset:
    return pk.load(SAMPLE)


@pytest.fixture(scope="module")
def books(sample_ds, tmp_path_factory):
    """EMEA's 2025-Q4 workbook in each language, written once."""
    folder = tmp_path_factory.mktemp("translated")
    written = {}
    for lang, currency in LANGS:
        path = folder / f"emea-{lang}.xlsx"
        write_team_workbook(sample_ds, "EMEA", "2025-Q4", path, lang=lang, currency=currency)
        written[lang] = openpyxl.load_workbook(path)
    return written


def _rows(sheet) -> list[list]:
    return [[c.value for c in row] for row in sheet.iter_rows()]


def _header_rows(sheet, header_row: int) -> tuple[list, list[dict]]:
    """The table whose header is on row ``header_row`` (its header ends at the first blank)."""
    rows = list(sheet.iter_rows(min_row=header_row))
    values = [c.value for c in rows[0]]
    header = values[: values.index(None)] if None in values else values
    return header, [dict(zip(header, row[: len(header)], strict=True)) for row in rows[1:]]


def _english_left(text: str, ds: pk.Dataset, lang: str) -> list[str]:
    """English words (or, in Chinese, any Latin word) that are neither data nor a fixed term."""
    text = re.sub(r"`[^`\n]*`", " ", text)  # code is the same in every language
    allowed = {w.lower() for w in _allowed_words(ds)} | {n.lower() for n in FORECAST_CARDS}
    words = [w for w in re.findall(WORD, text) if not re.search(r"\d", w)]
    left = {w for w in words if w.lower() in ENGLISH and w.lower() not in allowed}
    if lang.startswith("zh"):
        left |= {w for w in words if w.lower() not in allowed and len(w) > 2}
    return sorted(left)


def test_sheet_names_and_contents_in_simplified_chinese(books):
    book = books["zh-Hans"]
    names = book.sheetnames
    assert names[0] == "目录" and names[1] == "关键指标" and names[-1] == "定义"
    for name in ("各阶段销售管道", "各团队赢单率", "输单原因", "停滞商机", "预测"):
        assert name in names
    contents = book["目录"]
    assert [c.value for c in contents[1]] == ["团队", "期间", "快照日", "数据", "指纹"]
    assert [c.value for c in contents[2]][:2] == ["EMEA", "2025-Q4"]
    # the line saying the data columns keep their ids, above the contents table
    assert "列 ID" in contents["A3"].value and "公式" in contents["A3"].value
    header, rows = _header_rows(contents, 4)
    assert header == ["工作表", "内容", "行数", "备注"]
    # the contents name every other sheet, by its translated name; all produced on the sample
    assert [row["工作表"].value for row in rows] == names[1:-1]
    about = {row["工作表"].value: row["内容"].value for row in rows}
    assert about["输单原因"] == "本团队商机输单的原因"


@pytest.mark.parametrize(("lang", "currency"), LANGS)
def test_sheet_names_are_translated_and_valid_in_excel(books, lang, currency):
    names = books[lang].sheetnames
    english = set(sheet_names("en").values())
    assert len(names) == 26
    assert not english & set(names) - {"CLV"}  # CLV is CLV in every language
    assert all(len(n) <= 31 and not EXCEL_FORBIDDEN.search(n) for n in names)
    assert len({n.casefold() for n in names}) == len(names)


def test_sheet_names_are_made_valid_and_unique(monkeypatch):
    import pipeline_kit.report_workbook as report_workbook

    # a language whose every name is too long, has Excel's forbidden characters, and is the same
    monkeypatch.setattr(
        report_workbook, "gettext", lambda lang: lambda s: "Sheet: [one]/two*?" + "x" * 40
    )
    names = list(report_workbook.sheet_names("ms").values())
    assert len(names) == 26 and len({n.casefold() for n in names}) == 26
    assert all(len(n) <= 31 and not EXCEL_FORBIDDEN.search(n) for n in names)
    assert names[0] == ("Sheet one two " + "x" * 40)[:31]
    assert names[1].endswith(" (2)") and names[-1].endswith(" (26)")


@pytest.mark.parametrize(("lang", "currency"), LANGS)
def test_no_english_sentence_is_left_in_contents_and_definitions(books, sample_ds, lang, currency):
    book = books[lang]
    names = book.sheetnames
    cells = [*_rows(book[names[0]]), *_rows(book[names[-1]])]
    text = "\n".join(str(v) for row in cells for v in row if isinstance(v, str))
    left = _english_left(text, sample_ds, lang)
    assert not left, (lang, left)


@pytest.mark.parametrize(("lang", "currency"), LANGS)
def test_amounts_carry_the_currency_symbol(books, lang, currency):
    book = books[lang]
    expected = f'"{SYMBOL[lang]}"#,##0'
    pipeline = book[book.sheetnames[2]]  # Pipeline by stage
    header, rows = _header_rows(pipeline, 1)
    assert "open_value" in header and "weighted_value" in header  # the kit's column ids
    assert {row["open_value"].number_format for row in rows} == {expected}
    assert {row["open_deals"].number_format for row in rows} == {"#,##0"}  # counts: no symbol
    _, key = _header_rows(book[book.sheetnames[1]], 1)
    by_metric = {row["metric"].value: list(row.values()) for row in key}
    assert by_metric["bookings"][3].number_format == expected
    assert by_metric["win_rate"][3].number_format == "0.0%"


def test_key_metrics_and_definitions_in_simplified_chinese(books, sample_ds):
    book = books["zh-Hans"]
    header, rows = _header_rows(book["关键指标"], 1)
    assert header[:7] == ["metric", "名称", "unit", "团队", "团队下限", "团队上限", "团队 n"]
    assert header[7:] == [
        "组织其余部分",
        "组织其余部分下限",
        "组织其余部分上限",
        "组织其余部分 n",
        "整个组织",
        "整个组织下限",
        "整个组织上限",
        "整个组织 n",
    ]
    titles = {row["metric"].value: row["名称"].value for row in rows}
    assert titles["win_rate"] == "赢单率" and titles["bookings"] == "签约额"
    header, rows = _header_rows(book["定义"], 1)
    assert header == ["指标", "名称", "公式", "时间口径", "计入哪些商机", "区间", "如何解读"]
    win_rate = next(row for row in rows if row["指标"].value == "win_rate")
    assert win_rate["公式"].value == "赢单数 / (赢单数 + 输单数)"
    assert win_rate["名称"].value == "赢单率"


def test_the_reasons_a_sheet_is_missing_are_translated(tmp_path):
    from .shapes import write_shape

    data = write_shape("only_closed", tmp_path / "data")  # deals only, none open
    ds = pk.load(data)
    path = tmp_path / "team.xlsx"
    write_team_workbook(ds, ds.teams[0], "2025-Q4", path, lang="zh-Hans", currency="CNY")
    book = openpyxl.load_workbook(path)
    _, rows = _header_rows(book["目录"], 4)
    notes = {row["工作表"].value: row["备注"].value for row in rows}
    assert notes["线索漏斗"] == "未生成：导出中没有 leads 表"
    assert notes["客户流失"] == "未生成：导出中没有 customers 表"
    assert "线索漏斗" not in book.sheetnames and "关键指标" in book.sheetnames


def test_english_workbook_keeps_its_names_and_headers(tmp_path, sample_ds):
    # the English workbook is byte-identical to the one written before the languages (checked
    # against main's code when they came); here: its names and headers, written out
    path = tmp_path / "emea.xlsx"
    write_team_workbook(sample_ds, "EMEA", "2025-Q4", path, lang="en", currency="USD")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:3] == ["Contents", "Key metrics", "Pipeline by stage"]
    assert book.sheetnames[-1] == "Definitions"
    contents = book["Contents"]
    assert [c.value for c in contents[1]] == [
        "team",
        "period",
        "snapshot day",
        "data",
        "fingerprint",
    ]
    assert contents["A3"].value is None  # no line about column ids in English
    assert _header_rows(contents, 4)[0] == ["sheet", "what it shows", "rows", "note"]
    header, rows = _header_rows(book["Key metrics"], 1)
    assert header[:7] == ["metric", "title", "unit", "team", "team low", "team high", "team n"]
    assert header[-1] == "whole organisation n"
    assert next(r for r in rows if r["metric"].value == "bookings")["team"].number_format == (
        "#,##0"
    )
    header, _ = _header_rows(book["Definitions"], 1)
    assert header == [
        "metric",
        "title",
        "formula",
        "time basis",
        "which deals count",
        "interval",
        "how to read it",
    ]
    again = tmp_path / "again.xlsx"
    write_team_workbook(sample_ds, "EMEA", "2025-Q4", again)  # the defaults are English, USD
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("lang", "currency", "expected"),
    [
        ("en", "USD", "#,##0"),
        ("en", "EUR", '"€"#,##0'),
        ("ms", "MYR", '"RM"#,##0'),
        ("zh-Hans", "CNY", '"¥"#,##0'),
        ("zh-Hant", "CNY", '"CN¥"#,##0'),
        ("zh-Hant", "USD", '"US$"#,##0'),
    ],
)
def test_currency_format(lang, currency, expected):
    assert currency_format(lang, currency) == expected


def test_the_batch_writes_workbooks_in_its_language(tmp_path, sample_ds):
    period = pk.periods.resolve_period("2025-Q4", sample_ds.last_date, sample_ds.first_date)
    (tmp_path / "emea.html").write_text("<html></html>")
    result = reports.TeamResult("EMEA", "emea", True, 1.0, None, True)
    fmt = Formatter("ms", "MYR")
    (after,) = reports._export(sample_ds, period, None, tmp_path, [result], 1, None, True, fmt)
    assert after.has_xlsx and not after.export_errors
    book = openpyxl.load_workbook(tmp_path / "emea.xlsx")
    assert book.sheetnames[0] == "Kandungan" and book.sheetnames[-1] == "Definisi"
    _, rows = _header_rows(book[book.sheetnames[2]], 1)
    assert rows[0]["open_value"].number_format == '"RM"#,##0'


# ------------------------------------------------------------------ metrics workbook, explain


def test_metrics_workbook_definitions_in_the_language(tmp_path, capsys):
    out = tmp_path / "m.csv"
    argv = ["metrics", "--data", str(SAMPLE), "--period", "2025-Q4", "--xlsx"]
    argv += ["--metric", "win_rate", "bookings", "--lang", "zh-Hant", "--out", str(out)]
    assert cli.main(argv) == 0
    book = openpyxl.load_workbook(out.with_suffix(".xlsx"))
    header, rows = _header_rows(book["definitions"], 1)
    assert header == ["指標", "名稱", "公式", "時間基礎", "計入哪些商機", "區間", "如何解讀"]
    assert {row["指標"].value: row["名稱"].value for row in rows} == {
        "win_rate": "贏單率",
        "bookings": "簽約額",
    }
    assert book["metrics"]["A1"].value == "metric"  # the data keeps the kit's ids


def test_definitions_frame_in_english_is_unchanged():
    frame = definitions_frame(["win_rate"])
    assert frame.columns[:3] == ["metric", "title", "formula"]
    assert frame.row(0)[:3] == ("win_rate", "Win rate", "won / (won + lost)")


def test_explain_in_a_language(capsys):
    assert cli.main(["explain", "win_rate", "--lang", "zh-Hans"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("赢单率 (win_rate)") and "公式：赢单数 / (赢单数 + 输单数)" in out
    assert cli.main(["explain", "forecast_bookings", "--lang", "ms"]) == 0
    assert "Rumus:" in capsys.readouterr().out
    assert cli.main(["explain", "win_rate"]) == 0
    assert capsys.readouterr().out.startswith("Win rate (win_rate)")


def test_pk_explain_takes_a_language():
    card = pk.explain("win_rate", lang="ms")
    assert card.title == "Win rate" and card == pk.explain("win_rate")  # fields as written
    assert card._repr_markdown_().startswith("**Kadar menang** (`win_rate`)")
    assert card.to_markdown("en").startswith("**Win rate**")
    assert pk.explain("win_rate")._repr_markdown_().startswith("**Win rate**")
    with pytest.raises(ValueError, match="unknown report language"):
        pk.explain("win_rate", lang="fr")
