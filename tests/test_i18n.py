"""Reports in Simplified Chinese, Traditional Chinese and Malay, amounts in any currency.

The expected formats are written from the CLDR data Babel ships (the currency symbols and
compact patterns of each locale), not from running pipeline_kit: CLDR gives "RM" for MYR in
Malay, "¥" for CNY in Simplified Chinese but "CN¥" in Traditional Chinese, "$" for TWD in
Traditional Chinese, "US$" for USD in both Chinese locales, 万/萬 (10^4) as the Chinese compact
unit and "J" (juta, 10^6) as the Malay one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import altair as alt
import nbformat
import polars as pl
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit import charts
from pipeline_kit.charts._base import _READ_KEYS, DATA_TEXT
from pipeline_kit.charts.theme import FONT
from pipeline_kit.formatting import FORMAT, Formatter, currency_code, fmt_days, fmt_money, fmt_pct
from pipeline_kit.i18n import LOCALE_DIR, gettext, normalise_lang
from pipeline_kit.reports import localised_template, run_reports, template_path
from pipeline_kit.schema import DEAL_STATUSES, TABLES
from pipeline_kit.sections import escape as _esc

from .conftest import SAMPLE

ROOT = Path(__file__).resolve().parent.parent
LANGS = ["zh_Hans", "zh_Hant", "ms"]

# ------------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("lang", "currency", "amount", "expected"),
    [
        ("en", "USD", 21986, "$21,986"),
        ("en", "USD", 1234567, "$1.23M"),
        ("en", "USD", -21986, "-$21,986"),
        ("en", "EUR", 21986, "€21,986"),
        ("en", "MYR", 21986, "MYR21,986"),
        ("ms", "MYR", 21986, "RM21,986"),
        ("ms", "MYR", 1234567, "RM1.23J"),
        ("ms", "USD", 21986, "USD21,986"),
        ("zh-Hans", "CNY", 21986, "¥21,986"),
        ("zh-Hans", "CNY", 1234567, "¥123.46万"),
        ("zh-Hans", "USD", 21986, "US$21,986"),
        ("zh-Hant", "TWD", 21986, "$21,986"),
        ("zh-Hant", "TWD", 1234567, "$123.46萬"),
        ("zh-Hant", "CNY", 21986, "CN¥21,986"),
        ("zh-Hant", "USD", 21986, "US$21,986"),
    ],
)
def test_money_per_locale(lang, currency, amount, expected):
    assert Formatter(lang, currency).money(amount) == expected


@pytest.mark.parametrize(
    ("lang", "days", "hours", "points", "date"),
    [
        ("en", "50.7 days", "3.2 h", "+5.2 pts", "2025-12-31"),
        ("zh-Hans", "50.7 天", "3.2 小时", "+5.2 个百分点", "2025年12月31日"),
        ("zh-Hant", "50.7 天", "3.2 小時", "+5.2 個百分點", "2025年12月31日"),
        ("ms", "50.7 hari", "3.2 jam", "+5.2 mata peratusan", "31 Disember 2025"),
    ],
)
def test_units_and_dates_per_locale(lang, days, hours, points, date):
    f = Formatter(lang)
    assert f.days(50.73) == days
    assert f.hours(3.25) == hours
    assert f.difference(0.052) == points
    assert f.date(dt.date(2025, 12, 31)) == date
    # the four locales write numbers alike: "," groups, "." decimals, "%" after
    assert f.pct(0.3295) == "33.0%"
    assert f.number(1234567.891, 2) == "1,234,567.89"
    assert f.money(None) == f.pct(float("nan")) == "–"


@pytest.mark.parametrize("bad", ["€", "RM", "dollars", "XYZ", "", "US"])
def test_an_unknown_currency_says_what_is_expected(bad):
    with pytest.raises(ValueError, match="ISO 4217 code"):
        Formatter("en", bad)
    with pytest.raises(ValueError, match="ISO 4217 code"):
        charts.with_currency(alt.Chart().mark_point(), bad)


def test_currency_codes_and_languages_are_normalised():
    assert currency_code("myr") == "MYR"
    assert currency_code("$") == "USD"  # the kit's old default symbol
    assert normalise_lang("zh-hans") == normalise_lang("zh_Hans") == "zh_Hans"
    with pytest.raises(ValueError, match="'zh-Hant'"):
        normalise_lang("fr")


def _old_money(x: float) -> str:
    """The kit's English money format before Babel (kept here as the reference)."""
    sign = "-" if x < 0 else ""
    if abs(x) >= 1e6:
        return f"{sign}${abs(x) / 1e6:,.2f}M"
    return f"{sign}${abs(x):,.0f}"


