"""The encoding of an export that is not UTF-8: detected, and said in a note.

chardet weighs the readings of the file's evidence: the fields holding a byte outside ASCII,
each once. The ASCII rest (ids, amounts, dates, English stage names) reads alike in every
candidate and only dilutes the evidence: on a whole 5,000-deal export with a few names in
Russian, Chinese or Polish, both chardet and charset-normalizer named Windows-1252. The
candidates are the encodings spreadsheets and CRM exports are written in (chardet's modern
era: the Windows code pages, GB18030, Big5, Shift-JIS, cp949, KOI8); among readings nearly as
likely as the best, Windows-1252 (what Excel writes on Western systems) is kept. Every
encoding named must decode the whole file; a large file's evidence is taken from a sample of
its lines.
"""

from __future__ import annotations

import codecs
import functools
import re
from pathlib import Path

from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = ["DETECTION_SAMPLE_BYTES", "decode", "detect_encoding", "unicode_encoding"]


def decode(data: bytes, path: Path, encoding: str | None, notes: list[str]) -> str:
    """The file's text, never decoded with replacement characters.

    UTF-8 (with or without BOM) as is; anything else detected (:func:`detect_encoding`) and
    said in a note.
    """
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DataError(
                problem=f"the file cannot be read as {encoding}: {exc}",
                fix="check the encoding given for this file (or leave it out to detect it)",
                file=str(path),
                examples=_lines_not_in(data, encoding),
            ) from exc
        mojibake = _MOJIBAKE.search(text)
        if mojibake:
            notes.append(
                Message(
                    N_(
                        "{file}, read as {encoding} as asked, holds text such as '{example}': "
                        "UTF-8 read in another encoding. Check the encoding given (names with "
                        "accents or in other scripts are garbled)."
                    ),
                    file=path.name,
                    encoding=encoding,
                    example=mojibake.group(0),
                )
            )
        return text
    unicode = unicode_encoding(data)
    if unicode is not None:
        try:
            text = data.decode(unicode)
        except UnicodeDecodeError as exc:
            raise DataError(
                problem=f"the file starts as {unicode.upper()} text but cannot be read as such: "
                f"{exc}",
                fix="export it again, as UTF-8 CSV",
                file=str(path),
            ) from exc
        notes.append(
            Message(
                N_(
                    "{file} is {encoding} text (certain from its first bytes; Excel's 'Unicode "
                    "Text' is UTF-16): read as such."
                ),
                file=path.name,
                encoding=unicode.upper(),
            )
        )
        return text.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        detected = detect_encoding(data)
        if detected is None:
            lines = _lines_not_in(data, "utf-8")
            raise DataError(
                problem="the file is not UTF-8 and its encoding cannot be recognised"
                + (
                    f": its other lines are UTF-8, but {len(lines)} line(s) are not (written "
                    "by another program, or pasted in another encoding)"
                    if len(lines) <= 5
                    else f" ({exc})"
                ),
                fix="retype or re-export those lines as UTF-8 (giving another encoding would "
                "garble the UTF-8 lines), or export the whole file again as UTF-8 CSV"
                if len(lines) <= 5
                else "export it again as UTF-8 CSV, or give its encoding (mapping file "
                '`encoding = "latin-1"`, or load(..., encoding=...))',
                file=str(path),
                examples=lines[:5],
            ) from exc
        name, others = detected
        notes.append(
            Message(
                N_(
                    "{file} is not UTF-8: read as {encoding} (detected by chardet; no character "
                    "was replaced; {others} would read it almost as plausibly). If names look "
                    "wrong, give the encoding (encoding=... or in the mapping file)."
                ),
                file=path.name,
                encoding=name,
                others=", ".join(others),
            )
            if others
            else Message(
                N_(
                    "{file} is not UTF-8: read as {encoding} (detected by chardet; no character "
                    "was replaced). If names look wrong, give the encoding (encoding=... or in "
                    "the mapping file)."
                ),
                file=path.name,
                encoding=name,
            )
        )
        return data.decode(name)  # detect_encoding only names an encoding that decodes it


