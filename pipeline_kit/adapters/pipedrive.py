"""Pipedrive exports (``source="pipedrive"``): the Deals list export, or the API/connector tables.

``read_pipedrive(path, team=None, reporting_currency=None, rates=None)`` reads a folder holding
EITHER

(a) a **Deals list export** (Deals -> list view -> Export, CSV): one file whose header uses
    Pipedrive's ``Entity - Field`` labels (``Deal - ID``, ``Deal - Stage``, ...), in English,
    German (``Deal - Wert``), French (``Affaire - Valeur``), Portuguese (``Negócio - Etapa``),
    Spanish (``Trato - Valor``) or Czech (``Obchod - Fáze``), with the statuses in those
    languages (``Gagnée``, ``Ganho``, ``Verloren``); accents may be dropped. Its name does not
    matter. ``stages.csv`` and ``pipelines.csv`` from the API may lie beside it: they then give
    the real stage order and the stage probabilities;

(b) the **API / connector tables**, one file each (``.csv`` or ``.parquet``): ``deals``,
    ``stages``, ``pipelines``, ``users``, ``dealflow`` (also ``deal_flow``, ``deals_flow``,
    ``deals_flow_deal_change``, ``deal_changelog``) and ``activities``, with the API v2 names
    (``owner_id``, ``is_deleted``, ``is_archived``) or the v1 names (``user_id``, ``owner_name``,
    ``active``, ``deleted``, ``active_flag``). Without ``deals`` the deals are rebuilt from the
    change log (status, stage, value, owner: the last value logged for each).

====================  ==========================================  ==================================
canonical             list export (a)                             API tables (b)
====================  ==========================================  ==================================
deal_id               Deal - ID                                   deals.id
owner                 Deal - Owner                                owner_id / user_id -> users.name
                                                                  (else owner_name)
team                  the ``team`` option: a column of the deals  same (or a column of users);
                      file when it names one (``Deal - `` prefix  default "All"
                      and case ignored), else a constant;
                      default "All" (Pipedrive has no team)
amount                Deal - Value (+ Deal - Currency / Currency  value (+ currency), converted with
                      of value), converted with ``rates``         ``rates``
created_at            Deal - Deal created                         add_time
status                Deal - Status, lower-cased (open/won/lost)  status
stage                 ``Won`` / ``Lost`` for closed deals, else   same, stage_id -> stages.name
                      Deal - Stage
last_open_stage       Deal - Stage (extra column)                 stage_id -> stages.name
closed_at             Won time / Lost time, else Deal closed on   won_time / lost_time, else
                      (empty for open deals)                      close_time
expected_close        Deal - Expected close date                  expected_close_date
probability           Deal - Probability / 100, else the stage's  probability / 100 (ignored when
                      deal_probability / 100 (stages.csv)         the pipeline has deal probability
                                                                  off), else stage deal_probability
stage_probability     stage deal_probability / 100                same
lost_reason           Deal - Lost reason                          lost_reason
lead_source           Deal - Source (or Source origin/channel)    origin, else channel
account_id            Deal - Organization                         org_id (v1: org_name)
pipeline              Deal - Pipeline (extra column)              pipeline_id -> pipelines.name
is_archived           --                                          is_archived (extra column)
stage_history         derived, approximate (see below)            dealflow rows with
                                                                  field_key = stage_id, + first
                                                                  stage at add_time, + Won/Lost
                                                                  at closed_at
stages                stages.csv order when present, else         stages (order_nr within the
                      derived (see below); + Won, Lost            pipelines' order_nr); + Won, Lost
activities            --                                          activities: occurred_at =
                                                                  marked_as_done_time if done, else
                                                                  due_date + due_time
====================  ==========================================  ==================================

Pipedrive specifics handled here (each also said in the dataset notes):

- **Won and lost are statuses, not stages**: a lost deal keeps showing its last open stage. The
  canonical ``stage`` of a closed deal is the synthetic stage ``Won`` or ``Lost`` (the last two
  rows of ``stages``, ``is_won`` / ``is_lost``); the Pipedrive stage stays in
  ``last_open_stage``.
- **Same stage name in two pipelines**: the canonical stage is ``Name (Pipeline)`` whenever a
  name is used by several pipelines (``Qualified (Sales)``, ``Qualified (Renewals)``).
- **Stage order**: from ``stages.csv`` (pipelines in their ``order_nr``, then each pipeline's
  stages in ``order_nr``). A list export alone has no order: stages are then ordered as the
  loader orders stages it derives (stages whose deals are all closed last, then by name), which
  is not the pipeline's order; a note says so.
- **Stage history**: the list export has none. When it has ``Deal - Last stage change`` the
  adapter writes what that column proves: the current (last open) stage entered on the last
  stage change (on the creation day when the deal never moved); when ``stages.csv`` gives the
  order, the pipeline's first stage entered on the creation day for deals that moved (an
  assumption: a deal can be created in a later stage); and ``Won``/``Lost`` entered on
  ``closed_at``. Intermediate stages are unknown, so the history is marked approximate.
  Without that column no history is written (the loader derives its minimal one). With the
  API's deal flow the history is exact for stage changes: one row per ``stage_id`` change
  (``new_value`` at ``log_time``), the first stage (``old_value`` of the first change, or the
  current stage when the deal never moved) at ``add_time``, and ``Won``/``Lost`` at
  ``closed_at``. Derived rows are numbered after the last line of the change-log file.
- **Deleted deals** (status ``deleted``, ``is_deleted`` / ``deleted`` true) are excluded
  (``deleted_in_crm``), with their change-log rows and activities (``deal_deleted_in_crm``).
  **Archived deals** are kept, flagged in ``is_archived``.
- **Probability** (0-100 in Pipedrive) becomes 0-1. The deal's own probability counts when set
  and the pipeline lets deals override the stage's (``is_deal_probability_enabled``, v1
  ``deal_probability`` / ``pipeline_deal_probability``); otherwise the stage's. Columns
  ``probability``, ``stage_probability`` and ``probability_source`` (deal/stage).
- **Several currencies**: converted with ``rates`` (units of a currency per reporting unit);
  without rates only the most common currency is kept and the other rows are quarantined
  (``currency_without_rate``): amounts in different currencies are never summed.
- Change-log rows for other fields are excluded (``not_a_stage_change``); a second entry into
  the same stage on the same day (a move and its undo) is excluded (``repeated_same_day``),
  since the history keys on the day.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import polars as pl

from pipeline_kit.adapters._tools import (
    WORKBOOK_SUFFIXES,
    SetAsideKind,
    SetAsideLog,
    check_decimal,
    column,
    normalise_dates,
    parse_bool,
    read_decimal_commas,
    read_export_file,
    require_column,
    set_aside,
    squash,
    to_reporting_currency,
    without_repeated_headers,
)
from pipeline_kit.adapters.base import RawDataset, RawTable, fingerprint
from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = ["ENTITY_PREFIX", "read_pipedrive"]

WON, LOST = "Won", "Lost"
_SEP = "\x1f"  # joins pipeline and stage name into one key

RULE_MESSAGES = {
    "deleted_in_crm": (
        N_("deleted in Pipedrive (status deleted, or the deleted flag set)"),
        N_(
            "nothing to do: deleted rows are left out by design (restore it in "
            "Pipedrive if it should count)"
        ),
    ),
    "deal_deleted_in_crm": (
        N_("belongs to a deal deleted in Pipedrive"),
        N_("nothing to do: left out together with its deal"),
    ),
    "not_a_stage_change": (
        N_("a change-log row for another field (value, owner, status, ...), not a stage change"),
        N_("nothing to do: only stage_id changes make the stage history"),
    ),
    "duplicate_stage_name": (
        N_("another stage of the same pipeline has the same name"),
        N_(
            "nothing to do: deals in either stage are counted in the first one "
            "(rename one in Pipedrive to tell them apart)"
        ),
    ),
    "repeated_same_day": (
        N_("the deal entered the same stage again on the same day (a move and its undo)"),
        N_("nothing to do: the first entry of the day is kept"),
    ),
    "product_row": (
        N_(
            "another row of the same deal, for another of its products (the export lists a "
            "deal once per product)"
        ),
        N_("nothing to do: the deal is counted once, from its first row"),
    ),
}
HINTS = {
    ("deals", "stage_unknown"): N_(
        "In Pipedrive, check that stages.csv lists this stage_id (a deleted "
        "stage?), or add stages.csv / pipelines.csv from the API"
    ),
    ("deals", "status|dtype"): N_(
        "Pipedrive statuses are open, won and lost (deleted deals are left out)"
    ),
    ("stage_history", "stage_unknown"): N_("the change log names a stage_id that stages.csv lacks"),
}

# --------------------------------------------------------------------------- column names

# list export: canonical part -> header labels. Pipedrive writes them in the user's language,
# as "<entity> - <field>": each language's entity word and field names are below. Where they
# come from: English, Pipedrive's export; German and Portuguese, the full header lists of
# exports in public code (scripts that read them); French, the labels such scripts read
# (ID, Titre, Valeur, Étape, Statut, Propriétaire, Affaire créée, Date de gain / de perte);
# Spanish, the three labels one importer reads (Título, Valor, Etapa); Czech, a third-party
# importer. The others in each language (marked "guess") are unverified and cost nothing
# when absent. A label is matched without case, spaces or punctuation (column()).
_LABELS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "en": (
        ("Deal",),
        {
            "id": ("ID",),
            "title": ("Title",),
            "value": ("Value",),
            "currency": ("Currency", "Currency of value"),
            "pipeline": ("Pipeline",),
            "stage": ("Stage",),
            "status": ("Status",),
            "owner": ("Owner",),
            "organization": ("Organization",),
            "probability": ("Probability",),
            "expected_close": ("Expected close date",),
            "created": ("Deal created", "Created", "Add time"),
            "closed_on": ("Deal closed on", "Closed on"),
            "won_time": ("Won time",),
            "lost_time": ("Lost time",),
            "lost_reason": ("Lost reason",),
            "last_stage_change": ("Last stage change",),
            "source": ("Source", "Source origin", "Source channel", "Origin", "Channel"),
            "archived": ("Archived", "Is archived"),
        },
    ),
    "de": (
        ("Deal",),
        {
            "id": ("ID",),
            "title": ("Titel",),
            "value": ("Wert",),
            "currency": ("Währung", "Währung des Werts"),
            "pipeline": ("Pipeline",),
            "stage": ("Phase",),
            "status": ("Status",),
            "owner": ("Besitzer", "Inhaber"),
            "organization": ("Organisation",),
            "probability": ("Wahrscheinlichkeit",),
            "expected_close": ("Voraussichtliches Abschlussdatum",),  # guess
            "created": ("Deal erstellt", "Erstellt am"),
            "closed_on": ("Deal abgeschlossen am", "Abgeschlossen am"),
            "won_time": ("Datum des gewonnenen Deals", "Gewonnen am"),
            "lost_time": ("Datum des verlorenen Deals", "Verloren am"),
            "lost_reason": ("Verlustgrund", "Grund für den Verlust"),
            "last_stage_change": ("Letzte Phasenänderung",),
        },
    ),
    "fr": (
        ("Affaire",),
        {
            "id": ("ID",),
            "title": ("Titre",),
            "value": ("Valeur",),
            "currency": ("Devise", "Devise de la valeur"),  # guess
            "pipeline": ("Pipeline",),
            "stage": ("Étape",),
            "status": ("Statut",),
            "owner": ("Propriétaire",),
            "organization": ("Organisation",),
            "probability": ("Probabilité",),  # guess
            "expected_close": ("Date de clôture prévue",),
            "created": ("Affaire créée",),
            "closed_on": ("Affaire conclue le", "Date de clôture"),  # guess
            "won_time": ("Date de gain", "Heure de gain"),
            "lost_time": ("Date de perte", "Heure de l'échec", "Heure de perte"),
            "lost_reason": ("Raison de la perte", "Raison de perte"),
            "last_stage_change": ("Dernier changement d'étape",),  # guess
            "source": ("Source",),
        },
    ),
    "pt": (
        ("Negócio",),
        {
            "id": ("ID",),
            "title": ("Título",),
            "value": ("Valor", "Valor do negócio"),
            "currency": ("Moeda de Valor", "Moeda"),
            "pipeline": ("Funil", "Pipeline"),
            "stage": ("Etapa",),
            "status": ("Status",),
            "owner": ("Proprietário",),
            "organization": ("Organização",),
            "probability": ("Probabilidade",),
            "expected_close": ("Data de fechamento esperada",),
            "created": ("Negócio criado em", "Data de criação do negócio"),
            "closed_on": ("Negócio fechado em",),
            "won_time": ("Ganho em",),
            "lost_time": ("Data de perda",),
            "lost_reason": ("Motivo da perda",),
            "last_stage_change": ("Última alteração de etapa",),
            "source": ("Fonte do Lead", "Fonte"),
        },
    ),
    "es": (
        ("Trato",),
        {
            "id": ("ID",),
            "title": ("Título",),
            "value": ("Valor",),
            "currency": ("Moneda", "Moneda del valor"),  # guess, as every label below
            "pipeline": ("Embudo", "Pipeline"),
            "stage": ("Etapa",),
            "status": ("Estado",),
            "owner": ("Propietario",),
            "organization": ("Organización",),
            "probability": ("Probabilidad",),
            "expected_close": ("Fecha de cierre prevista", "Fecha prevista de cierre"),
            "created": ("Trato creado", "Trato creado el"),
            "closed_on": ("Trato cerrado el",),
            "won_time": ("Fecha de ganado", "Ganado el"),
            "lost_time": ("Fecha de perdido", "Perdido el"),
            "lost_reason": ("Motivo de pérdida", "Motivo de la pérdida"),
            "last_stage_change": ("Último cambio de etapa",),
        },
    ),
    "cs": (
        ("Obchod",),
        {
            "id": ("ID",),
            "title": ("Název", "Nadpis"),
            "value": ("Hodnota",),
            "currency": ("Měna hodnoty", "Měna"),
            "pipeline": ("Pipeline", "Proces"),
            "stage": ("Fáze",),
            "status": ("Stav",),
            "owner": ("Vlastník",),
            "organization": ("Organizace",),
            "probability": ("Pravděpodobnost",),
            "expected_close": ("Očekávané datum uzavření",),
            "created": ("Obchod vytvořen", "Vytvořeno"),
            "closed_on": ("Uzavřeno dne",),
            "won_time": ("Datum výhry",),
            "lost_time": ("Datum prohry",),
            "lost_reason": ("Důvod prohry",),
            "last_stage_change": ("Poslední změna fáze",),
            "source": ("Zdroj",),
        },
    ),
}


def _export_labels() -> dict[str, tuple[str, ...]]:
    """Canonical part -> every language's ``<entity> - <field>`` labels, English first."""
    out: dict[str, list[str]] = {}
    for entities, fields in _LABELS.values():
        for part, names in fields.items():
            out.setdefault(part, []).extend(f"{e} - {n}" for e in entities for n in names)
    # labels without the entity word that exports have been seen with
    out["currency"].append("Currency of value")
    out["organization"].append("Organization - Name")
    return {part: tuple(dict.fromkeys(labels)) for part, labels in out.items()}