@given(st.floats(min_value=-1e11, max_value=1e11, allow_nan=False))
def test_english_output_is_what_it_always_was(x):
    assert fmt_money(x) == _old_money(x)
    assert fmt_pct(x / 1e9) == f"{x / 1e9:.1%}"
    assert fmt_pct(x / 1e9, 0) == f"{x / 1e9:.0%}"
    assert fmt_days(x) == f"{x:,.1f} days"
    assert FORMAT["count"](x) == f"{x:,.0f}"
    assert FORMAT["hours"](x) == f"{x:,.1f} h"
    assert FORMAT["ratio"](x) == f"{x:,.2f}x"
    assert FORMAT["difference"](x / 1e9) == f"{x / 1e9 * 100:+.1f} pts"


@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=6))
def test_amounts_side_by_side_share_one_form(amounts):
    """A row with a million in it shows every amount compact; a row without is unchanged."""
    f = Formatter().side_by_side(amounts)
    shown = [f.money(x) for x in amounts]
    if any(abs(x) >= 1e6 for x in amounts):
        assert all(
            s.endswith(("K", "M")) or s in ("$0", "-$0") or abs(x) < 1e3
            for s, x in zip(shown, amounts, strict=True)
        )
        assert not any("," in s and not s.endswith("M") for s in shown)
    else:
        assert shown == [_old_money(x) for x in amounts]


def test_chart_money_formats_take_the_locales_symbol():
    frame = pl.DataFrame({"x": [1.0e6]})
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("x:Q", axis=alt.Axis(format="$,.3~s")))
        .properties(width=200, height=40)
    )
    assert "locale" not in (charts.with_currency(chart, "USD").to_dict().get("config") or {})
    spec = charts.with_currency(chart, "MYR", "ms").to_dict()
    assert spec["config"]["locale"]["number"]["currency"] == ["RM", ""]
    svg = charts.to_svg(charts.with_currency(chart, "MYR", "ms"))
    assert ">RM1M<" in svg or ">RM1.0M<" in svg, re.findall(r">(RM[^<]*)<", svg)
    pipe = pk.open_pipeline(pk.load(SAMPLE), "2025-12-31")
    spec = charts.pipeline_by_stage(pipe, currency="EUR").to_dict()
    assert spec["config"]["locale"]["number"]["currency"] == ["€", ""]


# ------------------------------------------------------------------ catalogs


def _catalog(lang: str):
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "pipeline_kit.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _marked() -> set[str]:
    """Every message marked _() or N_() in the package, found by Babel's extractor."""
    return {
        message
        for _file, _line, message, *_ in extract_from_dir(
            ROOT / "pipeline_kit",
            method_map=[("**.py", "python")],
            keywords={"_": None, "N_": None},
        )
    }


def _markdown_cells() -> set[str]:
    cells = set()
    for name in ("team_report.ipynb", "org_summary.ipynb"):
        notebook = nbformat.read(template_path(name), as_version=4)
        cells |= {c.source for c in notebook.cells if c.cell_type == "markdown"}
    return cells


@pytest.mark.parametrize("lang", LANGS)
def test_every_marked_string_has_a_translation(lang):
    catalog = _catalog(lang)
    translated = {m.id: m.string for m in catalog if m.id}
    needed = _marked() | _markdown_cells()
    missing = sorted(m for m in needed if not translated.get(m))
    assert not missing, f"{lang}: no translation for {missing[:10]} (tools/update_catalogs.py)"
    empty = [m for m, s in translated.items() if not s]
    assert not empty, empty[:10]
    for message, text in translated.items():  # same placeholders, so .format() cannot fail
        assert sorted(re.findall(r"\{\w*\}", message)) == sorted(re.findall(r"\{\w*\}", text)), (
            message,
            text,
        )
        if message.startswith("## "):  # a template heading stays a heading
            assert text.startswith("## "), text