# byte-order marks of the Unicode encodings other than UTF-8 (UTF-32 LE's starts as UTF-16 LE's,
# so it is tried first); Python's codecs read the byte order from the mark
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def unicode_encoding(data: bytes) -> str | None:
    """``"utf-16"`` / ``"utf-32"`` (with a byte-order mark), ``"utf-16-le"`` / ``"-be"``, or None.

    Excel's "Unicode Text" and some CRM exports are UTF-16 with a byte-order mark: certain
    from the first bytes. Without a mark, text whose first 64 bytes hold a NUL in every other
    byte (and none in the others) is UTF-16 in that byte order: a NUL byte never stands in
    text written in UTF-8 or in a one-byte encoding.

    >>> unicode_encoding("deal_id".encode("utf-16")), unicode_encoding(b"deal_id")
    ('utf-16', None)
    >>> unicode_encoding("deal_id,stage".encode("utf-16-le"))
    'utf-16-le'
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    head = data[: min(64, len(data) - len(data) % 2)]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) == len(odd) and 0 not in even:
        return "utf-16-le"
    if even.count(0) == len(even) and 0 not in odd:
        return "utf-16-be"
    return None


# UTF-8 read as a one-byte encoding: "Ã©" for "é", "Ã¶" for "ö", "â€™" for "’"
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf]|â€[\u0080-\u00bf™œ\u009d]")


def _lines_not_in(data: bytes, encoding: str, limit: int = 6) -> list[str]:
    """The first lines of ``data`` (up to ``limit``) that do not decode in ``encoding``.

    Each as ``line N: <its text, undecodable bytes shown as �>``.
    """
    found: list[str] = []
    start = 0
    while len(found) < limit:
        try:
            data[start:].decode(encoding)
            break
        except UnicodeDecodeError as exc:
            at = start + exc.start
        except LookupError:
            break
        begin = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        end = len(data) if end < 0 else end
        line = data.count(b"\n", 0, at) + 1
        text = data[begin:end].decode(encoding, errors="replace").strip()
        found.append(f"line {line}: {text[:80]}")
        start = end + 1
    return found


# Files above this size are detected on a sample of their lines (see detect_encoding).
DETECTION_SAMPLE_BYTES = 4 << 20
# The evidence chardet weighs: at most this many bytes of distinct non-ASCII fields
EVIDENCE_BYTES = 256 << 10
# A reading at least this share of the best one's confidence is "almost as plausible"
NEARLY_AS_LIKELY = 0.7


def detect_encoding(data: bytes) -> tuple[str, list[str]] | None:
    """(encoding, readings almost as plausible) of bytes that are not UTF-8, or None.

    chardet's most likely reading of the file's evidence (:func:`_evidence`) among the
    encodings that decode the whole file; Windows-1252 instead when it is almost as likely
    (:data:`NEARLY_AS_LIKELY`) or reads the evidence alike. The alternatives are the other
    readings almost as likely that give other text.

    A file over :data:`DETECTION_SAMPLE_BYTES` gives its evidence from a sample of whole lines
    spread over it (:func:`_detection_sample`); when the sample's reading does not decode
    the whole file, the whole file gives the evidence after all.
    """
    whole = _WholeFile(data)
    sample = _detection_sample(data)
    if sample is not None:
        found = _readings(_evidence(sample), _WholeFile(sample))
        if found is not None and whole.decodes(found[0]):
            return found[0], [other for other in found[1] if whole.decodes(other)]
    return _readings(_evidence(data), whole)


def _readings(evidence: bytes, whole: _WholeFile) -> tuple[str, list[str]] | None:
    import chardet

    results = chardet.detect_all(
        evidence,
        ignore_threshold=True,
        max_bytes=max(len(evidence), 1),
        prefer_superset=True,
        compat_names=False,
        encoding_era=chardet.EncodingEra.MODERN_WEB,
    )
    fitting = [
        (r["encoding"], r["confidence"])
        for r in results
        if r["encoding"] and whole.decodes(r["encoding"])
    ]
    if not fitting:
        return None
    fitting = _plausible(evidence, fitting)
    best, confidence = fitting[0]
    likely = [name for name, c in fitting if c >= NEARLY_AS_LIKELY * confidence]
    text = evidence.decode(best)
    # (a reading giving the same text, such as cp1250's of "José", is no other reading)
    alike = any(name == "cp1252" and evidence.decode(name) == text for name, _ in fitting)
    name = "cp1252" if "cp1252" in likely or alike else best
    text = evidence.decode(name)
    others: list[str] = []
    for other in likely:
        if other != name and evidence.decode(other) != text and len(others) < 3:
            others.append(other)
    return name, others


# Characters no export's names hold, which a wrong reading gives: box drawing and blocks
# (KOI8-R reads Chinese GBK bytes as "уен╟"), C1 control codes, the private use area
_NEVER_IN_NAMES = re.compile("[\u0080-\u009f\u2500-\u259f\ue000-\uf8ff]")
# A Latin letter joined to a letter of another script within a word: "Chlo谷" is Big5's
# reading of GBK's "Chloé", "إëفيç" Arabic's of Greek "Ελένη"
_LATIN, _OTHER = "A-Za-z\u00c0-\u024f", "^\\W\\d_A-Za-z\u00c0-\u024f"
_MIXED_WORD = re.compile(f"[{_LATIN}][{_OTHER}]|[{_OTHER}][{_LATIN}]")


def _plausible(evidence: bytes, fitting: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The readings of ``evidence`` by plausibility, then chardet's confidence.

    On a short file (a few names) chardet's confidences are all tiny (0.01-0.08) and its best
    reading may be nonsense: a 12-row GBK export with the names 张伟 and Chloé was read as
    KOI8-R ("уен╟", "Chlo╗╕"), and without KOI8 Big5 came first ("桲帡", "Chlo谷"). A reading
    giving a character no name holds (:data:`_NEVER_IN_NAMES`) is left out when another one
    gives none; among the readings nearly as likely as the best left, those with the fewest
    words joining a Latin letter to another script (:data:`_MIXED_WORD`), and not needing
    cp949's rare syllables (:func:`_rare_korean`), come first.
    """
    clean = [(n, c) for n, c in fitting if not _NEVER_IN_NAMES.search(evidence.decode(n))]
    if clean:
        fitting = clean + [r for r in fitting if r not in clean]
    top = fitting[0][1]
    likely = [r for r in fitting[: len(clean) or None] if r[1] >= NEARLY_AS_LIKELY * top]
    if len(likely) > 1:
        mixed = {
            n: len(_MIXED_WORD.findall(evidence.decode(n))) + _rare_korean(evidence, n)
            for n, _ in likely
        }
        ranked = sorted(likely, key=lambda r: mixed[r[0]])  # (stable: confidence next)
        fitting = ranked + [r for r in fitting if r not in likely]
    return fitting