EXPORT = _export_labels()
# columns copied into a canonical column; every other export column is kept as an extra
_EXPORT_COPIED = (
    "id",
    "value",
    "currency",
    "pipeline",
    "stage",
    "status",
    "owner",
    "organization",
    "probability",
    "expected_close",
    "created",
    "lost_reason",
    "source",
    "archived",
)
# status words (lower case; English in any case): Portuguese as exports write them (Aberto,
# Ganho, Perdido); the others unverified guesses, as the labels above
_STATUS_WORDS = {
    "offen": "open",
    "gewonnen": "won",
    "verloren": "lost",
    "gelöscht": "deleted",
    "ouvert": "open",
    "ouverte": "open",
    "gagné": "won",
    "gagnée": "won",
    "perdu": "lost",
    "perdue": "lost",
    "supprimé": "deleted",
    "supprimée": "deleted",
    "aberto": "open",
    "ganho": "won",
    "perdido": "lost",
    "excluído": "deleted",
    "abierto": "open",
    "ganado": "won",
    "eliminado": "deleted",
    "aperto": "open",
    "vinto": "won",
    "perso": "lost",
    "eliminato": "deleted",
    "otevřený": "open",
    "otevřeno": "open",
    "vyhraný": "won",
    "vyhráno": "won",
    "prohraný": "lost",
    "prohráno": "lost",
    "smazaný": "deleted",
    "smazáno": "deleted",
}

# API / connector tables: file names (squashed) for each table
API_FILES = {
    "deals": ("deals", "deal"),
    "stages": ("stages", "stage"),
    "pipelines": ("pipelines", "pipeline"),
    "users": ("users", "user"),
    "dealflow": (
        "dealflow",
        "dealsflow",
        "dealflowdealchange",
        "dealsflowdealchange",
        "dealchanges",
        "dealchangelog",
        "dealschangelog",
        "dealchangelogs",
        "changelog",
    ),
    "activities": ("activities", "activity"),
}
_OPTIONAL_CANONICAL = ("industry", "region", "deal_type", "competitor", "product")
_OUTPUT = (
    "deal_id",
    "owner",
    "team",
    "amount",
    "created_at",
    "stage",
    "status",
    "closed_at",
    "account_id",
    "expected_close",
    "probability",
    "lost_reason",
    "lead_source",
    "pipeline",
    "last_open_stage",
    "stage_probability",
    "probability_source",
    "is_archived",
    "amount_original",
    "currency",
)