def test_a_catalog_is_compiled_at_first_use_from_its_po_file():
    assert gettext("zh-Hans")("Stage") == "阶段"
    assert gettext("zh-Hant")("Stage") == "階段"
    assert gettext("ms")("Stage") == "Peringkat"
    assert gettext("en")("Stage") == "Stage"
    assert not list(LOCALE_DIR.rglob("*.mo"))  # nothing compiled ahead


def test_the_wheel_includes_the_catalogs():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["pipeline_kit"]' in pyproject  # hatch ships every file of the package
    for lang in LANGS:  # both domains, inside the package: the reports' and the cards'
        for domain in ("pipeline_kit", "cards"):
            assert (
                ROOT / "pipeline_kit" / "locale" / lang / "LC_MESSAGES" / f"{domain}.po"
            ).is_file()
    assert "babel" in pyproject
    ignored = (ROOT / ".gitignore").read_text() if (ROOT / ".gitignore").exists() else ""
    assert not any(line.strip() in ("*.po", "locale", "locale/") for line in ignored.splitlines())


# ------------------------------------------------------------------ definition cards


def test_an_english_card_is_the_card_as_written():
    card = pk.explain("win_rate")
    assert card.to_markdown("en") == card.to_markdown()
    assert card.to_markdown().splitlines()[:3] == [
        "**Win rate** (`win_rate`)",
        "",
        "- Formula: " + card.formula,
    ]
    assert "- Computed by: `pipeline_kit.win_rate`" in card.to_markdown()
    assert card.messages()[:2] == [card.formula, card.time_basis]
    assert card.messages()[-len(card.pitfalls) :] == list(card.pitfalls)


def test_a_card_is_written_from_the_cards_catalog(tmp_path, monkeypatch):
    import pipeline_kit.i18n as i18n

    card = pk.explain("win_rate")
    po = tmp_path / "ms" / "LC_MESSAGES" / "cards.po"
    po.parent.mkdir(parents=True)
    entries = {
        "Formula": "Rumus",
        "Computed by": "Dikira oleh",
        "{label}: {text}": "{label} — {text}",
        card.formula: "RUMUS-DITERJEMAH",
        card.pitfalls[0]: "PERANGKAP-1",
    }

    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        + "".join(f"msgid {quoted(k)}\nmsgstr {quoted(v)}\n\n" for k, v in entries.items()),
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translator.cache_clear()
    try:
        text = card.to_markdown("ms")
    finally:
        i18n.translator.cache_clear()
    assert "- Rumus — RUMUS-DITERJEMAH" in text.splitlines()
    assert "- Dikira oleh — `pipeline_kit.win_rate`" in text.splitlines()  # code as it is
    assert text.splitlines()[0] == "**Win rate** (`win_rate`)"  # no report catalog there
    assert "PERANGKAP-1 " + card.pitfalls[1] in text  # an untranslated message stays English
    assert f"- Time basis — {card.time_basis}" in text


@pytest.mark.parametrize("lang", LANGS)
def test_every_card_message_has_a_translation(lang):
    from pipeline_kit.forecasting.cards import FORECAST_CARDS
    from pipeline_kit.metrics import CATALOGUE
    from pipeline_kit.metrics.cards import LABELLED, LABELS

    with (LOCALE_DIR / lang / "LC_MESSAGES" / "cards.po").open("rb") as fh:
        translated = {m.id: m.string for m in read_po(fh, locale=lang) if m.id}
    cards = [*CATALOGUE.values(), *FORECAST_CARDS.values()]
    assert len(cards) >= 67  # 56 metrics and 11 forecast figures when the catalog was written
    needed = {*LABELS, LABELLED} | {text for card in cards for text in card.messages()}
    missing = sorted(m for m in needed if not translated.get(m))
    assert not missing, f"{lang}: no translation for {missing[:5]} (tools/update_catalogs.py)"
    for message, text in translated.items():
        words = re.sub(r"\{\w*\}", "", message)  # ids and placeholders may stay as they are
        assert text != message or words in (": ", "clv / cac"), message
        # code and placeholders as they are: every code span of the English is in the
        # translation (which may mark more names as code), the same {placeholders}
        assert set(re.findall(r"`[^`]+`", message)) <= set(re.findall(r"`[^`]+`", text)), text
        assert text.count("`") % 2 == 0, text
        assert sorted(re.findall(r"\{\w*\}", message)) == sorted(re.findall(r"\{\w*\}", text))
    # the symbols of a formula stay: its operators, numbers and the metric ids it names
    for card in cards:
        for symbol in re.findall(r"(?<= )[-+/=<>](?= )|[\^|]|\d+(?:\.\d+)?%?", card.formula):
            assert symbol in translated[card.formula], (card.name, symbol)