def _rare_korean(evidence: bytes, encoding: str) -> int:
    """1 when ``encoding`` is cp949 and its reading needs cp949's rare syllables, else 0.

    Korean names are written with the 2,350 common syllables of EUC-KR (KS X 1001); cp949 adds
    8,822 rare ones, which is how it reads Japanese Shift-JIS bytes: 佐藤 花子 read as
    "뜴뱻 됓럔", chardet's best reading of a two-name Shift-JIS export.
    """
    return int(encoding == "cp949" and not _decodes(evidence, "euc_kr"))


_NON_ASCII = re.compile(rb"[\x80-\xff]+")
_FIELD_END = re.compile(rb"[,;\t\"\r\n]")


def _evidence(data: bytes) -> bytes:
    """The fields of ``data`` holding a byte outside ASCII, each once, one a line.

    Cut at the bytes that end a field in a CSV (comma, semicolon, tab, quote, line ends):
    these are below 0x40, so never part of a multi-byte character in GB18030, Big5,
    Shift-JIS or cp949. At most :data:`EVIDENCE_BYTES`. UTF-16 and UTF-32 text (NUL bytes
    near its start) is not cut: its first 64 KB are the evidence. The search stops once 5,000
    fields in a row were seen before (a few names repeated through a large file).
    """
    if b"\x00" in data[:65536]:
        return data[:65536]
    fields: dict[bytes, None] = {}
    size, end, stale = 0, 0, 0
    for match in _NON_ASCII.finditer(data):
        if match.start() < end:  # (another run of the same field)
            continue
        if stale > 5000:  # (5,000 fields in a row already seen: the rest repeats them too)
            break
        begin = max(data.rfind(b",", end, match.start()), data.rfind(b";", end, match.start()))
        begin = max(
            begin,
            data.rfind(b"\t", end, match.start()),
            data.rfind(b'"', end, match.start()),
            data.rfind(b"\n", end, match.start()),
            data.rfind(b"\r", end, match.start()),
        )
        stop = _FIELD_END.search(data, match.end())
        end = len(data) if stop is None else stop.start()
        field = data[begin + 1 : end]
        stale += 1
        if field not in fields:
            fields[field] = None
            stale = 0
            size += len(field) + 1
            if size >= EVIDENCE_BYTES:
                break
    return b"\n".join(fields)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