@dataclass
class _Run:
    """What one read collects: notes, set-aside rows, files used."""

    path: Path
    notes: list[str] = field(default_factory=list)
    log: SetAsideLog = field(default_factory=SetAsideLog)
    used: list[Path] = field(default_factory=list)
    approximate: bool = False

    def aside(
        self,
        frame: pl.DataFrame,
        mask: pl.Expr,
        *,
        table: str,
        file: str,
        kind: SetAsideKind,
        reason: str,
    ) -> pl.DataFrame:
        return self.log.take(frame, mask, table=table, file=file, kind=kind, reason=reason)


# --------------------------------------------------------------------------- entry point


def read_pipedrive(
    path: Path,
    *,
    team: str | None = None,
    reporting_currency: str | None = None,
    rates: dict[str, float] | None = None,
    decimal: str | None = None,
) -> RawDataset:
    """Read a Pipedrive list export or API tables into canonical raw tables (module docstring).

    ``team``: a column of the deals (or, for API tables, of users) holding the team, compared
    without case, punctuation or the ``Deal - `` prefix (``"Sales team"`` is the column
    ``Deal - Sales team``), or else a constant team name (a note names the columns with a close
    name); default ``"All"``. ``rates``: currency -> units per reporting unit
    (``{"USD": 1, "EUR": 0.92}``); ``reporting_currency`` names the reporting currency (its
    rate is 1 when not given). Rates without a reporting currency nor a rate of 1: the one
    currency present without a rate is the reporting currency (noted), else a DataError.
    ``decimal``: ``","`` reads a list export's values written ``12 500,50`` (as a spreadsheet
    set to French or German saves them); unset, they are read so only when no value reads
    otherwise (noted); ``"."`` never.
    """
    check_decimal(decimal)
    path = Path(path)
    if not path.exists():
        raise DataError(
            problem="the data folder does not exist",
            fix="pass the folder that holds the Pipedrive deals export (or the API tables), "
            "or the export file itself",
            file=str(path),
        )
    if (
        rates
        and reporting_currency
        and reporting_currency.upper() not in {k.upper() for k in rates}
    ):
        rates = {**rates, reporting_currency.upper(): 1.0}
    run = _Run(path)
    frames = _read_folder(run)
    exports = [p for p, f in frames.items() if _is_list_export(f)]
    if len(exports) > 1:
        raise DataError(
            problem="several Pipedrive deals exports in one folder: "
            + ", ".join(p.name for p in exports),
            fix="keep one deals export per folder",
            file=str(path),
        )
    api = _api_files(frames, exclude=exports)
    if exports:
        ignored = sorted(api[t][0].name for t in ("deals", "dealflow", "activities") if t in api)
        if ignored:
            run.notes.append(
                Message(
                    N_(
                        "Beside the list export {name}, {names} were not read (one shape per "
                        "folder: put the API tables in a folder of their own)."
                    ),
                    name=str(exports[0].name),
                    names=str(", ".join(ignored)),
                )
            )
        tables = _read_export(
            run,
            exports[0],
            frames[exports[0]],
            api,
            team,
            reporting_currency,
            rates,
            decimal=decimal,
        )
    elif "deals" in api or "dealflow" in api:
        tables = _read_api(run, api, team, reporting_currency, rates)
    else:
        raise DataError(
            problem="no Pipedrive deals export (a CSV with 'Deal - ID', 'Deal - Title', ...) "
            "and no API deals or dealflow table in this folder",
            fix="export the deals list from Pipedrive (Deals -> list view -> Export) into this "
            "folder, or the API tables deals.csv, stages.csv, pipelines.csv, users.csv, "
            "dealflow.csv",
            file=str(path),
            examples=["files found: " + (", ".join(p.name for p in frames) or "none")],
        )
    return RawDataset(
        source="pipedrive",
        path=path,
        tables=tables,
        fingerprint=fingerprint(run.used),
        notes=run.notes,
        hints=dict(HINTS),
        stage_history_approximate=run.approximate,
        setaside=run.log.frames,
        rule_messages=dict(RULE_MESSAGES),
    )


# --------------------------------------------------------------------------- reading


def _read_folder(run: _Run) -> dict[Path, pl.DataFrame]:
    """Every CSV/Parquet file of the folder (or the one file given), as trimmed strings.

    Empty values are null.
    """
    frames: dict[Path, pl.DataFrame] = {}
    for file in [run.path] if run.path.is_file() else sorted(run.path.iterdir()):
        if not file.is_file() or file.suffix.lower() not in (
            ".csv",
            ".parquet",
            *WORKBOOK_SUFFIXES,
        ):
            continue
        frame = read_export_file(file, run.notes)
        text = [c for c in frame.columns if c != "source_row"]
        frames[file] = frame.with_columns(
            pl.col(text).cast(pl.String).str.strip_chars().replace("", None)
        )
    return frames


def _api_files(
    frames: dict[Path, pl.DataFrame], exclude: list[Path]
) -> dict[str, tuple[Path, pl.DataFrame]]:
    found: dict[str, tuple[Path, pl.DataFrame]] = {}
    for file, frame in frames.items():
        if file in exclude:
            continue
        for table, names in API_FILES.items():
            if squash(file.stem) in names:
                if table in found:
                    raise DataError(
                        problem=f"two files for the {table} table: {found[table][0].name} and "
                        f"{file.name}",
                        fix=f"keep one {table} file in the folder",
                        file=str(file.parent),
                    )
                found[table] = (file, frame)
    return found


def _is_list_export(frame: pl.DataFrame) -> bool:
    """A deals list export: ``Deal - ID`` or ``Deal - Title`` (or a Czech label).

    Written with the ``Entity - Field`` dash, so that an API table's ``deal_id`` never passes
    for one.
    """
    labels = [c for c in frame.columns if re.match(r"^\s*\w+\s+-\s+\S", c)]
    return column(frame.select(labels), *EXPORT["id"], *EXPORT["title"]) is not None


