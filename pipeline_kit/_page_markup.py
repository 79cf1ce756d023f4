"""nbconvert's BeautifulSoup pass over an HTML page, streamed instead of built as a tree.

nbconvert's ``HTMLExporter`` ends by parsing the page it rendered with BeautifulSoup
(``html.parser``), adding ``alt`` to images without one and ``tabindex="0"`` to the input and
output areas of the notebook, and writing the tree out again: about 0.06 s of CPU for a team
report, one in five of its HTML export. :func:`soup_markup` gives the same text without the
tree: BeautifulSoup's own parser class reads the page and hands its events to a writer that
applies what building and printing the tree would (the open-tag stack, whitespace-only text
collapsed to one space or newline, ``class``-like attributes normalised, attributes sorted,
``&``, ``<`` and ``>`` escaped outside ``script`` and ``style``, void elements written
``<br/>``, a ``<meta charset>`` written as UTF-8, tags left open closed at the end).

Byte-identical output is tested against nbconvert's own pass
(``tests/test_report_batch.py``), on report pages and on markup made to hit each rule.
"""

from __future__ import annotations

import re
from typing import Any

from bs4.builder._htmlparser import BeautifulSoupHTMLParser, HTMLParserTreeBuilder
from bs4.dammit import EntitySubstitution
from bs4.element import (
    CData,
    CharsetMetaAttributeValue,
    Comment,
    ContentMetaAttributeValue,
    Declaration,
    Doctype,
    ProcessingInstruction,
)

__all__ = ["MISSING_ALT", "soup_markup"]

# what nbconvert gives an image without alternative text
MISSING_ALT = "No description has been provided for this image"

_BUILDER = HTMLParserTreeBuilder(store_line_numbers=False)
_VOID: set[str] = set(_BUILDER.empty_element_tags or ())
_WORD_LISTS: dict[str, set[str]] = dict(_BUILDER.cdata_list_attributes or {})
_EVERY_TAG_LISTS = _WORD_LISTS.get("*", set())
_PRESERVE_WHITESPACE: set[str] = set(_BUILDER.preserve_whitespace_tags or ())
_RAW_TEXT = {"script", "style"}  # the "minimal" HTML formatter's cdata_containing_tags
_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"
_WORDS = re.compile(r"\S+")
_OUTPUT_ENCODING = "utf-8"  # str(soup) prints meta charsets as the default output encoding
# nbconvert: ".jp-Notebook div.jp-Cell-inputWrapper", ".jp-Notebook div.jp-OutputArea-output"
_NOTEBOOK = "jp-Notebook"
_FOCUSABLE = ("jp-Cell-inputWrapper", "jp-OutputArea-output")
_SPECIAL_STRINGS: dict[type, tuple[str, str]] = {
    Comment: (Comment.PREFIX, Comment.SUFFIX),
    Doctype: (Doctype.PREFIX, Doctype.SUFFIX),
    CData: (CData.PREFIX, CData.SUFFIX),
    Declaration: (Declaration.PREFIX, Declaration.SUFFIX),
    ProcessingInstruction: (ProcessingInstruction.PREFIX, ProcessingInstruction.SUFFIX),
}
_escape = EntitySubstitution.substitute_xml
_quote = EntitySubstitution.quoted_attribute_value


class _Opened:
    """What BeautifulSoup's parser reads of a tag it opened."""

    __slots__ = ("is_empty_element",)

    def __init__(self, is_empty_element: bool) -> None:
        self.is_empty_element = is_empty_element


_VOID_TAG, _OTHER_TAG = _Opened(True), _Opened(False)