_ASCII = bytes(range(128))


@functools.cache
def _single_byte(encoding: str) -> bool:
    """Whether ``encoding`` reads each byte alone as one character, ASCII bytes included.

    Then a file decodes when each distinct byte in it does.
    """
    try:
        return (
            len(bytes(range(256)).decode(encoding, errors="replace")) == 256
            and len(b"\xc3\xa9".decode(encoding, errors="replace")) == 2
            and _decodes(_ASCII, encoding)
        )
    except LookupError:
        return False


class _WholeFile:
    """Whether a file's bytes decode in an encoding, checked on its distinct bytes.

    Only for an encoding that reads one byte at a time (:func:`_single_byte`); the others
    decode the whole file (a full decode of 145 MB takes 0.05-0.27 s each).
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._distinct: bytes | None = None

    def decodes(self, encoding: str) -> bool:
        if not _single_byte(encoding):
            return _decodes(self.data, encoding)
        if self._distinct is None:
            import numpy as np

            seen = np.zeros(256, dtype=bool)
            seen[np.frombuffer(self.data.translate(None, _ASCII), dtype=np.uint8)] = True
            self._distinct = bytes(np.flatnonzero(seen).astype(np.uint8))
        return _decodes(self._distinct, encoding)


def _detection_sample(data: bytes, windows: int = 64) -> bytes | None:
    """Whole lines of ``data`` for detecting its encoding, or None to detect it whole.

    Lines from ``windows`` places spread over the file and around its first byte that is not
    UTF-8, about :data:`DETECTION_SAMPLE_BYTES` in all. None for a file small enough to
    detect whole, or one that may not keep ASCII bytes as they are (NUL bytes near its start:
    UTF-16 or UTF-32, whose lines cannot be cut at a newline byte).
    """
    if len(data) <= DETECTION_SAMPLE_BYTES or b"\x00" in data[:65536]:
        return None
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        first_error = exc.start
    width = DETECTION_SAMPLE_BYTES // (windows + 1)
    starts = sorted(
        {max(first_error - width // 2, 0)}
        | {i * (len(data) - width) // (windows - 1) for i in range(windows)}
    )
    pieces, end = [], 0
    for start in starts:
        # (cut at newlines: a multi-byte character never holds the newline byte)
        begin = max(data.rfind(b"\n", 0, start) + 1, end)
        stop = data.find(b"\n", start + width)
        stop = len(data) if stop < 0 else stop + 1
        if begin < stop:
            pieces.append(data[begin:stop])
            end = stop
    return b"".join(pieces)
