"""pk.load from a database: an embedded DuckDB file and a throwaway PostgreSQL cluster.

Both are built from the bundled sample's CSVs; the figures must equal those of loading the
CSV folder, and the deal counts under a date filter equal a count written by hand in SQL
over the CSV itself.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.database import is_database_uri, redact
from pipeline_kit.cli import main
from tests.conftest import ROOT, SAMPLE

duckdb = pytest.importorskip("duckdb", reason="duckdb (pipeline_kit[db]) is not installed")

TABLES = ("deals", "stage_history", "stages")
FIVETRAN = ROOT / "tests" / "fixtures" / "salesforce_fivetran"


def _same_figures(db: pk.Dataset, csv: pk.Dataset) -> None:
    for period in ("2025-Q3", "2025-Q4"):
        rates = pk.win_rate(db, period, by="team")
        # the interval allows for the deals' accounts: account_id came through, and the design
        # effect (computed on the loaded deals as for the CSV) is the same to the last bit
        assert rates["design_effect"].null_count() == 0
        assert rates.equals(pk.win_rate(csv, period, by="team"))
    for day in ("2025-06-30", "2025-12-31"):
        assert pk.open_pipeline(db, day, by="team").equals(pk.open_pipeline(csv, day, by="team"))


@pytest.fixture(scope="module")
def csv_sample(tmp_path_factory) -> pk.Dataset:
    folder = tmp_path_factory.mktemp("csv")
    for table in TABLES:
        shutil.copy(SAMPLE / f"{table}.csv", folder)
    return pk.load(folder)


@pytest.fixture(scope="module")
def duck_file(tmp_path_factory) -> Path:
    """The sample's deals (plus an extra column ``segment``), stages and history, typed by
    DuckDB's CSV reader (dates as DATE, amounts as DOUBLE, flags as BOOLEAN)."""
    file = tmp_path_factory.mktemp("duck") / "crm.db"
    con = duckdb.connect(str(file))
    for table in TABLES:
        con.sql(f"CREATE TABLE {table} AS SELECT * FROM read_csv_auto('{SAMPLE / table}.csv')")
    con.sql("ALTER TABLE deals ADD COLUMN segment VARCHAR DEFAULT 'mid'")
    con.close()
    return file


def test_uri_recognition_and_redaction():
    assert is_database_uri("duckdb:///tmp/x.db")
    assert is_database_uri("postgresql://ann@db:5432/crm")
    assert is_database_uri("postgres://ann@db/crm")
    assert not is_database_uri("data/sample")
    assert not is_database_uri(Path("duckdb:/x"))
    assert redact("postgresql://ann:s3cret@db:5432/crm") == "postgresql://ann:***@db:5432/crm"
    assert redact("postgresql://ann@db/crm") == "postgresql://ann@db/crm"


def test_duckdb_gives_the_csv_figures(duck_file, csv_sample):
    ds = pk.load(f"duckdb://{duck_file}")
    assert ds.deals.height == 5000  # data/sample/deals.csv has 5,000 rows
    assert ds.quarantine.height == 0
    assert "segment" in ds.deals.columns  # extra columns are read by default
    assert ds.counts["file"][0] == f"duckdb://{duck_file} table deals"
    _same_figures(ds, csv_sample)


def test_duckdb_column_pruning(duck_file):
    canonical = pk.load(f"duckdb://{duck_file}", columns="canonical")
    assert "segment" not in canonical.deals.columns
    assert any("1 column(s) not read" in n and "segment" in n for n in canonical.notes)
    asked = pk.load(f"duckdb://{duck_file}", columns=["segment"])
    assert asked.deals["segment"].unique().to_list() == ["mid"]
    assert (
        pk.win_rate(asked, "2025-Q4", by="segment")["n"].to_list()
        == pk.win_rate(canonical, "2025-Q4")["n"].to_list()
    )