def test_a_translated_card_keeps_its_id_and_function(sample_ds):
    card = pk.explain("win_rate")
    zh = card.to_markdown("zh-Hans").splitlines()
    assert zh[0] == "**赢单率** (`win_rate`)"
    assert zh[2] == "- 公式：赢单数 / (赢单数 + 输单数)"
    assert "- 计算函数：`pipeline_kit.win_rate`" in zh
    appendix = pk.TeamReport(sample_ds, "EMEA", "2025-Q4", lang="zh-Hans").methodology().data
    assert card.to_markdown("zh-Hans") in appendix
    assert "Formula" not in appendix and "- 注意事项：" in appendix


# ------------------------------------------------------------------ reports


def _chart_texts(chart: alt.TopLevelMixin) -> list[str]:
    found: list[str] = []

    def walk(node: object, key: str | None = None) -> None:
        if isinstance(node, str):
            if key in _READ_KEYS:
                found.append(node)
            elif key == "labelExpr":  # legend labels: the translated side of the mapping
                found.extend(json.loads(re.match(r"\((.*)\)\[datum", node).group(1)).values())
        elif isinstance(node, alt.SchemaBase):
            for k, v in node._kwds.items():
                walk(v, k)
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, pl.DataFrame):
            for c in node.columns:
                if c in DATA_TEXT and node[c].dtype == pl.String:
                    found.extend(node[c].to_list())

    walk(chart)
    return found


def _visible_text(report: object) -> str:
    """Everything the report's sections show: Markdown text and chart texts."""
    parts = []
    for name in dir(report):
        if name.startswith("_") or not callable(getattr(report, name)):
            continue
        shown = getattr(report, name)()
        if isinstance(shown, alt.TopLevelMixin):
            parts += _chart_texts(shown)
        elif hasattr(shown, "data") and isinstance(shown.data, str):
            text = shown.data
            parts.append(text)
        elif shown is not None:
            parts.append(repr(shown))
    return "\n".join(parts)


def _allowed_words(ds: pk.Dataset) -> set[str]:
    """Words that stay as they are: values from the data, column and metric names, units."""
    words: set[str] = set()
    for frame in ds.tables.values():
        words.update(frame.columns)
        for column in frame.columns:
            if frame[column].dtype == pl.String and frame[column].n_unique() < 500:
                for value in frame[column].drop_nulls().unique().to_list():
                    words.update(re.findall(WORD, value))
    words.update(re.findall(r"\w+", " ".join(pk.metrics.CATALOGUE)))
    words.update(re.findall(WORD, TERMS))
    return words


# method and statistic names, units, file and table names, symbols: the same in every language
TERMS = """Benjamini-Hochberg Kaplan-Meier Spearman rho CLV CAC CRPS PIT Brier CI SK CRM P10 P50
P90 q n p x h pipeline_kit canonical csv sample benchmarks targets leads activities customers
collateral_usage deals stage_history stages marketing_spend pk compare by US CN NT RM J data
Wilson Newcombe MOVER Shewhart Beta Student quasi-Poisson beta-binomial bootstrap-t sigma
Cox Garwood Jeffreys Poisson Gamma-Poisson Bernoulli Monte
Carlo log-log ARPA Brunner-Munzel Zou Donner Aalen-Johansen"""


WORD = r"[A-Za-z][A-Za-z0-9_'-]*"
# function words and report words that give an English sentence away
ENGLISH = frozenset(
    re.findall(
        WORD,
        """the of and with from than which would their this these were has have there only per
        deal deals won lost open rate rates team teams period quarter quarters stage target
        bookings forecast share still days not no none above below""",
    )
)


@pytest.fixture(scope="module")
def sample_ds() -> pk.Dataset:
    return pk.load(SAMPLE)


