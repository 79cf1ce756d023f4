"""Ninth-session export sweep: a Pipedrive export in German, and `inspect`'s word on it.

Pipedrive writes the list export's labels in the user's language ("Deal - Titel", "Deal -
Wert", ...). The German labels are those of Pipedrive's German UI field names, unverified
against a real export (as the Czech ones already accepted).
"""

from __future__ import annotations

import datetime as dt

import pipeline_kit as pk
from pipeline_kit.cli import main

# ----------------------------------------------------------------------------- Pipedrive

PIPEDRIVE_DE = (
    "Deal - ID,Deal - Titel,Deal - Wert,Deal - Währung,Deal - Organisation,Deal - Phase,"
    "Deal - Status,Deal - Besitzer,Deal - Deal erstellt,Deal - Voraussichtliches Abschlussdatum,"
    "Deal - Gewonnen am,Deal - Verloren am,Deal - Grund für den Verlust\n"
    "1,A,1000.50,EUR,Acme,Angebot gemacht,Gewonnen,Ana,2025-01-05 09:00:00,,"
    "2025-02-01 14:05:00,,\n"
    "2,B,250,EUR,Beta,Kontakt hergestellt,Verloren,Ben,2025-01-06 09:00:00,,,"
    "2025-02-10 14:05:00,Preis\n"
    "3,C,80,EUR,Gamma,In Verhandlung,Offen,Ana,2025-01-07 09:00:00,2025-06-30,,,\n"
)


def test_a_pipedrive_export_in_german_reads_without_a_mapping(tmp_path):
    """Pipedrive writes its export's labels in the user's language: a German export was
    recognised (Deal - ID) but stopped with "no column 'Deal - Stage'", while `inspect` said it
    read as it is."""
    (tmp_path / "deals-1-2.csv").write_text(PIPEDRIVE_DE, encoding="utf-8")
    ds = pk.load(tmp_path / "deals-1-2.csv")
    got = {
        r["deal_id"]: (r["status"], r["amount"], r["closed_at"], r["owner"])
        for r in ds.deals.to_dicts()
    }
    assert got == {
        "1": ("won", 1000.5, dt.date(2025, 2, 1), "Ana"),
        "2": ("lost", 250.0, dt.date(2025, 2, 10), "Ben"),
        "3": ("open", 80.0, None, "Ana"),
    }


def test_inspect_does_not_promise_a_read_the_adapter_cannot_do(tmp_path, capsys):
    """A Pipedrive export whose stage label is in a language the adapter does not know."""
    text = PIPEDRIVE_DE.replace("Deal - Phase", "Deal - Etapa")
    (tmp_path / "deals-1-2.csv").write_text(text, encoding="utf-8")
    assert main(["inspect", str(tmp_path / "deals-1-2.csv")]) == 0
    err = capsys.readouterr().err
    assert err.startswith(
        "This looks like a Pipedrive export (recognised by deals-1-2.csv), but the Pipedrive "
        "reader cannot read it: no column 'Deal - Stage'"
    )
    assert "reads it as it is" not in err