def _snake(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_")


def _num(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.replace_all(r"[\s%]", "")
        .str.replace(",", ".", literal=True)
        .cast(pl.Float64, strict=False)
    )


def _text(value: pl.Expr) -> pl.Expr:
    """A float as plain text ("0.5"), null stays null."""
    return value.cast(pl.String)


def _last_line(frame: pl.DataFrame) -> int:
    """The last line number of a file read with its ``source_row`` (an integer column).

    1 when it has no rows.
    """
    return int(cast("int | None", frame["source_row"].max()) or 1)


def _col(frame: pl.DataFrame, *aliases: str) -> pl.Expr:
    """The column under any alias, else a null string column."""
    name = column(frame, *aliases)
    return pl.col(name) if name is not None else pl.lit(None, pl.String)


# --------------------------------------------------------------------------- stages


def _name_stages(catalogue: pl.DataFrame) -> pl.DataFrame:
    """Canonical stage names: ``Name (Pipeline)`` when several pipelines use the name.

    An open stage named Won or Lost gets `` (open stage)`` so it never passes for a closed one.
    """
    name = pl.col("name")
    base = (
        pl.when(name.str.to_lowercase().is_in(["won", "lost"]))
        .then(name + " (open stage)")
        .otherwise(name)
    )
    ambiguous = (pl.col("pipeline").n_unique().over("name") > 1) & pl.col("pipeline").is_not_null()
    return catalogue.with_columns(
        pl.when(ambiguous)
        .then(base + " (" + pl.col("pipeline") + ")")
        .otherwise(base)
        .alias("canonical")
    )


def _api_catalogue(
    run: _Run,
    stages_file: tuple[Path, pl.DataFrame],
    pipelines: tuple[Path, pl.DataFrame] | None,
    referenced: pl.Series,
) -> pl.DataFrame:
    """Stages of stages.csv.

    Columns: key (stage id), name, pipeline, order keys, probability (0-1 as text),
    deal_prob_enabled, source_row. Deleted stages no deal or change refers to are excluded;
    the others are kept (a deal may still sit in a deleted stage).
    """
    file, frame = stages_file
    run.used.append(file)
    label = str(file)
    deleted = parse_bool(_col(frame, "is_deleted", "deleted"), blank=False) | ~parse_bool(
        _col(frame, "active_flag", "active"), blank=True
    )
    stage_id = pl.col(require_column(frame, label, "id", "stage_id"))
    frame = run.aside(
        frame,
        deleted & ~stage_id.is_in(referenced.drop_nulls().implode()),
        table="stages",
        file=label,
        kind="excluded",
        reason="deleted_in_crm",
    )
    kept_deleted = frame.filter(deleted)
    if kept_deleted.height:
        run.notes.append(
            Message(
                N_(
                    "{file}: {stages} deleted stage(s) kept because deals or changes still "
                    "refer to them: {names}."
                ),
                file=file.name,
                stages=str(kept_deleted.height),
                names=", ".join(kept_deleted[require_column(frame, label, "name")].to_list()),
            )
        )
    probability = _num(_col(frame, "deal_probability", "probability"))
    cat = frame.select(
        "source_row",
        stage_id.alias("key"),
        pl.col(require_column(frame, label, "name")).alias("name"),
        _col(frame, "pipeline_id").alias("pipeline_id"),
        _col(frame, "pipeline_name").alias("_pipeline_name"),
        _num(_col(frame, "order_nr", "order")).alias("order_nr"),
        pl.when(probability.is_not_null())
        .then(_text((probability / 100).round(6)))
        .otherwise(_col(frame, "deal_probability"))
        .alias("probability"),
        parse_bool(_col(frame, "pipeline_deal_probability")).alias("_stage_flag"),
    )
    if pipelines is not None:
        pfile, pframe = pipelines
        run.used.append(pfile)
        pipes = pframe.select(
            pl.col(require_column(pframe, str(pfile), "id")).alias("pipeline_id"),
            pl.col(require_column(pframe, str(pfile), "name")).alias("_pipe_name"),
            _num(_col(pframe, "order_nr")).alias("pipeline_order"),
            parse_bool(_col(pframe, "is_deal_probability_enabled", "deal_probability")).alias(
                "_pipe_flag"
            ),
        )
        cat = cat.join(pipes, on="pipeline_id", how="left")
    else:
        cat = cat.with_columns(
            pl.lit(None, pl.String).alias("_pipe_name"),
            pl.lit(None, pl.Float64).alias("pipeline_order"),
            pl.lit(None, pl.Boolean).alias("_pipe_flag"),
        )
    cat = cat.with_columns(
        pl.coalesce(
            "_pipe_name", "_pipeline_name", pl.lit("pipeline ") + pl.col("pipeline_id")
        ).alias("pipeline"),
        pl.coalesce("_pipe_flag", "_stage_flag").alias("deal_prob_enabled"),
        _num(pl.col("pipeline_id")).alias("_pipeline_num"),
    )
    cat = _name_stages(cat).sort(
        "pipeline_order", "_pipeline_num", "pipeline", "order_nr", "source_row", nulls_last=True
    )
    return cat.select(
        "source_row",
        "key",
        "name",
        "canonical",
        "pipeline",
        "probability",
        "deal_prob_enabled",
    )


def _stages_table(run: _Run, catalogue: pl.DataFrame, last_line: int, label: str) -> pl.DataFrame:
    """The canonical stages: the catalogue's open stages in its order, then Won and Lost.

    Won and Lost are numbered after ``last_line``. A second stage with the same name in the
    same pipeline is excluded (``duplicate_stage_name``): deals in either are counted in the
    first.
    """
    open_stages = run.aside(
        catalogue,
        ~pl.col("canonical").is_first_distinct() & pl.col("source_row").is_not_null(),
        table="stages",
        file=label,
        kind="excluded",
        reason="duplicate_stage_name",
    )
    n = open_stages.height
    body = open_stages.select(
        pl.col("source_row").cast(pl.Int64),
        pl.col("canonical").alias("stage"),
        pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).alias("order"),
        pl.col("probability").cast(pl.String),
        pl.col("pipeline").cast(pl.String),
        pl.lit("false").alias("is_won"),
        pl.lit("false").alias("is_lost"),
    )
    closed = pl.DataFrame(
        {
            "source_row": [last_line + 1, last_line + 2],
            "stage": [WON, LOST],
            "order": [str(n + 1), str(n + 2)],
            "probability": ["1", "0"],
            "pipeline": [None, None],
            "is_won": ["true", "false"],
            "is_lost": ["false", "true"],
        },
        schema={**body.schema, "pipeline": pl.String},
    )
    return pl.concat([body, closed])


# --------------------------------------------------------------------------- deals (common)