@pytest.mark.parametrize(
    ("lang", "currency"), [("zh-Hans", "CNY"), ("zh-Hant", "TWD"), ("ms", "MYR")]
)
def test_no_english_sentence_is_left_in_a_translated_report(sample_ds, lang, currency):
    text = "\n".join(
        _visible_text(report)
        for report in (
            pk.TeamReport(sample_ds, "EMEA", "2025-Q4", lang=lang, currency=currency),
            pk.OrgReport(sample_ds, "2025-Q4", lang=lang, currency=currency),
        )
    )
    assert "could not be produced" not in text and "SectionError" not in text
    # code (`pk.deal_list(ds, "2025-Q4", kind="open")`) is the same in every language
    text = re.sub(r"`[^`\n]*`", " ", text)
    for frame in sample_ds.tables.values():  # segment columns are named as in the data
        for column in (c for c in frame.columns if "_" in c):
            text = text.replace(column.replace("_", " "), " ")
    allowed = {w.lower() for w in _allowed_words(sample_ds)}
    words = [w for w in re.findall(WORD, text) if not re.search(r"\d", w)]
    left = sorted({w for w in words if w.lower() in ENGLISH and w.lower() not in allowed})
    assert not left, f"{lang}: English words left: {left}"
    if lang.startswith("zh"):  # in Chinese, no Latin word but data values and fixed terms
        latin = sorted({w for w in words if w.lower() not in allowed and len(w) > 2})
        assert not latin, f"{lang}: Latin words left: {latin}"
        assert Formatter(lang, currency).symbol in text
    else:
        assert "RM" in text


@pytest.mark.parametrize("lang", LANGS)
def test_no_card_translation_is_left_in_english(sample_ds, lang):
    # every card, not only those the sample's report shows: the same words as above
    import pipeline_kit.metrics  # noqa: F401  (_allowed_words reads the catalogue)

    with (LOCALE_DIR / lang / "LC_MESSAGES" / "cards.po").open("rb") as fh:
        catalog = [m for m in read_po(fh, locale=lang) if m.id]
    allowed = {w.lower() for w in _allowed_words(sample_ds)} | {"label", "text"}
    for message in catalog:
        text = re.sub(r"`[^`\n]*`", " ", message.string)
        words = [w for w in re.findall(WORD, text) if not re.search(r"\d", w)]
        left = {w for w in words if w.lower() in ENGLISH and w.lower() not in allowed}
        if lang.startswith("zh"):
            left |= {w for w in words if w.lower() not in allowed and len(w) > 2}
        assert not left, (lang, sorted(left), message.string)


SALESFORCE = ROOT / "data" / "examples" / "salesforce"
MAVEN = ROOT.parent / "shared" / "realdata" / "maven-crm"


def _english_left(ds: pk.Dataset, text: str) -> list[str]:
    """English words of a sentence left in ``text``: not a data value, column or fixed term.

    Code (`...`) and quoted names ('Date entered', "Closed Won": an export's own column and
    value names, written as the CRM writes them) are the same in every language.
    """
    text = re.sub(r"`[^`\n]*`|'[^'\n]*'|\"[^\"\n]*\"|\b\w+=", " ", text.replace("\\_", "_"))
    for frame in ds.tables.values():  # segment columns are named as in the data
        for column in (c for c in frame.columns if "_" in c):
            text = text.replace(column.replace("_", " "), " ")
    allowed = {w.lower() for w in _allowed_words(ds)}
    allowed |= {c for table in TABLES.values() for c in table.columns()}  # the kit's columns
    allowed |= set(DEAL_STATUSES)  # the values a status column must hold: open, won, lost
    words = [w for w in re.findall(WORD, text) if not re.search(r"\d", w)]
    return sorted({w for w in words if w.lower() in ENGLISH and w.lower() not in allowed})


@pytest.fixture(scope="module")
def salesforce_ds() -> pk.Dataset:
    return pk.load(SALESFORCE, source="salesforce")


