"""Eleventh-session sweep: CRM exports written in the user's language.

Pipedrive writes its list export's labels as ``<entity> - <field>`` in the user's language
(``Affaire - Valeur``, ``Negócio - Etapa``); HubSpot translates its column labels (``Phase de
la transaction``, ``Etapa do negócio``). The Pipedrive labels below are those of public
scripts that read such exports (French, Portuguese, German) and, for Spanish, unverified
guesses; the HubSpot labels, those such scripts read (French, Portuguese) or guesses.
Every expected value is written by hand from the rows.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters._tools import squash
from pipeline_kit.adapters.mapping import draft_mapping
from pipeline_kit.cli import main

# ----------------------------------------------------------------------------- Pipedrive

PIPEDRIVE_FR = (
    "Affaire - ID;Affaire - Titre;Affaire - Valeur;Affaire - Devise;Affaire - Organisation;"
    "Affaire - Étape;Affaire - Statut;Affaire - Propriétaire;Affaire - Affaire créée;"
    "Affaire - Date de clôture prévue;Affaire - Date de gain;Affaire - Date de perte;"
    "Affaire - Raison de la perte\n"
    "1;Pains;12500.5;EUR;Boulangeries Durand;Proposition;Gagnée;Inès Moreau;"
    "2025-01-05 09:00:00;;2025-02-01 14:05:00;;\n"
    "2;Fours;8000;EUR;Nouvelle Boulangerie;Négociation;Perdue;Hugo Petit;2025-01-06 09:00:00;;;"
    "2025-02-10 10:00:00;Trop cher\n"
    "3;Farine;950;EUR;Moulin;Qualifié;Ouverte;Inès Moreau;2025-01-07 09:00:00;2025-06-30;;;\n"
)

# the header of a Portuguese export, in the order such exports list it
PIPEDRIVE_PT = (
    "Negócio - ID,Negócio - Título,Negócio - Status,Negócio - Valor,Negócio - Moeda de Valor,"
    "Negócio - Organização,Negócio - Proprietário,Negócio - Funil,Negócio - Etapa,"
    "Negócio - Negócio criado em,Negócio - Data de fechamento esperada,Negócio - Ganho em,"
    "Negócio - Data de perda,Negócio - Motivo da perda\n"
    "10,Casa A,Ganho,300000,BRL,Imob A,Ana Souza,Vendas,Proposta enviada,2025-03-01 10:00:00,,"
    "2025-04-02 11:00:00,,\n"
    "11,Casa B,Perdido,150000,BRL,Imob B,Bruno Lima,Vendas,Visita,2025-03-02 10:00:00,,,"
    "2025-04-20 09:30:00,Preço\n"
    "12,Casa C,Aberto,90000,BRL,Imob C,Ana Souza,Vendas,Contato feito,2025-03-03 10:00:00,"
    "2025-07-31,,,\n"
    "13,Casa D,Perdido,70000,BRL,Imob D,Bruno Lima,Vendas,Contato feito,2025-03-04 10:00:00,,,"
    "2025-03-30 09:30:00,Sem resposta\n"
)

PIPEDRIVE_ES = (
    "Trato - ID,Trato - Título,Trato - Valor,Trato - Moneda,Trato - Etapa,Trato - Estado,"
    "Trato - Propietario,Trato - Trato creado,Trato - Trato cerrado el\n"
    "7,Licencias,4200,MXN,Propuesta,Ganado,Lucía Pérez,2025-05-02 08:00:00,2025-06-01 12:00:00\n"
    "8,Soporte,1800,MXN,Contactado,Abierto,Diego Ruiz,2025-05-03 08:00:00,\n"
)


def _read(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return pk.load(path)


def test_a_pipedrive_export_in_french_reads_without_a_mapping(tmp_path):
    """Recognised by "Affaire - ID"; French statuses; won and lost dates as closed_at."""
    ds = _read(tmp_path, "affaires.csv", PIPEDRIVE_FR)
    assert ds.source == "pipedrive"
    got = {
        r["deal_id"]: (r["status"], r["stage"], r["amount"], r["closed_at"], r["owner"])
        for r in ds.deals.to_dicts()
    }
    assert got == {
        "1": ("won", "Won", 12500.5, dt.date(2025, 2, 1), "Inès Moreau"),
        "2": ("lost", "Lost", 8000.0, dt.date(2025, 2, 10), "Hugo Petit"),
        "3": ("open", "Qualifié", 950.0, None, "Inès Moreau"),
    }
    assert ds.deals.filter(pl.col("deal_id") == "3")["expected_close"].to_list() == [
        dt.date(2025, 6, 30)
    ]
    assert ds.deals.filter(pl.col("deal_id") == "2")["lost_reason"].to_list() == ["Trop cher"]
    assert ds.quarantine.height == 0


def test_a_pipedrive_export_in_portuguese_reads_without_a_mapping(tmp_path):
    ds = _read(tmp_path, "negocios.csv", PIPEDRIVE_PT)
    assert ds.source == "pipedrive"
    got = {
        r["deal_id"]: (r["status"], r["amount"], r["closed_at"], r["account_id"])
        for r in ds.deals.to_dicts()
    }
    assert got == {
        "10": ("won", 300000.0, dt.date(2025, 4, 2), "Imob A"),
        "11": ("lost", 150000.0, dt.date(2025, 4, 20), "Imob B"),
        "12": ("open", 90000.0, None, "Imob C"),
        "13": ("lost", 70000.0, dt.date(2025, 3, 30), "Imob D"),
    }
    # the win rate of the closed deals: 1 won of 3 closed
    closed = [r for r in ds.deals.to_dicts() if r["status"] in ("won", "lost")]
    assert sum(r["status"] == "won" for r in closed) / len(closed) == pytest.approx(1 / 3)
    assert set(ds.deals["pipeline"].to_list()) == {"Vendas"}


def test_a_pipedrive_export_in_spanish_reads_without_a_mapping(tmp_path):
    ds = _read(tmp_path, "tratos.csv", PIPEDRIVE_ES)
    got = {
        r["deal_id"]: (r["status"], r["amount"], r["owner"], r["closed_at"])
        for r in ds.deals.to_dicts()
    }
    assert got == {
        "7": ("won", 4200.0, "Lucía Pérez", dt.date(2025, 6, 1)),
        "8": ("open", 1800.0, "Diego Ruiz", None),
    }


def test_an_unknown_pipedrive_status_word_is_quarantined_not_guessed(tmp_path):
    text = PIPEDRIVE_FR.replace(";Ouverte;", ";Peut-être;")
    ds = _read(tmp_path, "affaires.csv", text)
    assert sorted(ds.deals["deal_id"].to_list()) == ["1", "2"]
    assert ds.quarantine.height == 1
    assert ds.quarantine["source_row"].to_list() == [4]


def test_labels_compare_with_or_without_their_accents():
    """A label re-typed without accents (Negocio, Etape) is the same label."""
    assert squash("Negócio - Título") == squash("Negocio - Titulo") == "negociotitulo"
    assert squash("Affaire - Étape") == squash("AFFAIRE - ETAPE")
    assert squash("商机金额") == ""  # (other scripts drop out, as before)


def test_an_unaccented_portuguese_header_still_reads(tmp_path):
    text = PIPEDRIVE_PT.replace("Negócio", "Negocio").replace("Título", "Titulo")
    ds = _read(tmp_path, "negocios.csv", text)
    assert ds.source == "pipedrive"
    assert ds.deals.height == 4


# ----------------------------------------------------------------------------- HubSpot

HUBSPOT_FR = (
    "ID de fiche d'informations,Nom de la transaction,Pipeline,Phase de la transaction,Montant,"
    "Date de fermeture,Propriétaire de la transaction,Date de création\n"
    "101,Acme,Pipeline de ventes,Conclue gagnée,1200,2025-03-02,Marie Dupont,2025-01-10\n"
    "102,Beta,Pipeline de ventes,Conclue perdue,800,2025-03-05,Marie Dupont,2025-01-12\n"
    "103,Gamma,Pipeline de ventes,Rendez-vous programmé,500,2025-05-01,Luc Martin,2025-02-01\n"
)
HUBSPOT_PT = (
    "ID do registro,Nome do negócio,Pipeline,Etapa do negócio,Valor,Data de fechamento,"
    "Proprietário do negócio,Data de criação\n"
    "201,Alfa,Pipeline de vendas,Fechado ganho,5000,2025-06-10,Rita Alves,2025-04-01\n"
    "202,Beta,Pipeline de vendas,Fechado perdido,2500,2025-06-12,Rita Alves,2025-04-02\n"
    "203,Gama,Pipeline de vendas,Fechado ganho,1000,2025-06-20,Paulo Reis,2025-04-03\n"
    "204,Delta,Pipeline de vendas,Reunião agendada,3000,2025-08-01,Paulo Reis,2025-04-04\n"
)
HUBSPOT_ES = (
    "ID de registro,Nombre del negocio,Pipeline,Etapa del negocio,Importe,Fecha de cierre,"
    "Propietario del negocio,Fecha de creación\n"
    "301,Uno,Pipeline de ventas,Cerrado ganado,700,2025-02-01,Eva Gil,2025-01-01\n"
    "302,Dos,Pipeline de ventas,Cerrado perdido,300,2025-02-02,Eva Gil,2025-01-02\n"
)
HUBSPOT_DE = (
    "Datensatz-ID,Deal-Name,Pipeline,Deal-Phase,Betrag,Schließdatum,Deal-Inhaber,"
    "Erstellungsdatum\n"
    "401,Eins,Vertriebspipeline,Abgeschlossen und gewonnen,900,2025-02-01,Jonas Bauer,2025-01-01\n"
    "402,Zwei,Vertriebspipeline,Abgeschlossen und verloren,400,2025-02-02,Jonas Bauer,2025-01-02\n"
    "403,Drei,Vertriebspipeline,Angebot erstellt,100,2025-04-02,Lena Vogel,2025-01-03\n"
)

# file text -> the hand-read (deal_id -> status, amount, closed_at) of the drafted mapping
CASES = {
    "fr": (
        HUBSPOT_FR,
        {
            "101": ("won", 1200.0, dt.date(2025, 3, 2)),
            "102": ("lost", 800.0, dt.date(2025, 3, 5)),
            "103": ("open", 500.0, None),
        },
    ),
    "pt": (
        HUBSPOT_PT,
        {
            "201": ("won", 5000.0, dt.date(2025, 6, 10)),
            "202": ("lost", 2500.0, dt.date(2025, 6, 12)),
            "203": ("won", 1000.0, dt.date(2025, 6, 20)),
            "204": ("open", 3000.0, None),
        },
    ),
    "es": (
        HUBSPOT_ES,
        {"301": ("won", 700.0, dt.date(2025, 2, 1)), "302": ("lost", 300.0, dt.date(2025, 2, 2))},
    ),
    "de": (
        HUBSPOT_DE,
        {
            "401": ("won", 900.0, dt.date(2025, 2, 1)),
            "402": ("lost", 400.0, dt.date(2025, 2, 2)),
            "403": ("open", 100.0, None),
        },
    ),
}


@pytest.mark.parametrize("language", sorted(CASES))
def test_inspect_drafts_a_whole_mapping_for_a_translated_hubspot_export(tmp_path, language):
    """Every required line found: the draft loads as it is, with no ? line to fill."""
    text, expected = CASES[language]
    path = tmp_path / f"hubspot-{language}.csv"
    path.write_text(text, encoding="utf-8")
    draft, _ = draft_mapping(path)
    assert '= "?"' not in "\n".join(
        line for line in draft.splitlines() if not line.lstrip().startswith("#")
    )
    assert not [line for line in draft.splitlines() if line.startswith("# deal_id")]
    (tmp_path / "mapping.toml").write_text(draft, encoding="utf-8")
    ds = pk.load(path, mapping=tmp_path / "mapping.toml")
    got = {r["deal_id"]: (r["status"], r["amount"], r["closed_at"]) for r in ds.deals.to_dicts()}
    assert got == expected
    owners = {r["deal_id"]: r["owner"] for r in ds.deals.to_dicts()}
    assert owners == {row.split(",")[0]: row.split(",")[6] for row in text.splitlines()[1:]}


def test_the_hubspot_error_for_a_translated_export_points_at_inspect(tmp_path, capsys):
    (tmp_path / "hubspot-crm-exports-all-deals-2025-11-28.csv").write_text(
        HUBSPOT_FR, encoding="utf-8"
    )
    assert main(["validate", str(tmp_path), "--source", "hubspot"]) == 2
    err = capsys.readouterr().err
    assert "pipeline-kit inspect" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- decimal comma

# the French export as a spreadsheet set to French saves it: "12 500,50"
PIPEDRIVE_FR_COMMA = PIPEDRIVE_FR.replace(";12500.5;", ";12 500,50;").replace(";950;", ";950,00;")


def test_a_pipedrive_export_with_a_decimal_comma_reads_when_no_value_reads_otherwise(tmp_path):
    ds = _read(tmp_path, "affaires.csv", PIPEDRIVE_FR_COMMA)
    amounts = {r["deal_id"]: r["amount"] for r in ds.deals.to_dicts()}
    assert amounts == {"1": 12500.5, "2": 8000.0, "3": 950.0}
    said = [str(n) for n in ds.notes if "decimal comma" in str(n)]
    assert len(said) == 1 and "Affaire - Valeur" in said[0] and "'12 500,50'" in said[0]


def test_decimal_point_keeps_a_decimal_comma_quarantined_with_its_fix(tmp_path):
    path = tmp_path / "affaires.csv"
    path.write_text(PIPEDRIVE_FR_COMMA, encoding="utf-8")
    ds = pk.load(path, decimal=".")
    assert sorted(ds.deals["deal_id"].to_list()) == ["2"]  # (8 000: no decimal part)
    assert ds.quarantine.height == 2


# two currencies, a spreadsheet set to French: the decimal comma is read before the amounts
# are converted
PIPEDRIVE_FR_COMMA_TWO_CURRENCIES = PIPEDRIVE_FR_COMMA.replace(
    "2;Fours;8000;EUR;", "2;Fours;8 800,00;USD;"
)


def test_a_decimal_comma_in_an_export_of_several_currencies_is_read_then_converted(tmp_path):
    path = tmp_path / "affaires.csv"
    path.write_text(PIPEDRIVE_FR_COMMA_TWO_CURRENCIES, encoding="utf-8")
    # rates: units per reporting unit (EUR): 8 800,00 USD / 1.1 = 8 000 EUR
    ds = pk.load(path, rates={"EUR": 1.0, "USD": 1.1})
    amounts = {r["deal_id"]: r["amount"] for r in ds.deals.to_dicts()}
    assert amounts == pytest.approx({"1": 12500.5, "2": 8000.0, "3": 950.0})
    assert ds.quarantine.height == 0
    assert [n for n in map(str, ds.notes) if "decimal comma" in n]
    # without rates the most common currency (EUR) is kept, still read with its comma, and
    # the USD deal is quarantined for its currency, not for its number
    alone = pk.load(path)
    assert {r["deal_id"]: r["amount"] for r in alone.deals.to_dicts()} == {
        "1": 12500.5,
        "3": 950.0,
    }
    assert alone.quarantine.filter(pl.col("table") == "deals")["rules"].to_list() == [
        ["currency_without_rate"]
    ]


def test_an_ambiguous_comma_is_not_read_as_a_decimal_unasked(tmp_path):
    """1,500 is fifteen hundred or one and a half: unasked, it is not read with a decimal
    comma (every amount would shrink a thousandfold if wrong); decimal=',' reads it so."""
    text = PIPEDRIVE_FR.replace(";12500.5;", ";1,500;").replace(";950;", ";950,25;")
    path = tmp_path / "affaires.csv"
    path.write_text(text, encoding="utf-8")
    unasked = pk.load(path)
    assert {r["deal_id"]: r["amount"] for r in unasked.deals.to_dicts()}["1"] == 1500.0
    assert unasked.quarantine["source_row"].to_list() == [4]  # 950,25
    asked = pk.load(path, decimal=",")
    assert {r["deal_id"]: r["amount"] for r in asked.deals.to_dicts()} == {
        "1": 1.5,
        "2": 8000.0,
        "3": 950.25,
    }


HUBSPOT_EN_COMMA = (
    "Record ID,Deal Name,Pipeline,Deal Stage,Deal owner,Amount,Create Date,Close Date,"
    "Deal Stage Probability\n"
    '1,A,Sales Pipeline,Closed won,Ana,"1.234,50",2025-01-06,2025-02-28,"1,0"\n'
    '2,B,Sales Pipeline,Closed lost,Ben,"800,00",2025-01-08,2025-03-05,0\n'
    '3,C,Sales Pipeline,Contract sent,Ana,"2.000,00",2025-01-09,2025-06-30,"0,9"\n'
)


def test_a_hubspot_export_with_a_decimal_comma(tmp_path):
    path = tmp_path / "hubspot-crm-exports-all-deals-2025-06-02.csv"
    path.write_text(HUBSPOT_EN_COMMA, encoding="utf-8")
    ds = pk.load(path)
    got = {r["deal_id"]: (r["status"], r["amount"]) for r in ds.deals.to_dicts()}
    assert got == {"1": ("won", 1234.5), "2": ("lost", 800.0), "3": ("open", 2000.0)}
    assert ds.deals.filter(pl.col("deal_id") == "3")["probability"].to_list() == [0.9]


SALESFORCE_REPORT_COMMA = (
    "Opportunity Owner,Account Name,Opportunity Name,Stage,Amount,Probability (%),Close Date,"
    "Created Date\n"
    'Marta,Acme,Acme - Platform,Closed Won,"1.234.567,00",100%,15.01.2024,02.11.2023\n'
    'Marta,Globex,Globex - Expansion,Closed Lost,"250.000,00",0%,20.02.2024,01.12.2023\n'
    'Liam,Initech,Initech - Pilot,Negotiation/Review,"80.500,50",75%,30.04.2024,10.01.2024\n'
)


def test_a_salesforce_report_with_a_decimal_comma(tmp_path):
    (tmp_path / "report1706000000000.csv").write_text(SALESFORCE_REPORT_COMMA, encoding="utf-8")
    ds = pk.load(tmp_path, source="salesforce")
    got = {r["stage"]: r["amount"] for r in ds.deals.to_dicts()}
    assert got == {
        "Closed Won": 1234567.0,
        "Closed Lost": 250000.0,
        "Negotiation/Review": 80500.5,
    }
    assert ds.quarantine.height == 0


@pytest.mark.parametrize("source", ["pipedrive", "hubspot", "salesforce"])
def test_an_unknown_decimal_mark_is_one_clear_error(tmp_path, source):
    (tmp_path / "x.csv").write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(pk.DataError, match=r"only ',' or '\.'"):
        pk.load(tmp_path, source=source, decimal=";")


# ----------------------------------------------------------------------------- amount forms


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("(1,200)", "accounting notation for a negative amount"),
        ("1.2K", "abbreviated with a letter"),
        ("$3M", "abbreviated with a letter"),
    ],
)
def test_an_amount_in_a_known_form_is_quarantined_with_its_own_fix(tmp_path, capsys, written, said):
    (tmp_path / "deals.csv").write_text(
        "deal_id,owner,team,amount,created_at,stage,status,closed_at\n"
        f'1,a,t,"{written}",2025-01-01,Won,won,2025-02-01\n'
        "2,a,t,800,2025-01-01,Won,won,2025-02-01\n",
        encoding="utf-8",
    )
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[amount|dtype]" in out and said in out and written in out


def test_a_crm_export_with_an_accounting_negative_gets_the_same_fix(tmp_path, capsys):
    text = PIPEDRIVE_FR.replace(";12500.5;", ";(1 200);")
    (tmp_path / "affaires.csv").write_text(text, encoding="utf-8")
    assert main(["validate", str(tmp_path / "affaires.csv")]) == 0
    out = capsys.readouterr().out
    assert "accounting notation for a negative amount" in out


def test_the_drafter_strips_pipedrives_entity_word_with_or_without_accents():
    from pipeline_kit.adapters.mapping import _header_keys

    assert "valor" in _header_keys("Negócio - Valor")
    assert "valor" in _header_keys("Negocio - Valor")
    assert "etape" in _header_keys("Affaire - Étape")