def _finish_deals(
    run: _Run,
    work: pl.DataFrame,
    catalogue: pl.DataFrame,
    *,
    label: str,
    team: str | None,
    team_column: str | None,
    team_near: list[str] | None = None,
    reporting_currency: str | None,
    rates: dict[str, float] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical deals, and the same deals before currency conversion.

    ``team_near``: columns whose name is close to a ``team`` option that names no column
    (said in the note, as the option then puts every deal in one team of that name).

    The second frame also has ``_created``/``_last_change``. Built from a working frame with
    the internal ``_`` columns both modes build: _id, _owner, _value, _currency, _pipeline,
    _key, _stage_name, _status, _created, _won, _lost, _close, _expected, _prob,
    _lost_reason, _source, _account, _archived, _last_change, plus extras under their final
    names.
    """
    cat = catalogue.select(
        pl.col("key").alias("_key"),
        pl.col("canonical").alias("_canonical"),
        pl.col("probability").alias("stage_probability"),
        pl.col("deal_prob_enabled").alias("_enabled"),
        pl.col("pipeline").alias("_cat_pipeline"),
    ).unique("_key", keep="first")
    work = work.join(cat, on="_key", how="left", maintain_order="left")
    status = pl.col("_status")
    won, lost, is_open = status.eq("won"), status.eq("lost"), status.eq("open")
    deal_prob = _num(pl.col("_prob"))
    use_deal = deal_prob.is_not_null() & pl.col("_enabled").fill_null(True)
    ignored = work.filter(deal_prob.is_not_null() & ~pl.col("_enabled").fill_null(True)).height
    if ignored:
        run.notes.append(
            Message(
                N_(
                    "{ignored} deal(s) have their own probability in a pipeline where deal "
                    "probability is off: the stage's probability is used for them (Pipedrive "
                    "ignores the deal's there)."
                ),
                ignored=str(ignored),
            )
        )
    reopened = work.filter(
        is_open & pl.any_horizontal(pl.col("_won", "_lost", "_close").is_not_null())
    ).height
    if reopened:
        run.notes.append(
            Message(
                N_(
                    "{reopened} open deal(s) carry a won/lost/close time (reopened in "
                    "Pipedrive): closed_at is left empty for them."
                ),
                reopened=str(reopened),
            )
        )
    last_open = pl.coalesce("_canonical", "_stage_name", "_key")
    team_expr = pl.col("_team") if "_team" in work.columns else pl.lit(team or "All", pl.String)
    deals = work.with_columns(
        pl.col("_id").alias("deal_id"),
        pl.col("_owner").alias("owner"),
        team_expr.alias("team"),
        pl.col("_value").alias("amount"),
        pl.col("_created").alias("created_at"),
        pl.when(won)
        .then(pl.lit(WON))
        .when(lost)
        .then(pl.lit(LOST))
        .otherwise(last_open)
        .alias("stage"),
        status.alias("status"),
        pl.when(won)
        .then(pl.coalesce("_won", "_close"))
        .when(lost)
        .then(pl.coalesce("_lost", "_close"))
        .when(is_open)
        .then(pl.lit(None, pl.String))
        .otherwise(pl.coalesce("_close", "_won", "_lost"))
        .alias("closed_at"),
        pl.col("_account").alias("account_id"),
        pl.col("_expected").alias("expected_close"),
        pl.when(use_deal)
        .then(_text((deal_prob / 100).round(6)))
        .otherwise(pl.col("stage_probability"))
        .alias("probability"),
        pl.col("_lost_reason").alias("lost_reason"),
        pl.col("_source").alias("lead_source"),
        pl.coalesce("_pipeline", "_cat_pipeline").alias("pipeline"),
        last_open.alias("last_open_stage"),
        pl.when(use_deal)
        .then(pl.lit("deal"))
        .when(pl.col("stage_probability").is_not_null())
        .then(pl.lit("stage"))
        .alias("probability_source"),
        pl.col("_archived").alias("is_archived"),
    )
    extras = [
        c for c in work.columns if not c.startswith("_") and c not in (*_OUTPUT, "source_row")
    ]
    keep = ["source_row", *[c for c in _OUTPUT if c in deals.columns], *extras]
    before_currency = deals.select(*keep, "_currency", "_created", "_last_change")
    if deals.get_column("_currency").null_count() == deals.height:
        out = deals.select(*keep)
        aside = None
    else:
        out, aside = to_reporting_currency(
            deals.select(*keep, "_currency"),
            amount="amount",
            currency="_currency",
            rates=rates,
            reporting=reporting_currency,
            table="deals",
            file=label,
            notes=run.notes,
        )
    if aside is not None and aside.height:
        run.log.add(aside)
    if team_column is not None:
        run.notes.append(
            Message(
                N_("team = the column {team_column} (Pipedrive has no team field)."),
                team_column=repr(team_column),
            )
        )
    elif team and team_near:
        run.notes.append(
            Message(
                N_(
                    "team = {team} for every deal (the team option names no column; columns "
                    "with a close name: {names}). Give one of those names to read the team "
                    "from it."
                ),
                team=repr(team),
                names=str(", ".join(repr(c) for c in team_near)),
            )
        )
    elif team:
        run.notes.append(
            Message(N_("team = {team} for every deal (the team option)."), team=repr(team))
        )
    else:
        run.notes.append(
            Message(
                N_(
                    "Pipedrive has no team field: every deal is in team 'All'. Pass "
                    "team='<column>' (a custom field or users column) or team='<name>' to "
                    "set it."
                )
            )
        )
    return out, before_currency


# the entity prefix of a list export's labels, in any language and with or without its
# accents ("Deal - Sales team", "Affaire - Valeur", "Negocio - Etapa"); the mapping drafter
# strips it too
_ENTITIES = [e for entities, _ in _LABELS.values() for e in entities]
ENTITY_PREFIX = re.compile(
    r"^\s*(?:"
    + "|".join(
        dict.fromkeys(
            re.escape(form)
            for e in _ENTITIES
            for form in (e, unicodedata.normalize("NFKD", e).encode("ascii", "ignore").decode())
        )
    )
    + r")\s*-\s*",
    re.IGNORECASE,
)


def _team_column(frame: pl.DataFrame, team: str | None) -> str | None:
    """The column the ``team`` option names, or None (the option is then a constant team).

    Compared as :func:`squash` does (case, spaces and punctuation ignored) and without the
    ``Deal - `` prefix of a list export's labels: ``team="Sales team"`` (the custom field's
    name in Pipedrive) is the column ``Deal - Sales team``.
    """
    if not team:
        return None
    found = column(frame, team)
    if found is not None:
        return found
    key = squash(ENTITY_PREFIX.sub("", team))
    for name in frame.columns:
        if name != "source_row" and squash(ENTITY_PREFIX.sub("", name)) == key:
            return name
    return None


def _near_columns(columns: list[str], name: str) -> list[str]:
    """Up to three of ``columns`` whose name is close to ``name`` (prefix, case ignored)."""
    import difflib

    labels = {squash(ENTITY_PREFIX.sub("", c)): c for c in columns if c != "source_row"}
    key = squash(ENTITY_PREFIX.sub("", name))
    close = difflib.get_close_matches(key, list(labels), n=3, cutoff=0.6)
    close += [k for k in labels if key and k not in close and (key in k or k in key)]
    return [labels[k] for k in close[:3]]


def _status_expr(expr: pl.Expr) -> pl.Expr:
    low = expr.str.strip_chars().str.to_lowercase()
    return low.replace(_STATUS_WORDS)


# --------------------------------------------------------------------------- list export


def _read_export(
    run: _Run,
    file: Path,
    frame: pl.DataFrame,
    api: dict[str, tuple[Path, pl.DataFrame]],
    team: str | None,
    reporting_currency: str | None,
    rates: dict[str, float] | None,
    *,
    decimal: str | None = None,
) -> dict[str, RawTable]:
    run.used.append(file)
    label = str(file)
    frame, aside = without_repeated_headers(frame, table="deals", file=label, notes=run.notes)
    run.log.add(aside)
    frame = _one_row_per_deal(run, frame, file, label)
    cols = {part: column(frame, *aliases) for part, aliases in EXPORT.items()}
    for part in ("id", "stage", "status", "owner", "value", "created"):
        cols[part] = require_column(frame, label, *EXPORT[part])
    dates = [
        name
        for p in (
            "created",
            "closed_on",
            "won_time",
            "lost_time",
            "last_stage_change",
            "expected_close",
        )
        if (name := cols[p])
    ]
    frame = normalise_dates(frame, dates, run.notes, file=label)
    numbers = [name for p in ("value", "probability") if (name := cols[p])]
    frame, _ = read_decimal_commas(frame, numbers, file.name, run.notes, decimal)

    def c(part: str) -> pl.Expr:
        name = cols[part]
        return pl.col(name) if name else pl.lit(None, pl.String)

    status = _status_expr(c("status"))
    frame = run.aside(
        frame,
        status.eq("deleted"),
        table="deals",
        file=label,
        kind="excluded",
        reason="deleted_in_crm",
    )
    team_column = _team_column(frame, team)

    # stage catalogue: stages.csv when present, else the stage names of the deals
    pipeline = c("pipeline")
    stage_key = pl.coalesce(pipeline, pl.lit("")) + _SEP + c("stage")
    derived_order = "stages" not in api
    if not derived_order:
        catalogue = _api_catalogue(
            run, api["stages"], api.get("pipelines"), pl.Series([], dtype=pl.String)
        )
        has_pipelines = "pipelines" in api or catalogue["pipeline"].is_not_null().all()
        if has_pipelines and cols["pipeline"]:
            catalogue = catalogue.with_columns(
                (pl.col("pipeline") + _SEP + pl.col("name")).alias("key")
            )
        else:
            stage_key = pl.lit("") + _SEP + c("stage")
            catalogue = catalogue.with_columns((pl.lit("") + _SEP + pl.col("name")).alias("key"))
        first = _first_stages(catalogue)  # before any stage stages.csv lacks is added
        last_line = _last_line(api["stages"][1])
        missing = (
            frame.select(
                stage_key.alias("key"), pipeline.alias("pipeline"), c("stage").alias("name")
            )
            .filter(pl.col("name").is_not_null() & ~pl.col("key").is_in(catalogue["key"].implode()))
            .unique("key", maintain_order=True)
            .sort("pipeline", "name", nulls_last=True)
        )
        if missing.height:
            run.notes.append(
                Message(
                    N_(
                        "{stages} stage(s) of the export are not in stages.csv ({names}): added "
                        "after its stages, in name order (numbered after its last line)."
                    ),
                    stages=str(missing.height),
                    names=", ".join(missing["name"].to_list()),
                )
            )
            catalogue = pl.concat(
                [
                    catalogue.drop("canonical"),
                    missing.select(
                        pl.int_range(last_line + 1, last_line + 1 + pl.len(), dtype=pl.Int64).alias(
                            "source_row"
                        ),
                        "key",
                        "name",
                        "pipeline",
                        pl.lit(None, pl.String).alias("probability"),
                        pl.lit(None, pl.Boolean).alias("deal_prob_enabled"),
                    ),
                ],
                how="vertical_relaxed",
            )
            catalogue = _name_stages(catalogue).select(
                "source_row",
                "key",
                "name",
                "canonical",
                "pipeline",
                "probability",
                "deal_prob_enabled",
            )
            last_line += missing.height
        stages_label = f"{api['stages'][0]} (+ Won and Lost added by the adapter)"
    else:
        first = None
        used = frame.select(
            stage_key.alias("key"),
            pipeline.alias("pipeline"),
            c("stage").alias("name"),
            status.is_in(["won", "lost"]).alias("_closed"),
        ).filter(pl.col("name").is_not_null())
        catalogue = (
            _name_stages(
                used.group_by("key", "pipeline", "name", maintain_order=True).agg(
                    pl.col("_closed").all().cast(pl.Float64).alias("_all_closed")
                )
            )
            .sort("_all_closed", "canonical")
            .select(
                pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("source_row"),
                "key",
                "name",
                "canonical",
                "pipeline",
                pl.lit(None, pl.String).alias("probability"),
                pl.lit(None, pl.Boolean).alias("deal_prob_enabled"),
            )
        )
        run.notes.append(
            Message(
                N_(
                    "The list export does not give the stage order: stages were ordered as "
                    "the loader orders stages it derives (stages whose deals are all closed "
                    "last, then by name), which is not the pipeline's order. Put the API's "
                    "stages.csv and pipelines.csv beside the export for the real order and "
                    "the stage probabilities."
                )
            )
        )
        stages_label = f"{label} (stages derived by the adapter from Deal - Stage)"
        last_line = catalogue.height + 1

    copied = {name for p in _EXPORT_COPIED if (name := cols[p])}
    extras = _export_extras(run, frame, copied)
    work = frame.select(
        "source_row",
        c("id").alias("_id"),
        c("owner").alias("_owner"),
        c("value").alias("_value"),
        c("currency").alias("_currency"),
        pipeline.alias("_pipeline"),
        stage_key.alias("_key"),
        c("stage").alias("_stage_name"),
        status.alias("_status"),
        c("created").alias("_created"),
        c("won_time").alias("_won"),
        c("lost_time").alias("_lost"),
        c("closed_on").alias("_close"),
        c("expected_close").alias("_expected"),
        c("probability").alias("_prob"),
        c("lost_reason").alias("_lost_reason"),
        c("source").alias("_source"),
        c("organization").alias("_account"),
        pl.lit(None, pl.String).alias("_archived")
        if not cols["archived"]
        else pl.when(parse_bool(c("archived"), blank=False))
        .then(pl.lit("true"))
        .otherwise(pl.lit("false"))
        .alias("_archived"),
        c("last_stage_change").alias("_last_change"),
        *[pl.col(src).alias(dst) for src, dst in extras.items()],
        *([pl.col(team_column).alias("_team")] if team_column else []),
    )
    deals, before = _finish_deals(
        run,
        work,
        catalogue,
        label=label,
        team=team,
        team_column=team_column,
        team_near=_near_columns(frame.columns, team) if team and not team_column else [],
        reporting_currency=reporting_currency,
        rates=rates,
    )
    if not cols["archived"]:
        deals = deals.drop("is_archived")
    tables = {
        "deals": RawTable("deals", deals, label),
        "stages": RawTable(
            "stages", _stages_table(run, catalogue, last_line, stages_label), stages_label
        ),
    }
    if cols["last_stage_change"]:
        history = _history_from_last_change(before, first)
        tables["stage_history"] = RawTable(
            "stage_history",
            history,
            f"{label} (derived from Deal - Last stage change; approximate)",
        )
        run.approximate = True
        run.notes.append(
            _LAST_CHANGE_NOTE
            if first is not None
            else Message(
                N_(
                    "{note} Without stages.csv the first stage of a deal that moved is unknown, "
                    "so its history starts at its last stage change."
                ),
                note=_LAST_CHANGE_NOTE,
            )
        )
    else:
        run.notes.append(
            Message(
                N_(
                    "The list export has no stage history and no 'Deal - Last stage change' "
                    "column: the loader derives a minimal history (approximate). The API's "
                    "deal flow gives the real one."
                )
            )
        )
    run.notes.append(_CLOSED_STAGE_NOTE)
    return tables


_CLOSED_STAGE_NOTE = Message(
    N_(
        "Won and lost are statuses in Pipedrive, not stages: a closed deal keeps showing its "
        "last open stage. Closed deals are put in the synthetic stages 'Won' / 'Lost' (the last "
        "two stages); their Pipedrive stage is kept in last_open_stage."
    )
)
_LAST_CHANGE_TEXT = N_(
    "Stage history derived from {field} (approximate): each deal entered its current (last "
    "open) stage on its last stage change, or on its creation day if it never moved; a deal "
    "that moved entered its pipeline's first stage on its creation day (an assumption); "
    "Won/Lost entered on closed_at. Stages passed through in between are unknown."
)
_LAST_CHANGE_NOTE = Message(_LAST_CHANGE_TEXT, field="'Last stage change'")


# the columns of a deal's product in a "deals with products" export (Czech: Produkt)
_PRODUCT_PREFIXES = ("Product - ", "Produkt - ")


def _one_row_per_deal(run: _Run, frame: pl.DataFrame, file: Path, label: str) -> pl.DataFrame:
    """The export with one row per deal, when it lists a deal once per product.

    Exported with its products, a deal is written once per product (``Product - Name``,
    ``Product - Quantity``, ...), its deal columns repeated: every deal with two products was
    quarantined as a duplicate key. The rows repeating a deal's columns are excluded
    (``product_row``) and the product columns left out, as a deal has several (said in a
    note). Rows of one deal that differ in a deal column stay, and are quarantined as before.
    """
    products = [c for c in frame.columns if c.startswith(_PRODUCT_PREFIXES)]
    if not products:
        return frame
    deal = [c for c in frame.columns if c not in products and c != "source_row"]
    repeated = pl.struct(deal).is_first_distinct().not_()
    frame = run.aside(
        frame, repeated, table="deals", file=label, kind="excluded", reason="product_row"
    )
    run.notes.append(
        Message(
            N_(
                "{file} lists a deal once per product (columns {columns}): each deal is read "
                "once, the rows of its other products are excluded (product_row), and the "
                "product columns are left out (a deal may have several products)."
            ),
            file=file.name,
            columns=", ".join(products),
        )
    )
    return frame.drop(products)


def _export_extras(run: _Run, frame: pl.DataFrame, copied: set[str]) -> dict[str, str]:
    """Export column -> extra column name (snake_case), for the columns not copied.

    Every column not copied into a canonical one gets one. A custom field named like an
    optional canonical column (Industry, Region, Product, Competitor, Deal type) fills it.
    """
    extras: dict[str, str] = {}
    taken = set(_OUTPUT)
    filled = []
    for name in frame.columns:
        if name == "source_row" or name in copied:
            continue
        snake = _snake(name) or "column"
        if snake in _OPTIONAL_CANONICAL:
            filled.append(f"{name!r} -> {snake}")
        while snake in taken:
            snake = f"pipedrive_{snake}"
        taken.add(snake)
        extras[name] = snake
    if filled:
        run.notes.append(
            Message(
                N_("Custom field(s) read as canonical columns: {fields}."), fields=", ".join(filled)
            )
        )
    return extras


def _first_stages(catalogue: pl.DataFrame) -> pl.DataFrame:
    """Map each pipeline to its first open stage (canonical), in the catalogue's order."""
    return catalogue.unique("pipeline", keep="first").select(
        pl.col("pipeline").alias("_first_pipeline"), pl.col("canonical").alias("_first_stage")
    )