@pytest.mark.parametrize(
    ("lang", "currency"), [("zh-Hans", "CNY"), ("zh-Hant", "TWD"), ("ms", "MYR")]
)
def test_the_loaders_notes_and_quarantine_reasons_are_translated(salesforce_ds, lang, currency):
    # the Salesforce example has quarantined rows (a currency without a rate, a history row of
    # an unknown deal) and notes from the adapter (encoding, ids, teams, owners, currency)
    ds = salesforce_ds
    assert ds.problems().height >= 2 and len(ds.notes) >= 8
    report = pk.TeamReport(ds, ds.teams[0], "2024-Q2", lang=lang, currency=currency)
    quality = report.data_quality().data
    notes = quality.split(report._("Notes from loading:"))[1]
    assert notes.count("\n- ") == len(ds.notes)
    for note in ds.notes:  # every note is shown, none in English
        assert _esc(str(note)) not in quality, note
    # problems() and the notes stay English (the API); the report words them in its language
    assert "the amount is in a currency with no conversion rate to the reporting currency" in (
        ds.problems()["problem"].to_list()
    )
    text = "\n".join(
        _visible_text(r)
        for r in (report, pk.OrgReport(ds, "2024-Q2", lang=lang, currency=currency))
    )
    assert not _english_left(ds, text), f"{lang}: {_english_left(ds, text)}"
    if lang == "zh-Hans":  # the counts and names go in as they are, the words around them not
        assert "1 个商机的负责人不在 User 文件中：以其负责人 id 显示。" in quality
        assert "deals 中 1 行：金额所用币种没有换算为报告币种的汇率。" in quality
        assert "User.csv 不是 UTF-8 编码：已按 cp1252 读取" in quality


EXAMPLES = {  # the example export of every source (as tests/test_cli_sources.py reads them)
    "hubspot": lambda: pk.load(ROOT / "data/examples/hubspot", source="hubspot"),
    "pipedrive": lambda: pk.load(
        ROOT / "data/examples/pipedrive", source="pipedrive", rates={"USD": 1, "EUR": 0.8}
    ),
    "mapping": lambda: pk.load(
        ROOT / "data/examples/other_crm/opportunities.csv",
        mapping=ROOT / "tests/fixtures/mapped_export/mapping.toml",
    ),
}


@pytest.mark.parametrize("source", list(EXAMPLES))
def test_every_sources_notes_are_translated(source):
    ds = EXAMPLES[source]()
    period = f"{ds.last_date.year}-Q{(ds.last_date.month - 1) // 3 + 1}"
    assert ds.notes
    for lang in LANGS:
        report = pk.TeamReport(ds, ds.teams[0], period, lang=lang)
        quality = report.data_quality().data
        assert not _english_left(ds, quality), (lang, _english_left(ds, quality))
        forecast = report.forecast_table().data  # its note: why the interval is wide
        assert not _english_left(ds, forecast), (lang, forecast)


@pytest.mark.skipif(not (MAVEN / "sales_pipeline.csv").exists(), reason="no Maven export here")
@pytest.mark.parametrize("lang", ["zh-Hans", "ms"])
def test_the_maven_exports_notes_are_translated(lang):
    ds = pk.load(MAVEN, source="maven")
    report = pk.TeamReport(ds, "Central", "2017-Q4", lang=lang)
    quality = report.data_quality().data
    assert not _english_left(ds, quality), _english_left(ds, quality)
    counts = Formatter(lang).number(1480)  # a count in a note goes through the formatter
    assert f"'GTXPro'（{counts} 个商机）" in quality if lang == "zh-Hans" else counts in quality
    # the English notes are what they always were
    assert "Product 'GTXPro' (1,480 deals) matched to 'GTX Pro' in products.csv" in "".join(
        ds.notes
    )


def test_a_message_is_its_english_text_and_survives_the_cache(tmp_path):
    from pipeline_kit.cache import read_cached, write_cached
    from pipeline_kit.i18n import Message

    note = Message("{rows} row(s) of {table}", rows=12345, table="deals")
    assert note == "12,345 row(s) of deals" and isinstance(note, str)
    assert Formatter("zh-Hans").text(note) == "12,345 row(s) of deals"  # not in the catalog
    assert Formatter("zh-Hans").text(Message("Stage")) == "阶段"
    ds = pk.load(SALESFORCE, source="salesforce")
    write_cached(tmp_path, "k", ds)
    back = read_cached(tmp_path, "k")
    assert back.notes == ds.notes
    assert [getattr(n, "msgid", None) for n in back.notes] == [
        getattr(n, "msgid", None) for n in ds.notes
    ]
    assert all(isinstance(n, Message) for n in back.notes)
    zh = pk.TeamReport(back, back.teams[0], "2024-Q2", lang="zh-Hans").data_quality().data
    assert "这些文件混用 15 位和 18 位 Salesforce id" in zh


