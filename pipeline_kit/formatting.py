"""Formatting numbers for people: percentages, money, days, with a dash for missing values.

Numbers, percentages, money and dates are formatted by Babel (CLDR) for the report's language
(``en``, ``zh_Hans``, ``zh_Hant``, ``ms``) and currency (an ISO 4217 code: ``USD`` default,
``EUR``, ``MYR``, ``CNY``, ``TWD``, ...), through a :class:`Formatter`. Values are rounded the
way Python's format specifications round them before Babel lays them out, so the English
output of ``Formatter("en", "USD")`` is the kit's historical one ("$1.23M", "33.0%").

The module functions :func:`fmt_pct`, :func:`fmt_money` and :func:`fmt_days` and the
:data:`FORMAT` table are the English, US-dollar formatter.

>>> Formatter("ms", "MYR").money(21986), Formatter("zh-Hans", "CNY").money(1234567)
('RM21,986', '¥123.46万')
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from babel import Locale
from babel import dates as _dates
from babel import numbers as _numbers

from pipeline_kit.i18n import gettext, localised, normalise_lang

__all__ = [
    "FORMAT",
    "Formatter",
    "as_float",
    "currency_code",
    "fmt_days",
    "fmt_money",
    "fmt_pct",
    "missing",
]


def as_float(value: object) -> float | None:
    """A polars scalar aggregate (``Series.sum()``, ``.mean()``, ``.max()``) as a float.

    None stays None. polars types these aggregates as any Python value a column can hold; the
    columns formatted are numbers, so anything else is a bug and raises.

    >>> as_float(3), as_float(None)
    (3.0, None)
    """
    if value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


# the kit's formats took a symbol before they took an ISO code: "$" still means US dollars
_LEGACY_SYMBOLS = {"$": "USD"}


def missing(x: float | None) -> bool:
    """True for ``None`` and NaN: a value shown as a dash.

    >>> missing(None), missing(float("nan")), missing(0.0)
    (True, True, False)
    """
    return x is None or (isinstance(x, float) and math.isnan(x))


def currency_code(currency: str) -> str:
    """The ISO 4217 code ``currency`` names ("usd" -> "USD"); anything else -> ValueError.

    >>> currency_code("myr"), currency_code("$")
    ('MYR', 'USD')
    """
    code = _LEGACY_SYMBOLS.get(currency, str(currency).strip().upper())
    if len(code) == 3 and code.isalpha() and _numbers.is_currency(code):
        return code
    raise ValueError(
        f"unknown currency {currency!r}: give an ISO 4217 code of three letters such as "
        "'USD', 'EUR', 'MYR', 'CNY' or 'TWD' (not a symbol like '€' or 'RM')"
    )


def _rounded(x: float, digits: int) -> Decimal:
    """``x`` rounded as ``f"{x:.{digits}f}"`` rounds it (Babel then lays it out unchanged)."""
    return Decimal(f"{x:.{digits}f}")


@dataclass(frozen=True)
class Formatter:
    """Numbers, shares, money, days and dates in one language and currency.

    Parameters
    ----------
    lang
        The report language: ``"en"``, ``"zh-Hans"``, ``"zh-Hant"`` or ``"ms"``.
    currency
        ISO 4217 code of the amounts (the symbol comes from Babel for ``lang``).

    >>> f = Formatter("en", "USD")
    >>> f.money(1234567), f.money(-21986), f.pct(0.3295), f.days(50.73)
    ('$1.23M', '-$21,986', '33.0%', '50.7 days')
    >>> Formatter("zh-Hant", "TWD").money(21986), Formatter("ms").money(None)
    ('$21,986', '–')
    """

    lang: str = "en"
    currency: str = "USD"
    compact_money: bool = False
    """Every amount in compact form ("$637.6K"), set by :meth:`side_by_side`."""
    _: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lang", normalise_lang(self.lang))
        object.__setattr__(self, "currency", currency_code(self.currency))
        object.__setattr__(self, "_", gettext(self.lang))

    def text(self, message: object) -> str:
        """A loader note, problem text or reason (an i18n ``Message``) in this language.

        >>> from pipeline_kit.i18n import Message
        >>> Formatter("zh-Hans").text(Message("{n} deals have no account", n=1425))
        '1,425 deals have no account'
        """
        return localised(message, self._, self.number)

    # ------------------------------------------------------------------ numbers
    def number(self, x: float | None, digits: int = 0) -> str:
        """A number with grouping and ``digits`` decimals; missing -> '–'.

        >>> Formatter("ms").number(1234567.891, 2), Formatter().number(None)
        ('1,234,567.89', '–')
        >>> Formatter().number(float("inf")), Formatter().number(3.2e40)
        ('∞', '3.2e+40')

        """
        if x is None or missing(x):
            return "–"
        if math.isinf(x):  # (an interval without a finite end)
            return "∞" if x > 0 else "-∞"
        if abs(x) >= 1e15:  # (beyond the decimal digits Babel rounds to)
            return f"{x:.3g}"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return _numbers.format_decimal(_rounded(x, digits), pattern, locale=self.lang)

    def pct(self, x: float | None, digits: int = 1) -> str:
        """A share as a percentage; missing -> '–'.

        >>> Formatter("zh-Hans").pct(0.3295), Formatter("ms").pct(0.3295, 0)
        ('33.0%', '33%')
        """
        if x is None or missing(x):
            return "–"
        pattern = "0" + ("." + "0" * digits if digits else "") + "%"
        # Python's "%" format multiplies the float by 100, then rounds: same here
        value = _rounded(x * 100, digits) / 100
        return _numbers.format_percent(value, pattern, locale=self.lang)

    def money(self, x: float | None) -> str:
        """An amount: whole units below a million, compact above ("$1.23M"); missing -> '–'.

        Compact forms are CLDR's for the language (万 in Chinese, J for juta in Malay).

        >>> Formatter("ms", "MYR").money(1234567), Formatter("en", "EUR").money(-21986)
        ('RM1.23J', '-€21,986')
        """
        if x is None or missing(x):
            return "–"
        x = x or 0.0  # -0.0 is shown as 0, as it always was
        if self.compact_money and abs(x) < 1e6:
            return _numbers.format_compact_currency(
                x, self.currency, locale=self.lang, fraction_digits=2
            )
        if abs(x) < 1e6:
            pattern = Locale.parse(self.lang).currency_formats["standard"].pattern
            pattern = pattern.split(";")[0].replace(".00", "")
            return _numbers.format_currency(
                _rounded(x, 0), self.currency, pattern, locale=self.lang, currency_digits=False
            )
        if self.lang == "en":  # "$1.23M", also past a billion ("$1,234.57M"), as always
            pattern = Locale.parse("en").currency_formats["standard"].pattern
            millions = _numbers.format_currency(
                _rounded(x / 1e6, 2), self.currency, pattern, locale="en", currency_digits=False
            )
            return millions + "M"
        return _numbers.format_compact_currency(
            x, self.currency, locale=self.lang, fraction_digits=2
        )

    def side_by_side(self, amounts: Iterable[float | None]) -> Formatter:
        """The same formatter, its amounts all compact when one of ``amounts`` reaches a million.

        For figures read side by side (a table row or column): "$637.6K | $3.28M" rather
        than "$637,600 | $3.28M". Amounts below a million stay whole otherwise.

        >>> f = Formatter().side_by_side([637_600, 3_280_000, None])
        >>> f.money(637_600), f.money(3_280_000), f.money(-4_500)
        ('$637.6K', '$3.28M', '-$4.5K')
        >>> Formatter().side_by_side([637_600, 21_986]).money(637_600)
        '$637,600'
        """
        big = any(x is not None and not missing(x) and abs(x) >= 1e6 for x in amounts)
        return replace(self, compact_money=True) if big and not self.compact_money else self

    def days(self, x: float | None) -> str:
        """A duration in days, one decimal; missing -> '–'.

        >>> Formatter("ms").days(50.73), Formatter("zh-Hant").days(2)
        ('50.7 hari', '2.0 天')
        """
        return "–" if x is None or missing(x) else self._("{n} days").format(n=self.number(x, 1))

    def hours(self, x: float | None) -> str:
        """A duration in hours, one decimal; missing -> '–'.

        >>> Formatter().hours(3.25), Formatter("zh-Hans").hours(3.25)
        ('3.2 h', '3.2 小时')
        """
        return "–" if x is None or missing(x) else self._("{n} h").format(n=self.number(x, 1))

    def ratio(self, x: float | None) -> str:
        """A ratio such as CLV:CAC, two decimals and an x; missing -> '–'.

        >>> Formatter("ms").ratio(3.456)
        '3.46x'
        """
        return "–" if x is None or missing(x) else f"{self.number(x, 2)}x"

    def difference(self, x: float | None) -> str:
        """A difference of two shares in percentage points, signed; missing -> '–'.

        >>> Formatter().difference(0.052), Formatter("zh-Hans").difference(-0.052)
        ('+5.2 pts', '-5.2 个百分点')
        """
        if x is None or missing(x):
            return "–"
        sign = f"{x * 100:+.1f}"[0]  # "-0.0" keeps its sign, as Python writes it
        points = _numbers.format_decimal(_rounded(abs(x * 100), 1), "0.0", locale=self.lang)
        return self._("{n} pts").format(n=sign + points)

    def date(self, day: dt.date | None) -> str:
        """A day: ISO in English ("2025-12-31"), the language's long form otherwise.

        >>> day = dt.date(2025, 12, 31)
        >>> Formatter().date(day), Formatter("zh-Hans").date(day), Formatter("ms").date(day)
        ('2025-12-31', '2025年12月31日', '31 Disember 2025')
        """
        if day is None:
            return "–"
        if self.lang == "en":
            return day.isoformat()
        return _dates.format_date(day, "long", locale=self.lang)

    def translate(self, text: str) -> str:
        """``text`` computed at run time (a flag, a note) in the language, if the catalog has it.

        >>> Formatter("zh-Hans").translate("above"), Formatter("ms").translate("unknown text")
        ('高于', 'unknown text')
        """
        return self._(text)

    # ------------------------------------------------------------------ tables
    def by_unit(self) -> dict[str, Callable[[float | None], str]]:
        """How a figure of each catalogue unit (share, currency, days, ...) is shown.

        >>> Formatter("ms", "MYR").by_unit()["currency"](21986)
        'RM21,986'
        """
        return {
            "share": self.pct,
            "currency": self.money,
            "days": self.days,
            "count": self.number,
            "hours": self.hours,
            "ratio": self.ratio,
            "difference": self.difference,
        }

    @property
    def symbol(self) -> str:
        """The currency's symbol in the language ("$", "US$", "RM", "¥", ...)."""
        return _numbers.get_currency_symbol(self.currency, locale=self.lang)

    def vega_locale(self) -> dict[str, object]:
        """The Vega number locale of charts: d3's ``$`` format symbol shows this currency.

        >>> Formatter("ms", "MYR").vega_locale()["number"]["currency"]
        ['RM', '']
        """
        symbols = Locale.parse(self.lang).number_symbols["latn"]
        pattern = Locale.parse(self.lang).currency_formats["standard"].pattern.split(";")[0]
        suffix = pattern.strip().endswith("¤")
        currency = ["", "\u00a0" + self.symbol] if suffix else [self.symbol, ""]
        return {
            "number": {
                "decimal": symbols["decimal"],
                "thousands": symbols["group"],
                "grouping": [3],
                "currency": currency,
            }
        }


_ENGLISH = Formatter()


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage; missing -> '–'.

    >>> fmt_pct(0.3295), fmt_pct(0.3295, digits=0), fmt_pct(None)
    ('33.0%', '33%', '–')
    """
    return _ENGLISH.pct(x, digits)


def fmt_money(x: float | None, currency: str = "USD") -> str:
    """An amount: millions with two decimals, else whole units; missing -> '–'.

    ``currency`` is an ISO 4217 code; the symbol is the one English uses for it.

    >>> fmt_money(1234567), fmt_money(21986), fmt_money(-21986, "EUR"), fmt_money(float("nan"))
    ('$1.23M', '$21,986', '-€21,986', '–')
    """
    formatter = _ENGLISH if currency in ("USD", "$") else Formatter("en", currency)
    return formatter.money(x)


def fmt_days(x: float | None) -> str:
    """A duration in days, one decimal; missing -> '–'.

    >>> fmt_days(50.73), fmt_days(None)
    ('50.7 days', '–')
    """
    return _ENGLISH.days(x)


FORMAT: dict[str, Callable[[float | None], str]] = _ENGLISH.by_unit()
