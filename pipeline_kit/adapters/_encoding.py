"""The encoding of an export that is not UTF-8: detected, and said in a note.

charset-normalizer proposes readings; the kit keeps the least chaotic, prefers Windows-1252
among equals, sets aside a Korean reading of what looks like Chinese text, and detects a large
file on a sample of its lines (every encoding named must still decode the whole file).
"""

from __future__ import annotations

import functools
from pathlib import Path

from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message

__all__ = ["DETECTION_SAMPLE_BYTES", "decode", "detect_encoding"]


def decode(data: bytes, path: Path, encoding: str | None, notes: list[str]) -> str:
    """The file's text, never decoded with replacement characters.

    UTF-8 (with or without BOM) as is; anything else detected by charset-normalizer and said
    in a note.
    """
    if encoding is not None:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise DataError(
                problem=f"the file cannot be read as {encoding}: {exc}",
                fix="check the encoding given for this file (or leave it out to detect it)",
                file=str(path),
            ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        detected = detect_encoding(data)
        if detected is None:
            raise DataError(
                problem=f"the file is not UTF-8 and its encoding cannot be recognised ({exc})",
                fix="export it again as UTF-8 CSV, or give its encoding (mapping file "
                '`encoding = "latin-1"`, or load(..., encoding=...))',
                file=str(path),
            ) from exc
        name, others = detected
        notes.append(
            Message(
                N_(
                    "{file} is not UTF-8: read as {encoding} (detected by charset-normalizer; no "
                    "character was replaced; {others} would read it as plausibly). If names look "
                    "wrong, give the encoding (encoding=... or in the mapping file)."
                ),
                file=path.name,
                encoding=name,
                others=", ".join(others),
            )
            if others
            else Message(
                N_(
                    "{file} is not UTF-8: read as {encoding} (detected by charset-normalizer; no "
                    "character was replaced). If names look wrong, give the encoding "
                    "(encoding=... or in the mapping file)."
                ),
                file=path.name,
                encoding=name,
            )
        )
        return data.decode(name)  # detect_encoding only names an encoding that decodes it


# Files above this size are detected on a sample of their lines (see detect_encoding).
DETECTION_SAMPLE_BYTES = 4 << 20


def detect_encoding(data: bytes) -> tuple[str, list[str]] | None:
    """(encoding, equally plausible alternatives) of bytes that are not UTF-8, or None.

    The least chaotic readings of charset-normalizer (a Korean reading of what looks like
    Chinese text left out, :func:`_plausible_script`); among equals, Windows-1252 (what Excel
    writes on Western systems) before the detector's own order. A reading that Windows-1252
    gives identically (``could_be_from_charset``) counts as Windows-1252: charset-normalizer
    reports a short Latin-1 file as cp1250 or even cp775 with cp1252 only listed there.

    charset-normalizer decodes the whole input with every candidate (2.6 s for 145 MB), so a
    file over :data:`DETECTION_SAMPLE_BYTES` is detected on a sample of whole lines spread over
    it (:func:`_detection_sample`), and every encoding named is then checked to decode the
    whole file; when the sample's choice does not, the whole file is detected after all.
    """
    sample = _detection_sample(data)
    if sample is not None:
        found = _least_chaotic(sample)
        if found is not None:
            whole = _WholeFile(data)
            if whole.decodes(found[0]):
                return found[0], [other for other in found[1] if whole.decodes(other)]
    return _least_chaotic(data)


def _least_chaotic(data: bytes) -> tuple[str, list[str]] | None:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    # (a match's text is decoded only for a Korean reading: str(m) decodes the whole input)
    plausible = [
        m for m in matches if not _korean(m.encoding) or _plausible_script(m.encoding, str(m))
    ]
    matches = plausible or matches
    fewest = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos == fewest]
    best = next((m for m in tied if "cp1252" in m.could_be_from_charset), tied[0])
    name = best.encoding
    if "cp1252" in best.could_be_from_charset and _decodes(data, "cp1252"):
        name = "cp1252"
    return name, [m.encoding for m in tied if m is not best][:3]


# Korean code pages: text in them is written in Hangul, with few Chinese characters (Hanja)
_KOREAN = {"cp949", "euc_kr", "johab", "iso2022_kr", "uhc", "ks_c_5601_1987"}


def _plausible_script(encoding: str, text: str) -> bool:
    """Whether ``text`` could have been written in ``encoding``'s language.

    charset-normalizer often reads Chinese names saved as GBK (what Excel writes on Chinese
    Windows) as Korean, cp949: the bytes decode there too, as Hangul mixed with rare Hanja.
    Korean text is mostly Hangul, so a Korean reading in which at least 20 of the Hangul and
    Chinese characters, and more than a tenth of them, are Chinese is not kept when another
    reading exists.
    """
    if not _korean(encoding):
        return True
    hangul = sum(1 for c in text if "\uac00" <= c <= "\ud7a3")
    hanja = sum(1 for c in text if "\u4e00" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff")
    return hanja < 20 or hanja <= 0.1 * (hangul + hanja)


def _korean(encoding: str) -> bool:
    return encoding.lower().replace("-", "_") in _KOREAN


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
