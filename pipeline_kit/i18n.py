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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "CARDS_DOMAIN",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "Message",
    "gettext",
    "localised",
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


class Message(str):
    """A text in English that a report can show in its own language: template + parameters.

    It *is* the English string (``str(m)``, ``m == "..."``, JSON), so code that reads loader
    notes or problem texts as strings is unchanged; ``msgid`` (marked ``N_()`` where it is
    written, so Babel extracts it) and ``params`` let a report translate it with
    :meth:`render`. Whole numbers among the parameters are counts: grouped as ``{:,}`` in
    English, by the report's formatter in a report. Parameters may be Messages themselves.

    >>> m = Message(N_("{rows} row(s) repeat an earlier row"), rows=1234)
    >>> m, m.msgid, m.params
    ('1,234 row(s) repeat an earlier row', '{rows} row(s) repeat an earlier row', {'rows': 1234})
    >>> m.render(gettext("en"), str)
    '1234 row(s) repeat an earlier row'
    """

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Message:
        """The English text of ``msgid`` with ``params`` filled in."""
        text = msgid.format(**{k: _english(v) for k, v in params.items()}) if params else msgid
        self = super().__new__(cls, text)
        self.msgid = msgid
        self.params = params
        return self

    def __getnewargs_ex__(self) -> tuple[tuple[str], dict[str, Any]]:  # pickle / copy
        return (self.msgid,), self.params

    def render(
        self, translate: Callable[[str], str], count: Callable[[int], str] | None = None
    ) -> str:
        """The text through ``translate`` (a gettext ``_``), counts through ``count``."""
        count = count or "{:,}".format
        return translate(self.msgid).format(
            **{k: localised(v, translate, count) for k, v in self.params.items()}
        )

    @classmethod
    def joined(cls, parts: list[str], sep: str = "; ") -> Message:
        """``parts`` joined by ``sep``, each part still rendered in a report's language.

        >>> Message.joined([Message("a {n}", n=1000), "b"])
        'a 1,000; b'
        """
        template = sep.join(f"{{p{i}}}" for i in range(len(parts)))  # not a message to translate
        return cls(template, **{f"p{i}": part for i, part in enumerate(parts)})

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (:meth:`from_json` reads it back)."""
        return {
            "msgid": self.msgid,
            "params": {
                k: v.to_json() if isinstance(v, Message) else v for k, v in self.params.items()
            },
        }

    @classmethod
    def from_json(cls, data: str | Mapping[str, Any]) -> str:
        """The Message of :meth:`to_json` (a plain string stays one)."""
        if isinstance(data, str):
            return data
        return cls(
            data["msgid"],
            **{
                k: cls.from_json(v) if isinstance(v, Mapping) else v
                for k, v in data["params"].items()
            },
        )


def _english(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return f"{value:,}"


def localised(
    text: Any, translate: Callable[[str], str], count: Callable[[int], str] | None = None
) -> str:
    """``text`` in the language of ``translate``: a Message rendered, a marked string translated.

    A plain string is looked up as a msgid (untranslated strings come back as written); a
    whole number goes through ``count``; anything else is ``str()``.
    """
    if isinstance(text, Message):
        return text.render(translate, count)
    if isinstance(text, str):
        return translate(text) if text else text
    if isinstance(text, int) and not isinstance(text, bool):
        return (count or "{:,}".format)(text)
    return str(text)