@pytest.mark.parametrize("lang", LANGS)
def test_the_batch_index_is_in_the_reports_language(sample_ds, lang):
    from pipeline_kit.periods import Period
    from pipeline_kit.reports import TeamResult, _index_html

    results = [
        TeamResult("Organisation summary", "organisation", True, 3.0, has_html=True),
        TeamResult("EMEA", "emea", True, 2.0, has_html=True, section_errors=("executive_summary",)),
        TeamResult("APAC", "apac", False, 1.0, error="boom"),
        TeamResult("Nowhere", "nowhere", True, 1.0, has_html=True),
    ]
    page = _index_html(
        sample_ds,
        Period.parse("2025-Q4"),
        None,
        results,
        {"EMEA", "APAC"},
        Formatter(lang),
    )
    assert f'<html lang="{lang.replace("_", "-")}">' in page
    body = re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)
    words = {w.lower() for w in re.findall(WORD, body)}
    assert not words & (ENGLISH | {"ready", "failed", "see", "summary", "reports"}), sorted(
        words & (ENGLISH | {"ready", "failed", "see", "summary", "reports"})
    )
    if lang.startswith("zh"):
        assert "Noto Sans CJK" in page
    english = _index_html(sample_ds, Period.parse("2025-Q4"), None, results, {"EMEA", "APAC"})
    assert "Quarterly pipeline reports: 2025-Q4" in english and '<html lang="en">' in english
    assert "2 of 3 team reports ready, 1 failed" in english