def _history_from_last_change(deals: pl.DataFrame, first: pl.DataFrame | None) -> pl.DataFrame:
    """Approximate history from the deals' last stage change (see _LAST_CHANGE_NOTE).

    Each row keeps the source_row of the deal it comes from.
    """
    created, change = pl.col("_created"), pl.col("_last_change")
    moved = change.is_not_null() & (change.str.slice(0, 10) > created.str.slice(0, 10))
    current = deals.select(
        "source_row",
        "deal_id",
        pl.col("last_open_stage").alias("stage"),
        pl.when(moved).then(change).otherwise(created).alias("entered_at"),
    )
    parts = [current]
    if first is not None:
        parts.append(
            deals.filter(moved)
            .join(first, left_on="pipeline", right_on="_first_pipeline", how="inner")
            .select(
                "source_row",
                "deal_id",
                pl.col("_first_stage").alias("stage"),
                created.alias("entered_at"),
            )
        )
    parts.append(
        deals.filter(pl.col("status").is_in([WON.lower(), LOST.lower()])).select(
            "source_row", "deal_id", "stage", pl.col("closed_at").alias("entered_at")
        )
    )
    return (
        pl.concat(parts)
        .with_columns(pl.col("stage").cast(pl.String))
        .sort("source_row", "entered_at", nulls_last=True, maintain_order=True)
    )


# --------------------------------------------------------------------------- API tables


