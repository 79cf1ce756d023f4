"""Which known export a path holds, when no source is named (``source="auto"``, the default).

A folder with a ``deals`` (or ``leads``) table file, or a file with the canonical deals
columns, is canonical, as it always was. Otherwise the path is compared with the shapes the
adapters read, by file names and header lines only (nothing else is read):

- ``maven``: a folder holding ``sales_pipeline.csv``;
- ``salesforce``: an ``Opportunity`` file (``Opportunity.csv``, ``sf_opportunity_data.csv``,
  ...) with the API's ``StageName``, a file of any name with ``StageName`` beside ``IsWon`` or
  ``IsClosed`` (a Data Loader export), or a report (any file name) with ``Stage`` and an
  ``Amount`` beside ``Opportunity Name`` or ``Opportunity Owner``;
- ``hubspot``: a Deals export (a header with ``Record ID`` or ``Deal ID`` and ``Deal Stage``)
  or the API/Fivetran ``deal`` table (``deal.csv``, ``deal_data.csv`` with
  ``deal_pipeline_stage_id``);
- ``pipedrive``: a deals list export (headers written ``Deal - Title``, ``Deal - ID``), or the
  API's ``deals`` table (with ``add_time`` and ``stage_id``).

A folder is claimed when one of its files is (a canonical ``deals`` file with the canonical
columns first makes it canonical).

The load then says in a note which adapter read the export and why (:func:`recognised_note`);
a path two adapters would claim is an error that asks for the source. A path none claims is
read as canonical, whose messages say what is missing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from pipeline_kit.adapters._tools import WORKBOOK_SUFFIXES, sniff_separator, squash
from pipeline_kit.adapters.base import normalise_header
from pipeline_kit.adapters.canonical import SUFFIXES
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import required_columns

__all__ = ["AUTO", "header_of", "recognise", "recognised_note", "resolve_source"]

AUTO = "auto"

# a source's name as its users know it
LABELS = {
    "maven": "Maven CRM",
    "salesforce": "Salesforce",
    "hubspot": "HubSpot",
    "pipedrive": "Pipedrive",
}


def header_of(file: Path) -> list[str]:
    """The column names on a CSV's first line, or a workbook's or Parquet file's columns.

    CSV: UTF-8 (a UTF-16 file by its byte-order mark), the separator read from the line; an
    undecodable byte is replaced, which is enough to recognise ASCII names.
    """
    suffix = file.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        from pipeline_kit.adapters._tools import read_export_file

        try:
            return list(read_export_file(file, [], header_only=True).columns)
        except (DataError, OSError, ValueError):
            return []
    if suffix == ".parquet":
        try:
            return list(pl.read_parquet_schema(file))
        except (OSError, pl.exceptions.PolarsError):
            return []
    if suffix not in (".csv", ".tsv", ".txt"):
        return []
    with file.open("rb") as handle:
        start = handle.read(65536)
    if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = start.decode("utf-16", "replace")
    else:
        text = start.decode("utf-8", "replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text else ""
    return next(csv.reader([first], delimiter=sniff_separator(first)), [])


def _is_canonical_file(header: list[str]) -> bool:
    names = {normalise_header(c) for c in header}
    return set(required_columns("deals")) <= names


def _claims(file: Path) -> list[tuple[str, str]]:
    """(source, evidence) for each adapter that reads this one file (at most one each)."""
    from pipeline_kit.adapters.hubspot import _api_files as hubspot_tables
    from pipeline_kit.adapters.hubspot import is_deals_export_header
    from pipeline_kit.adapters.pipedrive import API_FILES, _is_list_export
    from pipeline_kit.adapters.salesforce import object_of

    header = header_of(file)
    keys = {squash(c) for c in header}
    found: list[str] = []
    # Salesforce: the Opportunity object (API names), or a report (labels), any file name
    report = (
        "stage" in keys
        and bool({"opportunityname", "opportunityowner"} & keys)
        and any(k.startswith("amount") for k in keys)  # (Amount, Amount (converted))
    )
    # (the API's flags name the object whatever the file is called: a Data Loader or
    # Workbench export saved as export.csv or deals.csv)
    api = (
        "stagename" in keys
        and bool({"iswon", "isclosed"} & keys)
        and object_of(file) in (None, "opportunity")  # (not OpportunityHistory's)
    )
    if report or api or (object_of(file) == "opportunity" and "stagename" in keys):
        found.append("salesforce")
    # Pipedrive: the list export ("Deal - Title"; the adapter's own test), or the API's deals
    names_only = pl.DataFrame(schema=dict.fromkeys(dict.fromkeys(header), pl.String))
    api_deals = squash(file.stem) in API_FILES["deals"] and {"addtime", "stageid"} <= keys
    if _is_list_export(names_only) or api_deals:
        found.append("pipedrive")
    # HubSpot: the Deals export (Record ID or Deal ID, and Deal Stage: not Pipedrive's
    # "Deal - ID", "Deal - Stage"), or the API/Fivetran deal table
    export = is_deals_export_header(header)
    api_deal = "deal" in hubspot_tables([file]) and "dealpipelinestageid" in keys
    if (export and "pipedrive" not in found) or api_deal:
        found.append("hubspot")
    return [(source, file.name) for source in found]


def recognise(path: Path) -> tuple[str, str] | None:
    """``(source, evidence)`` of the known export ``path`` holds; None if canonical or unknown.

    ``evidence`` names the file that gave it away. Raises a DataError when two adapters
    claim the path.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "sales_pipeline.csv").write_text("opportunity_id,sales_agent")
    >>> recognise(folder)
    ('maven', 'sales_pipeline.csv')
    >>> _ = (folder / "deals.csv").write_text("deal_id,owner,team,created_at,stage,status")
    >>> recognise(folder) is None  # a canonical deals file: canonical, as always
    True
    """
    if not path.exists():
        return None
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES or _is_canonical_file(header_of(path)):
            return None
        claims = _claims(path)
    else:
        files = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in SUFFIXES
        )
        by_table = {p.stem.lower(): p for p in files}
        if "deals" in by_table and _is_canonical_file(header_of(by_table["deals"])):
            return None
        if "leads" in by_table and "deals" not in by_table:
            return None  # (canonical leads only)
        claims = [("maven", p.name) for p in files if p.name.lower() == "sales_pipeline.csv"]
        for file in files:
            claims += [c for c in _claims(file) if c[0] not in {s for s, _ in claims}]
    sources = sorted({s for s, _ in claims})
    if len(sources) > 1:
        raise DataError(
            problem="the export looks like more than one CRM's: "
            + "; ".join(f"{LABELS[s]} ({e})" for s, e in claims),
            fix="name the one to read: source=... in pk.load, --source on the command line "
            f"({' or '.join(sources)})",
            file=str(path),
        )
    return claims[0] if claims else None


def recognised_note(source: str, evidence: str) -> Message:
    """The note of a load whose source was recognised rather than named."""
    return Message(
        N_(
            "Read as a {crm} export (recognised by {file}). To read it otherwise, name the "
            "source (source=... in pk.load, --source on the command line) or give a mapping."
        ),
        crm=LABELS[source],
        file=evidence,
    )


def resolve_source(path: Path, source: str) -> tuple[str, Message | None]:
    """The source to read ``path`` with, and the note to add when it was recognised."""
    if source != AUTO:
        return source, None
    found = recognise(path)
    if found is None:
        return "canonical", None
    return found[0], recognised_note(*found)
