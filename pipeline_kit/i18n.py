"""Languages of the reports: gettext catalogs compiled from their ``.po`` files at first use.

The catalogs are ``pipeline_kit/locale/<lang>/LC_MESSAGES/pipeline_kit.po``, written with
Babel's tooling (``pybabel extract -k N_ -o pipeline_kit.pot pipeline_kit``). No build step:
:func:`translator` reads the ``.po`` file with :mod:`babel.messages.pofile` and compiles it in
memory with :mod:`babel.messages.mofile` the first time a language is asked for.

The definition cards' texts (formula, time basis, which deals count, interval, how to read
it, pitfalls, and the labels of those fields) have their own domain, ``cards``
(``locale/<lang>/LC_MESSAGES/cards.po``), extracted from the card registry by
``tools/update_catalogs.py``; a card's title is a report message.

A report holds its own translator (``TeamReport(..., lang="zh-Hans")``); nothing here is a
global setting.

>>> gettext("zh-Hans")("Stage")
'阶段'
>>> gettext("en")("Stage"), normalise_lang("zh-hant")
('Stage', 'zh_Hant')
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
from collections.abc import Callable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "CARDS_DOMAIN",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "gettext",
    "normalise_lang",
    "translator",
]

DOMAIN = "pipeline_kit"
CARDS_DOMAIN = "cards"  # the definition cards' texts (pipeline_kit.metrics.cards)
LOCALE_DIR = Path(__file__).with_name("locale")
# the report languages: Babel/CLDR locale id -> name in that language
LANGUAGES = {"en": "English", "zh_Hans": "简体中文", "zh_Hant": "繁體中文", "ms": "Bahasa Melayu"}


def normalise_lang(lang: str) -> str:
    """The Babel locale id of ``lang``: "zh-Hans", "zh_hans" -> "zh_Hans"; unknown -> ValueError."""
    key = str(lang).replace("-", "_").lower()
    for known in LANGUAGES:
        if known.lower() == key:
            return known
    raise ValueError(
        f"unknown report language {lang!r}: use one of "
        + ", ".join(repr(k.replace("_", "-")) for k in LANGUAGES)
    )


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs without translating it (translated where it is shown)."""
    return message


@functools.cache
def translator(lang: str = "en", domain: str = DOMAIN) -> _gettext.NullTranslations:
    """The translations of ``lang`` in catalog ``domain`` (English: as written), compiled once."""
    locale = normalise_lang(lang)
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
    if locale == "en" or not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def gettext(lang: str = "en", domain: str = DOMAIN) -> Callable[[str], str]:
    """The ``_`` function of ``lang``: a message in that language, or as written if untranslated.

    ``domain`` is the catalog: the reports' messages (:data:`DOMAIN`, the default) or the
    definition cards' texts (:data:`CARDS_DOMAIN`).
    """
    return translator(lang, domain).gettext