def _read_api(
    run: _Run,
    api: dict[str, tuple[Path, pl.DataFrame]],
    team: str | None,
    reporting_currency: str | None,
    rates: dict[str, float] | None,
) -> dict[str, RawTable]:
    flow = _flow_columns(run, api["dealflow"]) if "dealflow" in api else None
    if "deals" in api:
        deals_file, raw = api["deals"]
        run.used.append(deals_file)
        label = str(deals_file)
    else:
        assert flow is not None
        deals_file = api["dealflow"][0]
        raw = _deals_from_flow(run, flow)
        label = f"{deals_file} (deals rebuilt from the change log)"
    dates = [
        column(raw, *names)
        for names in (
            ("add_time",),
            ("close_time",),
            ("won_time",),
            ("lost_time",),
            ("expected_close_date",),
            ("stage_change_time",),
        )
    ]
    raw = normalise_dates(raw, [d for d in dates if d], run.notes, file=label)
    id_col = require_column(raw, label, "id", "deal_id")
    status = _status_expr(_col(raw, "status"))
    deleted = (
        status.eq("deleted")
        | parse_bool(_col(raw, "is_deleted"), blank=False)
        | parse_bool(_col(raw, "deleted"), blank=False)
    )
    deleted_ids = raw.filter(deleted.fill_null(False))[id_col].unique()
    raw = run.aside(
        raw, deleted, table="deals", file=label, kind="excluded", reason="deleted_in_crm"
    )
    src = raw  # column names are looked up here, before joins add helper columns
    if deleted_ids.len():
        run.notes.append(
            Message(
                N_(
                    "{value} deal(s) deleted in Pipedrive are left out (with their "
                    "change-log rows and activities). Pipedrive keeps deleted deals for 30 "
                    "days only, so older deletions are simply absent."
                ),
                value=str(deleted_ids.len()),
            )
        )

    referenced = pl.concat(
        [
            raw.select(_col(src, "stage_id").alias("v")),
            *(
                [
                    flow.frame.filter(pl.col("__field") == "stage_id")
                    .select(pl.concat_list("__old", "__new").alias("v"))
                    .explode("v")
                ]
                if flow is not None
                else []
            ),
        ]
    )["v"]
    if "stages" in api:
        catalogue = _api_catalogue(run, api["stages"], api.get("pipelines"), referenced)
        stages_label = f"{api['stages'][0]} (+ Won and Lost added by the adapter)"
        last_line = _last_line(api["stages"][1])
    else:
        raise DataError(
            problem="no stages table beside the API deals: stage ids cannot be named",
            fix="add stages.csv (GET /stages: id, name, order_nr, pipeline_id, "
            "deal_probability) to the folder",
            file=str(run.path),
        )

    users = _users(run, api.get("users"), team)
    owner_id = _col(src, "owner_id", "user_id", "user_id__id", "owner_id__id")
    owner_name = _col(src, "owner_name", "user_id__name", "owner_id__name")
    raw = raw.with_columns(owner_id.alias("__owner_id")).join(
        users, left_on="__owner_id", right_on="_user_id", how="left", maintain_order="left"
    )
    unnamed = raw.filter(
        pl.col("_user_name").is_null() & owner_name.is_null() & pl.col("__owner_id").is_not_null()
    ).height
    if unnamed:
        run.notes.append(
            Message(
                N_(
                    "{unnamed} deal(s) have an owner id with no name (users.csv missing or "
                    "incomplete): the id is used as the owner."
                ),
                unnamed=str(unnamed),
            )
        )
    team_column = _team_column(src, team)
    if team and team_column is None and "_user_team" in raw.columns:
        team_column = f"users.{team}"
        raw = raw.with_columns(pl.col("_user_team").alias("__team"))
    elif team_column is not None:
        raw = raw.with_columns(pl.col(team_column).alias("__team"))
    pipelines_file = api.get("pipelines")
    pipe_names = (
        pipelines_file[1].select(
            pl.col(require_column(pipelines_file[1], str(pipelines_file[0]), "id")).alias(
                "__pipeline_id"
            ),
            pl.col(require_column(pipelines_file[1], str(pipelines_file[0]), "name")).alias(
                "__pipeline_name"
            ),
        )
        if pipelines_file is not None
        else pl.DataFrame(schema={"__pipeline_id": pl.String, "__pipeline_name": pl.String})
    )
    raw = raw.with_columns(_col(src, "pipeline_id").alias("__pipeline_id")).join(
        pipe_names, on="__pipeline_id", how="left", maintain_order="left"
    )
    consumed = {
        c
        for c in (
            id_col,
            column(src, "owner_id", "user_id"),
            column(src, "value"),
            column(src, "currency"),
            column(src, "status"),
            column(src, "probability"),
            column(src, "add_time"),
            column(src, "expected_close_date"),
            column(src, "lost_reason"),
            column(src, "is_deleted"),
            column(src, "deleted"),
            column(src, "is_archived"),
            column(src, "org_id"),
        )
        if c
    }
    extras: dict[str, str] = {}
    for name in raw.columns:
        if name == "source_row" or name in consumed or name.startswith("_"):
            continue
        new = name
        while new in _OUTPUT or new in extras.values():
            new = f"pipedrive_{new}"
        extras[name] = new
    archived = column(src, "is_archived", "archived")
    work = raw.select(
        "source_row",
        pl.col(id_col).alias("_id"),
        pl.coalesce("_user_name", owner_name, "__owner_id").alias("_owner"),
        _col(src, "value").alias("_value"),
        _col(src, "currency").alias("_currency"),
        pl.col("__pipeline_name").alias("_pipeline"),
        _col(src, "stage_id").alias("_key"),
        pl.lit(None, pl.String).alias("_stage_name"),
        status.alias("_status"),
        _col(src, "add_time").alias("_created"),
        _col(src, "won_time").alias("_won"),
        _col(src, "lost_time").alias("_lost"),
        _col(src, "close_time").alias("_close"),
        _col(src, "expected_close_date").alias("_expected"),
        _col(src, "probability").alias("_prob"),
        _col(src, "lost_reason").alias("_lost_reason"),
        pl.coalesce(_col(src, "origin"), _col(src, "channel")).alias("_source"),
        pl.coalesce(_col(src, "org_id"), _col(src, "org_name")).alias("_account"),
        (
            pl.when(parse_bool(pl.col(archived), blank=False))
            .then(pl.lit("true"))
            .otherwise(pl.lit("false"))
            if archived
            else pl.lit(None, pl.String)
        ).alias("_archived"),
        _col(src, "stage_change_time").alias("_last_change"),
        *[pl.col(src).alias(dst) for src, dst in extras.items()],
        *([pl.col("__team").alias("_team")] if team_column else []),
    )
    deals, before = _finish_deals(
        run,
        work,
        catalogue,
        label=label,
        team=team,
        team_column=team_column,
        team_near=_near_columns(src.columns, team) if team and not team_column else [],
        reporting_currency=reporting_currency,
        rates=rates,
    )
    if not archived:
        deals = deals.drop("is_archived")
    else:
        n = deals.filter(pl.col("is_archived") == "true").height
        if n:
            run.notes.append(
                Message(
                    N_(
                        "{n} archived deal(s) are kept (archiving hides a deal in Pipedrive, it "
                        "does not delete it); filter on is_archived to leave them out."
                    ),
                    n=str(n),
                )
            )
    tables = {
        "deals": RawTable("deals", deals, label),
        "stages": RawTable(
            "stages", _stages_table(run, catalogue, last_line, stages_label), stages_label
        ),
    }
    if flow is not None:
        history = _history_from_flow(run, flow, before, catalogue, deleted_ids)
        tables["stage_history"] = RawTable(
            "stage_history",
            history,
            f"{api['dealflow'][0]} (stage_id changes; rows numbered after its last line: first "
            "stage at add_time and Won/Lost at closed_at, derived from the deals)",
        )
    elif column(src, "stage_change_time"):
        first = _first_stages(catalogue)
        tables["stage_history"] = RawTable(
            "stage_history",
            _history_from_last_change(before, first),
            f"{label} (derived from stage_change_time; approximate)",
        )
        run.approximate = True
        run.notes.append(Message(_LAST_CHANGE_TEXT, field="stage_change_time"))
    if "activities" in api:
        tables["activities"] = _activities(run, api["activities"], users, deleted_ids)
    run.notes.append(_CLOSED_STAGE_NOTE)
    return tables


def _users(run: _Run, users: tuple[Path, pl.DataFrame] | None, team: str | None) -> pl.DataFrame:
    """users.csv as _user_id, _user_name (and _user_team when ``team`` names a users column)."""
    if users is None:
        return pl.DataFrame(schema={"_user_id": pl.String, "_user_name": pl.String})
    file, frame = users
    run.used.append(file)
    team_col = _team_column(frame, team)
    return frame.select(
        pl.col(require_column(frame, str(file), "id", "user_id")).alias("_user_id"),
        pl.col(require_column(frame, str(file), "name")).alias("_user_name"),
        *([pl.col(team_col).alias("_user_team")] if team_col else []),
    ).unique("_user_id", keep="first")


# --------------------------------------------------------------------------- change log


@dataclass
class _Flow:
    file: Path
    frame: pl.DataFrame  # raw columns + item, field, old, new, at (normalised log time), user


def _flow_columns(run: _Run, flow: tuple[Path, pl.DataFrame]) -> _Flow:
    file, frame = flow
    run.used.append(file)
    label = str(file)
    time = require_column(frame, label, "log_time", "timestamp", "data__log_time")
    frame = normalise_dates(frame, [time], run.notes, file=label)
    old = column(frame, "old_value", "data__old_value")
    if old is None:
        run.notes.append(
            Message(
                N_(
                    "{name} has new_value only (no old_value): the first stage of a deal "
                    "that moved is unknown, so its history starts at its first recorded "
                    "change."
                ),
                name=str(file.name),
            )
        )
    return _Flow(
        file,
        frame.with_columns(
            pl.col(require_column(frame, label, "item_id", "deal_id", "data__item_id")).alias(
                "__item"
            ),
            pl.col(require_column(frame, label, "field_key", "data__field_key")).alias("__field"),
            (pl.col(old) if old else pl.lit(None, pl.String)).alias("__old"),
            pl.col(require_column(frame, label, "new_value", "data__new_value")).alias("__new"),
            pl.col(time).alias("__at"),
            _col(frame, "user_id", "data__user_id").alias("__user"),
        ),
    )


