"""Canonical folders and mapped exports as spreadsheets and other CRMs leave them.

Findings of the export sweep: a canonical folder re-saved by Excel (US dates, decimal comma),
a currency column, one close-date column for open and closed deals, Excel serial dates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk

HEADER = "deal_id,owner,team,amount,created_at,stage,status,closed_at"


def _folder(tmp_path: Path, lines: list[str], header: str = HEADER, sep: str = ",") -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    text = "\n".join([header.replace(",", sep), *lines]) + "\n"
    (folder / "deals.csv").write_text(text, encoding="utf-8")
    return folder


def _fix(ds: pk.Dataset, rule: str) -> str:
    return str(ds.problems().filter(pl.col("rule") == rule)["fix"][0])


# ----------------------------------------------------------------------------- finding 3


def test_us_excel_dates_in_a_canonical_folder_are_read_when_the_order_is_certain(tmp_path):
    # Excel (US) re-saved deals.csv: M/D/YYYY everywhere; 1/21/2024 can only be month first
    folder = _folder(
        tmp_path,
        [
            "D1,Ana,EMEA,100,1/2/2024,Won,won,1/21/2024",
            "D2,Ben,EMEA,200,2/3/2024,Lost,lost,3/4/2024",
            "D3,Ana,EMEA,300,3/5/2024,Proposal,open,",
        ],
    )
    ds = pk.load(folder)
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["created_at"].to_list() == [
        dt.date(2024, 1, 2),
        dt.date(2024, 2, 3),
        dt.date(2024, 3, 5),
    ]
    assert deals["closed_at"].to_list() == [dt.date(2024, 1, 21), dt.date(2024, 3, 4), None]
    assert any("MM/DD" in n and "certain" in n for n in ds.notes)


def test_undecided_slash_dates_need_date_order_and_the_fix_says_so(tmp_path):
    lines = ["D1,Ana,EMEA,100,1/2/2024,Won,won,2/3/2024", "D2,Ben,EMEA,200,3/4/2024,Proposal,open,"]
    ds = pk.load(_folder(tmp_path, lines))
    assert ds.deals.height == 0
    fix = _fix(ds, "created_at|dtype")
    assert "date_order='month'" in fix and "pipeline-kit inspect deals.csv" in fix
    day = pk.load(_folder(tmp_path, lines), date_order="day")
    assert day.deals.sort("deal_id")["created_at"].to_list() == [
        dt.date(2024, 2, 1),
        dt.date(2024, 4, 3),
    ]
    assert day.deals.sort("deal_id")["closed_at"].to_list() == [dt.date(2024, 3, 2), None]
    assert any("either way" in n and "day first" in n for n in day.notes)


def test_a_slash_date_typed_among_iso_dates_is_not_guessed(tmp_path):
    ds = pk.load(
        _folder(
            tmp_path,
            ["D1,Ana,EMEA,100,2024-01-02,Proposal,open,", "D2,Ana,EMEA,100,31/12/2024,Won,won,"],
        )
    )
    assert ds.quarantine.filter(pl.col("source_row") == 3)["rules"][0][0] == "created_at|dtype"


def test_a_decimal_comma_certain_from_the_values_is_read_with_a_note(tmp_path):
    # a German Excel re-saved deals.csv: 1000,50 and 1.234,50 can only be decimal commas,
    # and no amount only a decimal point reads (7 decides nothing)
    lines = [
        "D1;Ana;EMEA;1000,50;2024-01-02;Won;won;2024-01-21",
        "D2;Ben;EMEA;1.234,50;2024-01-03;Lost;lost;2024-01-22",
        "D3;Ana;EMEA;7;2024-01-04;Proposal;open;",
    ]
    ds = pk.load(_folder(tmp_path, lines, sep=";"))
    assert ds.quarantine.height == 0
    assert ds.deals.sort("deal_id")["amount"].to_list() == [1000.5, 1234.5, 7.0]
    assert any("decimal comma" in n and "'1.234,50'" in n for n in ds.notes)
    # the same with the option named: the same amounts
    named = pk.load(_folder(tmp_path, lines, sep=";"), decimal=",")
    assert named.deals.sort("deal_id")["amount"].to_list() == [1000.5, 1234.5, 7.0]
    # decimal='.' says the file writes decimal points: nothing is guessed
    plain = pk.load(_folder(tmp_path, lines, sep=";"), decimal=".")
    assert plain.deals["deal_id"].to_list() == ["D3"]
    assert "decimal=','" in _fix(plain, "amount|dtype")


@pytest.mark.parametrize(
    ("amounts", "expected", "quarantined"),
    [
        # 12.5 only a decimal point reads: the file's convention is not certain, so nothing
        # is guessed and the decimal-comma value is quarantined with the fix naming decimal=','
        (["1000,50", "12.5", "7"], {"D2": 12.5, "D3": 7.0}, ["D1"]),
        # 1,234 could be either: read as written (a thousands comma), no note
        (["1,234", "7", "12"], {"D1": 1234.0, "D2": 7.0, "D3": 12.0}, []),
        # 0,75 and 1 234,50 (a space grouping thousands) only a decimal comma reads
        (["0,75", "1 234,50", "7"], {"D1": 0.75, "D2": 1234.5, "D3": 7.0}, []),
        # ... but beside 100,000 (100 with a decimal comma) nothing is guessed: a typo such
        # as 1,50 in a US file must not divide its amounts by 1000
        (["1,50", "100,000", "2,500"], {"D2": 100000.0, "D3": 2500.0}, ["D1"]),
    ],
)
def test_a_decimal_comma_is_read_only_when_the_values_make_it_certain(
    tmp_path, amounts, expected, quarantined
):
    lines = [
        f"D{i};Ana;EMEA;{a};2024-01-0{i};Won;won;2024-01-2{i}" for i, a in enumerate(amounts, 1)
    ]
    ds = pk.load(_folder(tmp_path, lines, sep=";"))
    assert dict(ds.deals.select("deal_id", "amount").iter_rows()) == expected
    ids = ds.quarantine.filter(pl.col("table") == "deals")["record"].str.extract(r'"(D\d)"')
    assert sorted(ids.to_list()) == quarantined
    assert any("decimal comma" in n for n in ds.notes) == ("0,75" in amounts)


def test_dotted_and_dashed_dates_are_read_when_the_order_is_certain(tmp_path):
    # a German spreadsheet writes 21.01.2024, a Dutch or Indian one 21-01-2024: day first,
    # certain from 21; 02.03.2024 then reads as 2 March
    dotted = _folder(
        tmp_path,
        [
            "D1,Ana,EMEA,100,02.01.2024,Won,won,21.01.2024",
            "D2,Ben,EMEA,200,02.03.2024,Proposal,open,",
        ],
    )
    ds = pk.load(dotted)
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["created_at"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 3, 2)]
    assert deals["closed_at"].to_list() == [dt.date(2024, 1, 21), None]
    assert any("DD.MM.YYYY" in n and "certain" in n for n in ds.notes)
    dashed = pk.load(_folder(tmp_path, ["D1,Ana,EMEA,100,02-01-24,Won,won,21-01-24"]))
    assert dashed.deals["closed_at"].to_list() == [dt.date(2024, 1, 21)]
    assert any("DD-MM-YY" in n for n in dashed.notes)


@pytest.mark.parametrize("option", [{"date_order": "dmy"}, {"decimal": ";"}])
def test_unknown_values_of_the_canonical_reading_options_are_errors(tmp_path, option):
    with pytest.raises(pk.DataError):
        pk.load(_folder(tmp_path, ["D1,Ana,EMEA,1,2024-01-02,Proposal,open,"]), **option)


# ----------------------------------------------------------------------------- finding 7

CURRENCY_LINES = [
    "D1,Ana,EMEA,100,2024-01-02,Won,won,2024-02-01,USD",
    "D2,Ana,EMEA,100,2024-01-02,Won,won,2024-02-01,eur",
    "D3,Ben,EMEA,300,2024-01-02,Won,won,2024-02-01,USD",
]


def test_several_currencies_in_a_canonical_folder_are_never_summed(tmp_path):
    folder = _folder(tmp_path, CURRENCY_LINES, header=HEADER + ",currency")
    ds = pk.load(folder)
    # no rates: the most common currency (USD) is kept, the EUR deal quarantined
    assert ds.deals.sort("deal_id")["deal_id"].to_list() == ["D1", "D3"]
    assert ds.quarantine["rules"].to_list() == [["currency_without_rate"]]
    assert any("2 currencies (EUR, USD)" in n for n in ds.notes)
    # with rates: 100 EUR at 0.5 EUR per USD is 200 USD; 100 + 200 + 300 = 600
    converted = pk.load(folder, rates={"EUR": 0.5}, reporting_currency="USD")
    assert converted.quarantine.height == 0
    assert converted.deals.sort("deal_id")["amount"].to_list() == [100.0, 200.0, 300.0]
    assert converted.deals.sort("deal_id")["currency"].to_list() == ["USD", "EUR", "USD"]
    assert pk.won_deal_size(converted, "all")["total"][0] == 600.0


def test_one_currency_is_unchanged_but_said(tmp_path):
    lines = [line.replace("eur", "USD") for line in CURRENCY_LINES]
    ds = pk.load(_folder(tmp_path, lines, header=HEADER + ",currency"))
    assert ds.deals.sort("deal_id")["amount"].to_list() == [100.0, 100.0, 300.0]
    assert any("every amount is in USD" in n for n in ds.notes)


def test_rates_without_a_currency_column_are_an_error(tmp_path):
    folder = _folder(tmp_path, ["D1,Ana,EMEA,100,2024-01-02,Won,won,2024-02-01"])
    with pytest.raises(pk.DataError, match="no currency column"):
        pk.load(folder, rates={"EUR": 0.5})


def test_a_mapped_currency_column_is_converted_with_the_mapping_rates(tmp_path):
    header = "Deal,Rep,Team,Value,Created,Stage,Outcome,Closed,Currency"
    folder = _folder(tmp_path, CURRENCY_LINES, header=header)
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'rates = { EUR = 0.5 }\nreporting_currency = "USD"\n[deals]\nfile = "deals.csv"\n'
        '[deals.columns]\ndeal_id = "Deal"\nowner = "Rep"\nteam = "Team"\namount = "Value"\n'
        'created_at = "Created"\nstage = "Stage"\nstatus = "Outcome"\nclosed_at = "Closed"\n'
    )
    ds = pk.load(folder, mapping=mapping)
    assert ds.deals.sort("deal_id")["amount"].to_list() == [100.0, 200.0, 300.0]
    assert any("converted to USD" in n for n in ds.notes)
    unconverted = pk.load(
        folder,
        mapping={
            "deals": {
                "file": "deals.csv",
                "columns": {
                    "deal_id": "Deal",
                    "owner": "Rep",
                    "team": "Team",
                    "amount": "Value",
                    "created_at": "Created",
                    "stage": "Stage",
                    "status": "Outcome",
                    "closed_at": "Closed",
                },
            }
        },
    )
    assert unconverted.deals["deal_id"].sort().to_list() == ["D1", "D3"]


def _frame_deals() -> pl.DataFrame:
    """Three won deals as a DataFrame: 100 USD, 200 EUR, 50 USD (typed amounts and dates)."""
    return pl.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3"],
            "owner": ["ann"] * 3,
            "team": ["red"] * 3,
            "amount": [100.0, 200.0, 50.0],
            "created_at": [dt.date(2024, 1, 2)] * 3,
            "stage": ["Won"] * 3,
            "status": ["won"] * 3,
            "closed_at": [dt.date(2024, 2, 1)] * 3,
            "currency": ["USD", "EUR", "USD"],
        }
    )


def test_rates_for_dataframes_convert_as_for_files():
    """pk.load(df, rates=...) converts a DataFrame's amounts as a file's (it was an error):
    200 EUR at 0.5 EUR per USD is 400 USD."""
    ds = pk.load({"deals": _frame_deals()}, rates={"EUR": 0.5}, reporting_currency="USD")
    assert ds.quarantine.height == 0
    assert dict(ds.deals.select("deal_id", "amount").iter_rows()) == {
        "D1": 100.0,
        "D2": 400.0,
        "D3": 50.0,
    }
    assert "<DataFrame 'deals'>: amounts converted to USD with 2 rate(s) (EUR 0.5, USD 1)" in (
        " ".join(ds.notes)
    )


def test_a_dataframe_in_several_currencies_without_rates_is_never_summed():
    """Without rates the most common currency is kept, the other deals quarantined (the
    amounts of a DataFrame were summed raw: 350 'dollars' of USD and EUR)."""
    ds = pk.load({"deals": _frame_deals()})
    assert sorted(ds.deals["deal_id"]) == ["D1", "D3"]
    assert ds.quarantine.select("source_row", "rules").rows() == [(2, ["currency_without_rate"])]


# ----------------------------------------------------------------------------- finding 4

ZOHO = """Deal Id,Deal Owner,Team,Amount,Created Time,Stage,Expected Close Date
Z1,Ana,EMEA,100,2024-01-02,Closed Won,2024-02-01
Z2,Ben,EMEA,200,2024-01-03,Closed Lost,2024-02-05
Z3,Ana,EMEA,300,2024-01-04,Negotiation,2024-06-30
"""
ZOHO_COLUMNS = {
    "deal_id": "Deal Id",
    "owner": "Deal Owner",
    "team": "Team",
    "amount": "Amount",
    "created_at": "Created Time",
    "stage": "Stage",
    "status": "Stage",
}
ZOHO_STATUS = {"Closed Won": "won", "Closed Lost": "lost", "*": "open"}


@pytest.mark.parametrize("also_expected", [False, True])
def test_one_close_date_column_is_closed_at_of_closed_deals_and_expected_close_of_open_ones(
    tmp_path, also_expected
):
    (tmp_path / "zoho.csv").write_text(ZOHO)
    columns = {**ZOHO_COLUMNS, "closed_at": "Expected Close Date"}
    if also_expected:
        columns["expected_close"] = "Expected Close Date"
    mapping = {"deals": {"columns": columns, "values": {"status": ZOHO_STATUS}}}
    ds = pk.load(tmp_path / "zoho.csv", mapping=mapping)
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["status"].to_list() == ["won", "lost", "open"]
    assert deals["closed_at"].to_list() == [dt.date(2024, 2, 1), dt.date(2024, 2, 5), None]
    expected = [dt.date(2024, 2, 1), dt.date(2024, 2, 5)] if also_expected else [None, None]
    assert deals["expected_close"].to_list() == [*expected, dt.date(2024, 6, 30)]
    assert any("read as expected_close for the 1 open deal(s)" in n for n in ds.notes)
    assert pk.open_pipeline(ds, "latest")["open_deals"].sum() == 1


def test_inspect_maps_a_single_close_date_to_closed_at(tmp_path):
    from pipeline_kit.adapters.mapping import draft_mapping

    (tmp_path / "zoho.csv").write_text(ZOHO)
    text, said = draft_mapping(tmp_path / "zoho.csv")
    assert 'closed_at = "Expected Close Date"' in text
    assert "expected_close =" not in text
    assert any("mapped to closed_at" in s for s in said)
    (tmp_path / "m.toml").write_text(text)
    ds = pk.load(tmp_path / "zoho.csv", mapping=tmp_path / "m.toml")
    assert ds.quarantine.height == 0 and ds.deals.height == 3


def test_a_close_date_mapped_to_expected_close_alone_gets_a_fix_naming_closed_at(tmp_path):
    (tmp_path / "zoho.csv").write_text(ZOHO)
    columns = {**ZOHO_COLUMNS, "expected_close": "Expected Close Date"}
    mapping = {"deals": {"columns": columns, "values": {"status": ZOHO_STATUS}}}
    ds = pk.load(tmp_path / "zoho.csv", mapping=mapping)
    assert "map it to closed_at instead" in _fix(ds, "closed_deal_has_closed_at")


# ----------------------------------------------------------------------------- finding 12


def test_excel_serial_dates_in_a_canonical_folder(tmp_path):
    # 45292 is 2024-01-01 (days since 1899-12-30); 45323 = 45292 + 31 is 2024-02-01
    ds = pk.load(
        _folder(
            tmp_path,
            ["D1,Ana,EMEA,100,45292,Won,won,45323", "D2,Ben,EMEA,200,45293,Proposal,open,"],
        )
    )
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["created_at"].to_list() == [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    assert deals["closed_at"].to_list() == [dt.date(2024, 2, 1), None]
    assert any("Excel serial dates" in n and "created_at" in n for n in ds.notes)


@pytest.mark.parametrize(
    "created",
    [
        ["45292", "2024-01-02"],  # mixed with ISO: not a re-saved column
        ["12345", "12346"],  # 1933: outside 20000-80000
    ],
)
def test_numbers_that_are_not_a_column_of_serial_dates_are_not_read(tmp_path, created):
    lines = [f"D{i},Ana,EMEA,100,{c},Proposal,open," for i, c in enumerate(created)]
    ds = pk.load(_folder(tmp_path, lines))
    assert ds.quarantine.filter(pl.col("rules").list.contains("created_at|dtype")).height >= 1
    assert not any("Excel serial" in n for n in ds.notes)


def _mapped(tmp_path: Path, created: list[str], **settings: object) -> pk.Dataset:
    lines = ["Id,Rep,Team,Value,Created,Stage,Outcome"]
    lines += [f"M{i},Ana,EMEA,100,{c},Proposal,open" for i, c in enumerate(created)]
    (tmp_path / "crm.csv").write_text("\n".join(lines) + "\n")
    columns = {"deal_id": "Id", "owner": "Rep", "team": "Team", "amount": "Value"}
    columns |= {"created_at": "Created", "stage": "Stage", "status": "Outcome"}
    return pk.load(tmp_path / "crm.csv", mapping={**settings, "deals": {"columns": columns}})


def test_excel_serial_dates_in_a_mapped_export(tmp_path):
    ds = _mapped(tmp_path, ["45292", "45293"])
    assert ds.deals.sort("deal_id")["created_at"].to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 2),
    ]
    assert any("Excel serial dates" in n for n in ds.notes)
    # a column mixing serials and other dates: only date_format = "excel" reads the serials
    mixed = ["45292", "02/01/2024"]
    assert _mapped(tmp_path, mixed).deals.height == 0
    forced = _mapped(tmp_path, mixed, date_format=["excel", "%d/%m/%Y"])
    assert forced.deals.sort("deal_id")["created_at"].to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 2),
    ]


def test_inspect_recognises_excel_serial_dates(tmp_path):
    from pipeline_kit.adapters.mapping import draft_mapping

    _mapped(tmp_path, ["45292", "45293"])
    text, said = draft_mapping(tmp_path / "crm.csv")
    assert "date_format" not in text
    assert any("Excel serial day numbers" in s for s in said)
    assert not any("no date format found" in s for s in said)


# ----------------------------------------------------------------------------- finding 16


def test_year_first_slash_dates_without_padding_are_read():
    from pipeline_kit.adapters._tools import normalise_dates

    notes: list[str] = []
    frame = pl.DataFrame({"d": ["2024/1/31", "2024/12/5 9:05", "2024-02-01"]})
    out = normalise_dates(frame, ["d"], notes, file="x.csv")
    assert out["d"].to_list() == ["2024-01-31 00:00:00", "2024-12-05 09:05:00", "2024-02-01"]
    assert any("2024/1/31" in n and "year/month/day" in n for n in notes)


ZH = """商机编号,销售员,团队,金额,创建日期,阶段,状态,成交日期
C1,王芳,华南,100.5,2024/1/5,谈判,赢单,2024/2/1
C2,李雷,华南,200,2024/1/6,谈判,进行中,
"""


# headers no alias knows (ZH's are known since the sixth session)
ZH_UNKNOWN = ZH.replace(
    "商机编号,销售员,团队,金额,创建日期,阶段,状态,成交日期", "甲,乙,丙,丁,戊,己,庚,辛"
)


def test_inspect_drafts_a_skeleton_for_headers_it_does_not_know(tmp_path):
    from pipeline_kit.adapters.mapping import draft_mapping

    (tmp_path / "export.csv").write_text(ZH_UNKNOWN)
    text, said = draft_mapping(tmp_path / "export.csv")
    assert "[deals]" in text and "[deals.columns]" in text
    for column in ("deal_id", "owner", "team", "amount", "created_at", "stage", "status"):
        assert f'# {column} = "?"' in text
    assert 'date_format = "%Y/%m/%d"' in text and "AMBIGUOUS" not in text
    assert any("skeleton" in s for s in said)
    # filled in by hand without date_format: 2024/1/5 is read (year first)
    mapping = {
        "deals": {
            "columns": dict(
                zip(
                    ["deal_id", "owner", "team", "amount", "created_at", "stage", "status"],
                    ["甲", "乙", "丙", "丁", "戊", "己", "庚"],
                    strict=True,
                ),
                closed_at="辛",
            ),
            "values": {"status": {"赢单": "won", "进行中": "open"}},
        }
    }
    ds = pk.load(tmp_path / "export.csv", mapping=mapping)
    assert ds.quarantine.height == 0
    assert ds.deals.sort("deal_id")["created_at"].to_list() == [
        dt.date(2024, 1, 5),
        dt.date(2024, 1, 6),
    ]
    assert ds.deals.sort("deal_id")["closed_at"].to_list() == [dt.date(2024, 2, 1), None]


def test_inspect_knows_malay_headers_and_status_words(tmp_path):
    from pipeline_kit.adapters.mapping import draft_mapping

    (tmp_path / "export.csv").write_text(
        "ID Urusniaga,Wakil Jualan,Pasukan,Jumlah (RM),Tarikh Dicipta,Peringkat,Status,"
        "Tarikh Ditutup\n"
        "M1,Aminah,KL,100,2024-01-05,Rundingan,Menang,2024-02-01\n"
        "M2,Ali,KL,200,2024-01-06,Rundingan,Terbuka,\n"
        "M3,Ali,KL,300,2024-01-07,Rundingan,Kalah,2024-02-02\n"
    )
    text, _ = draft_mapping(tmp_path / "export.csv")
    assert '= "?"' not in text
    assert '"Menang" = "won"' in text and '"Kalah" = "lost"' in text
    (tmp_path / "m.toml").write_text(text)
    ds = pk.load(tmp_path / "export.csv", mapping=tmp_path / "m.toml")
    assert ds.quarantine.height == 0
    assert sorted(ds.deals["status"].to_list()) == ["lost", "open", "won"]


def test_inspect_drafts_chinese_crm_headers_simplified_and_traditional(tmp_path):
    """Chinese headers squashed to nothing (ASCII letters alone) and matched no alias: the
    draft was an empty skeleton. They are drafted now, each line for the user to check; a
    load without the mapping still reads no Chinese header by itself."""
    from pipeline_kit.adapters.mapping import draft_mapping

    expected = {
        "deal_id": "商机编号",
        "owner": "销售员",
        "team": "团队",
        "amount": "金额",
        "created_at": "创建日期",
        "stage": "阶段",
        "status": "状态",
        "closed_at": "成交日期",
    }
    (tmp_path / "export.csv").write_text(ZH)
    text, said = draft_mapping(tmp_path / "export.csv")
    for column, header in expected.items():
        assert f'{column} = "{header}"' in text
    assert '"赢单" = "won"' in text and '"进行中" = "open"' in text
    assert any("7 of its 7 required columns found by name" in s for s in said)
    (tmp_path / "m.toml").write_text(text)
    ds = pk.load(tmp_path / "export.csv", mapping=tmp_path / "m.toml")
    assert ds.quarantine.height == 0
    assert dict(ds.deals.select("deal_id", "amount").iter_rows()) == {"C1": 100.5, "C2": 200.0}
    with pytest.raises(pk.DataError):  # (no mapping: the Chinese headers are not read)
        pk.load({"deals": pl.read_csv(ZH.encode())})

    traditional = (
        "商機名稱,負責人,銷售團隊,金額（元）,建立日期,銷售階段,狀態,結單日期\n"
        "C1,王芳,華南,100.5,2024/1/5,談判,贏單,2024/2/1\n"
    )
    (tmp_path / "zh_hant.csv").write_text(traditional)
    text, said = draft_mapping(tmp_path / "zh_hant.csv")
    drafted = {
        "owner": "負責人",
        "team": "銷售團隊",
        "amount": "金額（元）",
        "created_at": "建立日期",
        "stage": "銷售階段",
        "status": "狀態",
        "closed_at": "結單日期",
    }
    for column, header in drafted.items():
        assert f'{column} = "{header}"' in text
    # a deal's name is no id: proposed as a guess, and said to be one
    assert 'deal_id = "商機名稱"  # a guess: no deal_id column' in text
    assert any("deal_id: no such column; '商機名稱' proposed: check" in s for s in said)


def test_inspect_knows_more_malay_headers(tmp_path):
    from pipeline_kit.adapters.mapping import draft_mapping

    (tmp_path / "export.csv").write_text(
        "No Urusniaga,Pemilik,Pasukan Jualan,Nilai,Tarikh Cipta,Peringkat Urusniaga,"
        "Status Urusniaga,Tarikh Tutup,Kebarangkalian,Sebab Kalah\n"
        "M1,Aminah,KL,100,2024-01-05,Rundingan,Menang,2024-02-01,100,\n"
    )
    text, _ = draft_mapping(tmp_path / "export.csv")
    for column, header in {
        "deal_id": "No Urusniaga",
        "owner": "Pemilik",
        "team": "Pasukan Jualan",
        "amount": "Nilai",
        "created_at": "Tarikh Cipta",
        "stage": "Peringkat Urusniaga",
        "status": "Status Urusniaga",
        "closed_at": "Tarikh Tutup",
        "probability": "Kebarangkalian",
        "lost_reason": "Sebab Kalah",
    }.items():
        assert f'{column} = "{header}"' in text


def test_status_written_in_words_is_read_with_a_note(tmp_path):
    # a hand-kept sheet's status column: CRM words, not open/won/lost; 'Closed' alone says
    # neither won nor lost and is quarantined as written
    lines = [
        "D1,Ana,EMEA,100,2024-01-02,Won,Closed Won,2024-01-21",
        "D2,Ben,EMEA,200,2024-01-03,Lost,Closed Lost,2024-01-22",
        "D3,Ana,EMEA,300,2024-01-04,Proposal,In Progress,",
        "D4,Ana,EMEA,400,2024-01-05,Won,WON,2024-01-23",
        "D5,Ben,EMEA,500,2024-01-06,Won,Closed Won,2024-01-24",
        "D6,Ben,EMEA,600,2024-01-07,Won,Closed,2024-01-25",
    ]
    ds = pk.load(_folder(tmp_path, lines))
    status = dict(ds.deals.select("deal_id", "status").iter_rows())
    assert status == {"D1": "won", "D2": "lost", "D3": "open", "D4": "won", "D5": "won"}
    assert ds.quarantine.select("source_row", "rules").rows() == [(7, ["status|dtype"])]
    note = next(n for n in ds.notes if "status written in words" in n)
    assert "'Closed Won' -> won (2 row(s))" in note and "'In Progress' -> open (1 row(s))" in note
    assert "'Closed Lost' -> lost (1 row(s))" in note and "WON" not in note
    assert "[deals.values.status]" in _fix(ds, "status|dtype")
    # 3 won of 4 closed deals read
    assert pk.win_rate(ds, "2024-Q1")["win_rate"].to_list() == [3 / 4]