def test_a_chinese_batch_writes_a_chinese_index(chinese_reports):
    page = (chinese_reports / "index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-Hans">' in page and "季度销售管道报告：2025-Q4" in page
    assert "组织汇总" in page and "Organisation summary" not in page


def test_an_english_report_is_unchanged_by_the_language_machinery(sample_ds):
    default = pk.TeamReport(sample_ds, "EMEA", "2025-Q4")
    explicit = pk.TeamReport(sample_ds, "EMEA", "2025-Q4", lang="en", currency="USD")
    assert default.summary().data == explicit.summary().data
    assert "$" in default.summary().data and default.lang == "en"
    assert default.pipeline_chart().to_dict() == explicit.pipeline_chart().to_dict()
    with pytest.raises(ValueError, match="ISO 4217"):
        pk.TeamReport(sample_ds, "EMEA", "2025-Q4", currency="€")


def test_the_sections_over_time_translate_months_and_deal_details(sample_ds):
    # CLDR's abbreviated months: "1月".. in Chinese, "Mac", "Ogo", "Dis" in Malay
    def months(report: pk.TeamReport) -> list[str]:
        spec = report.seasonality_chart().to_dict()
        rows = next(v for v in spec["datasets"].values() if v and "month_name" in v[0])
        return [r["month_name"] for r in rows]

    zh = pk.TeamReport(sample_ds, "EMEA", "2025-Q4", lang="zh-Hans", currency="CNY")
    assert months(zh) == [f"{m}月" for m in range(1, 13)]
    ms = pk.TeamReport(sample_ds, "EMEA", "2025-Q4", lang="ms", currency="MYR")
    assert months(ms)[2::5] == ["Mac", "Ogo"]
    assert "¥" in zh.seasonality_chart().to_dict()["config"]["locale"]["number"]["currency"]
    appendix = zh.deal_lists_appendix().data
    assert re.search(r"\| 超过预计结单日期 \d+ 天 \|", appendix), appendix[-600:]
    assert re.search(r"\| 在此阶段 \d+ 天（通常上限 \d+） \|", appendix)
    assert "days" not in appendix and "**延期商机（已过预计结单日期）：" in appendix
    assert months(pk.TeamReport(sample_ds, "EMEA", "2025-Q4"))[:3] == ["Jan", "Feb", "Mar"]


def test_chinese_charts_use_cjk_fonts_after_the_latin_ones(sample_ds):
    chart = pk.TeamReport(sample_ds, "EMEA", "2025-Q4", lang="zh-Hant").pipeline_chart()
    font = chart.to_dict()["config"]["font"]
    assert font.index("Arial") < font.index("Noto Sans CJK TC") < font.index("Noto Sans CJK SC")
    english = pk.TeamReport(sample_ds, "EMEA", "2025-Q4").pipeline_chart().to_dict()
    assert english.get("config", {}).get("font", FONT) == FONT  # the theme's, as before


def test_a_failed_section_says_so_in_the_reports_language():
    from pipeline_kit.sections import SectionError

    text, _meta = SectionError("summary", RuntimeError("boom"), "zh-Hans")._repr_markdown_()
    assert text.startswith("*本节无法生成") and "boom" in text


def test_template_headings_are_translated_whole(tmp_path):
    for name in ("team_report.ipynb", "org_summary.ipynb"):
        copy = localised_template(template_path(name), "zh_Hans", tmp_path)
        cells = nbformat.read(copy, as_version=4).cells
        headings = [c.source.splitlines()[0] for c in cells if c.cell_type == "markdown"]
        assert headings and all(h.startswith("## ") for h in headings)
        assert not [h for h in headings if re.search(r"[A-Za-z]{4}", h.replace("CLV:CAC", ""))]
        code = [c.source for c in cells if c.cell_type == "code"]
        original = nbformat.read(template_path(name), as_version=4).cells
        assert code == [c.source for c in original if c.cell_type == "code"]


def test_the_cli_takes_a_language_and_a_currency(tmp_path, capsys):
    from pipeline_kit.cli import build_parser, main

    report = ["report", "--data", str(SAMPLE), "--period", "2025-Q4", "--out", str(tmp_path)]
    args = build_parser().parse_args([*report, "--lang", "zh-Hans", "--currency", "CNY"])
    assert (args.lang, args.currency) == ("zh-Hans", "CNY")
    code = main([*report, "--currency", "RM"])
    assert code != 0 and "ISO 4217" in capsys.readouterr().err


# ------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def chinese_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("zh_reports")
    results = run_reports(
        SAMPLE,
        "2025-Q4",
        out,
        teams=["EMEA"],
        progress=False,
        jobs=2,
        lang="zh-Hans",
        currency="CNY",
    )
    assert all(r.ok and not r.section_errors for r in results), results
    return out


def test_a_chinese_report_end_to_end(chinese_reports):
    page = (chinese_reports / "emea.html").read_text(encoding="utf-8")
    for heading in ("执行摘要", "销售管道快照", "方法说明", "数据质量"):
        assert heading in page
    assert "销售管道报告 2025-Q4" in page and "¥" in page
    assert "Executive summary" not in page and "Pipeline snapshot" not in page
    assert '<html lang="zh-Hans">' in page and "Noto Sans CJK SC" in page  # CJK font stack
    organisation = (chinese_reports / "organisation.html").read_text(encoding="utf-8")
    assert "组织汇总" in organisation and "各团队并列对比" in organisation
    assert "<title>团队销售管道报告</title>" in page and "<title>组织汇总</title>" in organisation
    notebook = json.loads((chinese_reports / "emea.ipynb").read_text(encoding="utf-8"))
    assert any("lang = " in "".join(c["source"]) for c in notebook["cells"])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_chinese_report_renders_in_chromium(chinese_reports):
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: `make test` should have installed it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((chinese_reports / "emea.html").as_uri(), wait_until="load")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('.pk-chart'))"
            ".every(e => e.querySelector('svg') || e.classList.contains('pk-chart-error'))",
            timeout=30_000,
        )
        body = page.locator("body").inner_text()
        chart_text = page.eval_on_selector_all(
            ".pk-chart svg", "els => els.map(e => e.textContent).join(' ')"
        )
        font = page.evaluate("getComputedStyle(document.querySelector('h2')).fontFamily")
        chart_font = page.eval_on_selector(
            ".pk-chart svg text", "e => e.getAttribute('font-family')"
        )
        browser.close()
    assert errors == []
    assert "执行摘要" in body and "赢单率" in body
    assert "按阶段的未结销售管道：EMEA" in chart_text  # a chart title, drawn by Vega
    assert "Noto Sans CJK SC" in chart_font
    assert "¥" in chart_text  # the axis in yuan
    assert "Noto Sans CJK SC" in font