class _Writer:
    """Stands in for the ``BeautifulSoup`` object its parser feeds; writes the markup out.

    Only the methods and attributes ``BeautifulSoupHTMLParser`` uses.
    """

    builder = _BUILDER

    def __init__(self) -> None:
        self.out: list[str] = []
        self.text: list[str] = []  # text not yet written (BeautifulSoup's current_data)
        self.stack: list[str] = []  # open tags
        self.open: dict[str, int] = {}  # open tags by name
        self.notebook_stack: list[bool] = []  # whether each open tag is a .jp-Notebook
        self.notebooks = 0  # open .jp-Notebook tags
        self.preserving = 0  # open pre / textarea tags
        self.missing_alt = 0
        self.contains_replacement_characters = False

    # ---------------------------------------------------------------- BeautifulSoup's API

    def handle_starttag(
        self, name: str, namespace: Any, nsprefix: Any, attrs: dict[str, Any], **_: Any
    ) -> _Opened:
        self.end_data()
        attrs = dict(attrs)
        for key, value in attrs.items():  # Tag(): word-list attributes split on whitespace
            if key in _EVERY_TAG_LISTS or key in _WORD_LISTS.get(name, ()):
                attrs[key] = " ".join(_WORDS.findall(value))
        if name == "meta":  # TreeBuilder.set_up_substitutions, printed in the output encoding
            if attrs.get("charset") is not None:
                attrs["charset"] = CharsetMetaAttributeValue(attrs["charset"]).substitute_encoding(
                    _OUTPUT_ENCODING
                )
            elif (
                attrs.get("content") is not None
                and str(attrs.get("http-equiv", "")).lower() == "content-type"
            ):
                attrs["content"] = ContentMetaAttributeValue(attrs["content"]).substitute_encoding(
                    _OUTPUT_ENCODING
                )
        classes = attrs.get("class", "").split(" ") if "class" in attrs else []
        if name == "img" and "alt" not in attrs:  # nbconvert: img:not([alt])
            attrs["alt"] = MISSING_ALT
            self.missing_alt += 1
        elif name == "div" and self.notebooks and any(c in classes for c in _FOCUSABLE):
            attrs["tabindex"] = "0"
        void = name in _VOID
        parts = [f"{key}={_quote(_escape(value))}" for key, value in sorted(attrs.items())]
        self.out.append(f"<{name}{' ' if parts else ''}{' '.join(parts)}{'/' if void else ''}>")
        notebook = _NOTEBOOK in classes
        self.stack.append(name)
        self.open[name] = self.open.get(name, 0) + 1
        self.notebook_stack.append(notebook)
        self.notebooks += notebook
        self.preserving += name in _PRESERVE_WHITESPACE
        return _VOID_TAG if void else _OTHER_TAG

    def handle_endtag(self, name: str, nsprefix: Any = None) -> None:
        self.end_data()
        if not self.open.get(name):  # no such tag open: ignored
            return
        while self.stack:
            if self._pop() == name:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def endData(self, containerClass: type | None = None) -> None:  # BeautifulSoup.endData
        self.end_data(containerClass)

    # ---------------------------------------------------------------- writing

    def end_data(self, kind: type | None = None) -> None:
        """Write the pending text: plain (escaped unless in script/style) or ``kind``."""
        if not self.text:
            return
        text = "".join(self.text)
        self.text = []
        if not self.preserving and not text.strip(_ASCII_SPACES):
            text = "\n" if "\n" in text else " "
        if kind is not None:
            prefix, suffix = _SPECIAL_STRINGS[kind]
            self.out.append(prefix + text + suffix)
        elif self.stack and self.stack[-1] in _RAW_TEXT:
            self.out.append(text)
        else:
            self.out.append(_escape(text))

    def _pop(self) -> str:
        name = self.stack.pop()
        self.open[name] -= 1
        self.notebooks -= self.notebook_stack.pop()
        self.preserving -= name in _PRESERVE_WHITESPACE
        if name not in _VOID:
            self.out.append(f"</{name}>")
        return name

    def finish(self) -> str:
        self.end_data()
        while self.stack:
            self._pop()
        return "".join(self.out)


def soup_markup(page: str) -> tuple[str, int]:
    """``page`` as nbconvert's HTMLExporter prints it after its BeautifulSoup pass.

    Returns the markup and how many images had no ``alt`` (nbconvert logs a warning then).
    """
    writer = _Writer()
    # as HTMLParserTreeBuilder.feed makes it, the writer standing in for the soup
    parser = BeautifulSoupHTMLParser(writer, convert_charrefs=False)  # type: ignore[arg-type]
    parser.feed(page)
    parser.close()
    return writer.finish(), writer.missing_alt