def test_duckdb_period_filter_is_pushed_down(duck_file, csv_sample):
    ds = pk.load(f"duckdb://{duck_file}", period="2025-Q4", columns="canonical")
    # independent count, by SQL over the CSV: deals open or closed on/after 2025-10-01 and
    # created by 2025-12-31
    expected = duckdb.sql(
        f"SELECT count(*) FROM read_csv_auto('{SAMPLE}/deals.csv') WHERE "
        "(closed_at IS NULL OR closed_at >= DATE '2025-10-01') "
        "AND created_at <= DATE '2025-12-31'"
    ).fetchall()[0][0]
    assert 0 < expected < 5000
    assert ds.deals.height == expected
    assert ds.quarantine.height == 0  # the history of left-out deals is left out too
    assert pk.win_rate(ds, "2025-Q4", by="team").equals(
        pk.win_rate(csv_sample, "2025-Q4", by="team")
    )
    assert any("since=2025-10-01 until=2025-12-31" in n for n in ds.notes)


def test_duckdb_sql_sent(duck_file, monkeypatch):
    """Pruning and the filter are in the SQL the database runs, not applied afterwards."""
    from pipeline_kit.adapters import database

    sent: list[str] = []
    query = database._Connection.query

    def spy(self, sql):
        sent.append(sql)
        return query(self, sql)

    monkeypatch.setattr(database._Connection, "query", spy)
    pk.load(f"duckdb://{duck_file}", columns="canonical", since="2025-10-01")
    deals = next(q for q in sent if 'FROM "main"."deals"' in q and q.startswith("SELECT"))
    history = next(q for q in sent if 'FROM "main"."stage_history"' in q)
    assert '"segment"' not in deals and '"deal_id"' in deals
    assert deals.endswith("""WHERE ("closed_at" IS NULL OR "closed_at" >= DATE '2025-10-01')""")
    assert 'IN (SELECT "deal_id" FROM "main"."deals" WHERE' in history


def test_duckdb_errors(tmp_path, duck_file, monkeypatch):
    with pytest.raises(pk.DataError, match="does not exist"):
        pk.load(f"duckdb://{tmp_path}/none.db")
    with pytest.raises(pk.DataError, match="no deals table"):
        pk.load(f"duckdb://{duck_file}", schema="nothing_here")
    with pytest.raises(pk.DataError, match="since"):
        pk.load(f"duckdb://{duck_file}", since="31/12/2025")
    with pytest.raises(pk.DataError, match="not understood"):
        pk.load(f"duckdb://{duck_file}", columns="needed")
    with pytest.raises(pk.DataError, match="no table has segmnt"):
        pk.load(f"duckdb://{duck_file}", columns=["segmnt"])
    with pytest.raises(pk.DataError, match="canonical tables"):
        pk.load(f"duckdb://{duck_file}", source="hubspot", since="2025-01-01")
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if the [db] extra were missing
    with pytest.raises(pk.DataError, match=r"pipeline_kit\[db\]"):
        pk.load(f"duckdb://{duck_file}")


def test_duckdb_fivetran_salesforce_schema(tmp_path):
    """Fivetran's Salesforce tables in a schema read as the same files do."""
    file = tmp_path / "warehouse.db"
    con = duckdb.connect(str(file))
    con.sql("CREATE SCHEMA salesforce")
    for name in ("opportunity", "opportunity_history", "user", "user_role"):
        csv = FIVETRAN / f"sf_{name}_data.csv"
        con.sql(f"CREATE TABLE salesforce.{name} AS SELECT * FROM read_csv_auto('{csv}')")
    con.sql("CREATE TABLE salesforce.campaign AS SELECT 1 AS id")  # not read
    con.close()
    db = pk.load(f"duckdb://{file}", source="salesforce", schema="salesforce")
    files = pk.load(FIVETRAN, source="salesforce")
    # the fixture: 6 opportunity rows, 3 left out (a History Mode version, 2 deleted)
    assert db.counts.select("table", "read", "valid", "excluded").rows() == [
        ("deals", 6, 3, 3),
        ("stage_history", 7, 6, 1),
    ]
    columns = [c for c in files.deals.columns if c != "source_row"]
    assert (
        db.deals.select(columns).sort("deal_id").equals(files.deals.select(columns).sort("deal_id"))
    )
    assert not any("campaign" in n for n in db.notes)
    assert not any("pipeline_kit_db_" in n for n in db.notes)  # no temporary path shown