def _deals_from_flow(run: _Run, flow: _Flow) -> pl.DataFrame:
    """Deals rebuilt from the change log when there is no deals table.

    For each deal the last logged value of status, stage_id, value, currency, user_id
    (owner), pipeline_id, lost_reason, expected_close_date, probability; created = its
    add_time row or its first change; won/lost time = the time of its last change of status
    to won/lost.
    """
    f = flow.frame.sort("__at", "source_row", nulls_last=True)
    fields = (
        "status",
        "stage_id",
        "value",
        "currency",
        "user_id",
        "pipeline_id",
        "lost_reason",
        "expected_close_date",
        "probability",
    )

    def last(key: str) -> pl.Expr:
        return pl.col("__new").filter(pl.col("__field") == key).last()

    deals = (
        f.group_by("__item", maintain_order=True)
        .agg(
            pl.col("source_row").min(),
            *[last(k).alias(k) for k in fields],
            pl.coalesce(last("add_time"), pl.col("__at").min()).alias("add_time"),
            pl.col("__at")
            .filter((pl.col("__field") == "status") & (pl.col("__new") == "won"))
            .last()
            .alias("won_time"),
            pl.col("__at")
            .filter((pl.col("__field") == "status") & (pl.col("__new") == "lost"))
            .last()
            .alias("lost_time"),
            pl.col("__user").first().alias("_first_user"),
        )
        .with_columns(
            pl.col("status").fill_null("open"),
            pl.coalesce("user_id", "_first_user").alias("owner_id"),
        )
        .drop("user_id", "_first_user")
        .rename({"__item": "id"})
        .sort("source_row")
    )
    run.notes.append(
        Message(
            N_(
                "No deals table: {height} deal(s) rebuilt from {name} (status, stage, "
                "value, owner = the last value logged; created = the first logged change "
                "unless an add_time row exists; owner = the user of the first change "
                "when the owner never changed). Deals whose value or stage was never "
                "logged are quarantined."
            ),
            height=str(deals.height),
            name=str(flow.file.name),
        )
    )
    return deals


def _history_from_flow(
    run: _Run,
    flow: _Flow,
    deals: pl.DataFrame,
    catalogue: pl.DataFrame,
    deleted_ids: pl.Series,
) -> pl.DataFrame:
    label = str(flow.file)
    frame = flow.frame
    last_line = _last_line(frame)
    internal = ["__item", "__field", "__old", "__new", "__at", "__user"]

    def aside(frame: pl.DataFrame, mask: pl.Expr, reason: str) -> pl.DataFrame:
        flagged = frame.with_columns(mask.fill_null(False).alias("__mask"))
        kept = run.aside(
            flagged.drop(internal),
            pl.col("__mask"),
            table="stage_history",
            file=label,
            kind="excluded",
            reason=reason,
        )
        return kept.drop("__mask").join(
            frame.select("source_row", *internal), on="source_row", how="left"
        )

    frame = aside(frame, pl.col("__item").is_in(deleted_ids.implode()), "deal_deleted_in_crm")
    frame = aside(frame, pl.col("__field") != "stage_id", "not_a_stage_change")
    names = catalogue.select(pl.col("key").alias("__k"), pl.col("canonical").alias("__name"))

    def stage_name(key: str) -> pl.Expr:
        return pl.coalesce(
            pl.col(key).replace_strict(
                names["__k"], names["__name"], default=None, return_dtype=pl.String
            ),
            pl.col(key),
        )

    changes = frame.select(
        "source_row",
        pl.col("__item").alias("deal_id"),
        stage_name("__new").alias("stage"),
        pl.col("__at").alias("entered_at"),
        pl.lit(0).alias("__kind"),
    )
    # first stage at add_time: old_value of the deal's first change, or the current stage
    first_change = (
        frame.sort("__at", "source_row")
        .group_by("__item", maintain_order=True)
        .agg(pl.col("__old").first().alias("__first_old"), pl.len().alias("__changes"))
    )
    base = deals.select(
        pl.col("source_row").alias("__deal_row"),
        "deal_id",
        "_created",
        "status",
        "stage",
        "closed_at",
        pl.col("last_open_stage"),
    ).join(first_change, left_on="deal_id", right_on="__item", how="left")
    first_key = (
        pl.when(pl.col("__changes").is_null())
        .then(pl.lit("current"))
        .otherwise(pl.col("__first_old"))
    )
    unknown = base.filter(first_key.is_null()).height
    if unknown and flow.frame["__old"].null_count() < flow.frame.height:
        run.notes.append(
            Message(
                N_(
                    "{unknown} deal(s) have stage changes without old_value: their first "
                    "stage is unknown, so their history starts at their first recorded "
                    "change."
                ),
                unknown=str(unknown),
            )
        )
    firsts = base.filter(first_key.is_not_null()).select(
        "__deal_row",
        "deal_id",
        pl.when(pl.col("__changes").is_null())
        .then(pl.col("last_open_stage"))
        .otherwise(stage_name("__first_old"))
        .alias("stage"),
        pl.col("_created").alias("entered_at"),
        pl.lit(1).alias("__kind"),
    )
    closing = base.filter(pl.col("status").is_in(["won", "lost"])).select(
        "__deal_row",
        "deal_id",
        "stage",
        pl.col("closed_at").alias("entered_at"),
        pl.lit(2).alias("__kind"),
    )
    derived = (
        pl.concat([firsts, closing])
        .sort("__deal_row", "__kind")
        .with_columns(
            pl.int_range(last_line + 1, last_line + 1 + pl.len(), dtype=pl.Int64).alias(
                "source_row"
            )
        )
        .select("source_row", "deal_id", "stage", "entered_at", "__kind")
    )
    history = pl.concat([changes, derived]).with_columns(pl.col("stage").cast(pl.String))
    # a second entry into the same stage on the same day: the loader keys on the day
    ordered = history.sort("entered_at", "__kind", "source_row", nulls_last=True)
    repeat = ~pl.struct(
        "deal_id", "stage", pl.col("entered_at").str.slice(0, 10)
    ).is_first_distinct()
    kept, aside_rows = set_aside(
        ordered.drop("__kind"),
        repeat & pl.col("entered_at").is_not_null(),
        table="stage_history",
        file=label,
        kind="excluded",
        reason="repeated_same_day",
    )
    if aside_rows.height:
        run.log.add(aside_rows)
    return kept.sort("source_row")


# --------------------------------------------------------------------------- activities


def _activities(
    run: _Run,
    activities: tuple[Path, pl.DataFrame],
    users: pl.DataFrame,
    deleted_ids: pl.Series,
) -> RawTable:
    file, frame = activities
    run.used.append(file)
    label = str(file)
    frame = normalise_dates(
        frame,
        [c for c in (column(frame, "marked_as_done_time"), column(frame, "due_date")) if c],
        run.notes,
        file=label,
    )
    deleted = parse_bool(_col(frame, "is_deleted", "deleted"), blank=False) | ~parse_bool(
        _col(frame, "active_flag"), blank=True
    )
    frame = run.aside(
        frame, deleted, table="activities", file=label, kind="excluded", reason="deleted_in_crm"
    )
    deal = _col(frame, "deal_id")
    frame = run.aside(
        frame,
        deal.is_in(deleted_ids.implode()),
        table="activities",
        file=label,
        kind="excluded",
        reason="deal_deleted_in_crm",
    )
    id_col = require_column(frame, label, "id", "activity_id")
    owner = _col(frame, "owner_id", "user_id", "assigned_to_user_id")
    done_time = _col(frame, "marked_as_done_time")
    done = parse_bool(_col(frame, "done")).fill_null(done_time.is_not_null())
    due = (
        pl.when(_col(frame, "due_time").is_not_null())
        .then(_col(frame, "due_date") + " " + _col(frame, "due_time"))
        .otherwise(_col(frame, "due_date"))
    )
    consumed = {
        c
        for c in (
            id_col,
            column(frame, "owner_id", "user_id", "assigned_to_user_id"),
            column(frame, "type", "type_name"),
            column(frame, "deal_id"),
            column(frame, "lead_id"),
            column(frame, "done"),
            column(frame, "is_deleted", "deleted"),
        )
        if c
    }
    extras = [
        c
        for c in frame.columns
        if c not in consumed
        and c != "source_row"
        and c not in ("activity_id", "owner", "type", "occurred_at", "deal_id", "lead_id")
    ]
    out = (
        frame.with_columns(owner.alias("__owner"))
        .join(users, left_on="__owner", right_on="_user_id", how="left", maintain_order="left")
        .select(
            "source_row",
            pl.col(id_col).alias("activity_id"),
            pl.coalesce("_user_name", _col(frame, "owner_name"), "__owner").alias("owner"),
            _col(frame, "type", "type_name").alias("type"),
            pl.when(done).then(pl.coalesce(done_time, due)).otherwise(due).alias("occurred_at"),
            deal.alias("deal_id"),
            _col(frame, "lead_id").alias("lead_id"),
            pl.when(done).then(pl.lit("true")).otherwise(pl.lit("false")).alias("done"),
            *extras,
        )
    )
    run.notes.append(
        Message(
            N_(
                "{name}: occurred_at = marked_as_done_time for done activities, else the "
                "due date and time (planned activities are kept, with done = false)."
            ),
            name=str(file.name),
        )
    )
    return RawTable("activities", out, label)