def test_cli_reads_a_duckdb_uri(duck_file, capsys):
    code = main(["validate", "--data", f"duckdb://{duck_file}", "--option", "since=2025-10-01"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"Read from duckdb://{duck_file} (schema main)" in out
    assert "since=2025-10-01" in out


# ------------------------------------------------------------------------------ PostgreSQL


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    return Path(which).resolve().parent if which else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway cluster on a Unix socket in a temporary folder; yields its URI."""
    pytest.importorskip(
        "adbc_driver_postgresql", reason="adbc-driver-postgresql (pipeline_kit[db]) missing"
    )
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: postgres cannot be started")
        run_as = ["runuser", "-u", "nobody", "--"]
    folder = Path(tempfile.mkdtemp(prefix="pkpg"))  # short: a socket path has 107 bytes
    if run_as:
        shutil.chown(folder, "nobody")
    data = folder / "data"
    port = "54329"
    try:
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "pk",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-o",
                f"-k {folder} -c listen_addresses='' -p {port} -F",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL cluster: {exc}")
    # trust authentication: the password is ignored by the server, but must never be shown
    uri = f"postgresql://pk:s3cret-pw@/postgres?host={folder}&port={port}"
    try:
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(f"postgresql:///postgres?host={folder}&port={port}&user=pk") as con:
            with con.cursor() as cur:
                for table in TABLES:
                    frame = pl.read_csv(SAMPLE / f"{table}.csv", try_parse_dates=True)
                    cur.adbc_ingest(table, frame.to_arrow(), mode="create")
                # PostgreSQL's own types: NUMERIC (an Arrow extension type over text in ADBC),
                # timestamptz, boolean
                cur.execute("CREATE SCHEMA typed")
                cur.execute(
                    "CREATE TABLE typed.deals AS SELECT 'D1'::text AS deal_id, 'Ann'::text "
                    "AS owner, 'SMB'::text AS team, 1200.50::numeric(12,2) AS amount, "
                    "timestamptz '2025-01-10 23:30:00-05' AS created_at, 'Won'::text AS stage, "
                    "'won'::text AS status, date '2025-03-01' AS closed_at, true AS strategic"
                )
            con.commit()
        yield uri
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_postgresql_gives_the_csv_figures(postgres, csv_sample):
    ds = pk.load(postgres)
    assert ds.deals.height == 5000
    assert ds.quarantine.height == 0
    _same_figures(ds, csv_sample)
    shown = " ".join([*ds.notes, str(ds.path), *ds.counts["file"].to_list()])
    assert "s3cret-pw" not in shown and "pk:***@" in shown


def test_postgresql_period_filter(postgres, csv_sample):
    ds = pk.load(postgres, since="2025-07-01", columns="canonical")
    expected = duckdb.sql(
        f"SELECT count(*) FROM read_csv_auto('{SAMPLE}/deals.csv') WHERE "
        "closed_at IS NULL OR closed_at >= DATE '2025-07-01'"
    ).fetchall()[0][0]
    assert ds.deals.height == expected < 5000
    assert ds.quarantine.height == 0
    _same_figures(ds, csv_sample)


def test_postgresql_types(postgres):
    ds = pk.load(postgres, schema="typed")
    # 1200.50 as NUMERIC; 23:30 at UTC-5 on 2025-01-10 is 04:30 UTC on 2025-01-11
    assert ds.deals.select("amount", "created_at", "closed_at", "strategic").rows() == [
        (1200.5, dt.date(2025, 1, 11), dt.date(2025, 3, 1), True)
    ]
    assert ds.quarantine.height == 0


def test_postgresql_bad_password_is_not_shown():
    pytest.importorskip("adbc_driver_postgresql")
    with pytest.raises(pk.DataError) as info:
        pk.load("postgresql://ann:s3cret-pw@127.0.0.1:1/crm?connect_timeout=2")
    assert "s3cret-pw" not in str(info.value)
    assert "ann:***@127.0.0.1:1" in str(info.value)


def test_reports_refuse_a_uri_holding_a_password(tmp_path):
    from pipeline_kit.reports import run_reports

    with pytest.raises(pk.DataError, match="PGPASSWORD") as info:
        run_reports("postgresql://ann:s3cret-pw@127.0.0.1:1/crm", "2025-Q4", tmp_path)
    assert "s3cret-pw" not in str(info.value)
