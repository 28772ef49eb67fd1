"""Declarable date formats for the `iso8601` rule: a format is a pattern of tokens and separators.

Tokens (upper case in the pattern; the data are matched case-insensitively):
- `YYYY` four-digit year; `YY` two-digit year (the rule must give `pivot_year`: YY is the year in
  [pivot_year, pivot_year + 99], e.g. pivot 1950: 49 -> 2049, 50 -> 1950)
- `MM` or `M` month number; `MON` month abbreviation (JAN..DEC); `MONTH` month name (JANUARY..)
- `DD` or `D` day number
- `UN`, `UNK` a part recorded as unknown (matches UN or UNK, and the rule's `unknown:` tokens)
- `HH`, `MI`, `SS` hours, minutes, seconds of a time recorded in the same field (`T` is a literal)
Anything else is a separator matched literally; a space matches one or more spaces.

With `unknown: [UN, UNK, ...]` on the rule, the day and month positions also accept those tokens: the
part is then unknown and the ISO 8601 value is partial (right-truncated: `2019-09` for an unknown day,
`2019` for an unknown month and day; an unknown month with a known day is `2019---20`, SDTMIG 3.4
section 4.4.2). The named formats of earlier releases (YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, DDMONYYYY,
DD-MON-YYYY, UN-MON-YYYY, UNK-UNK-YYYY, YYYY-MM, YYYY) are such patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTH_NAMES = (
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
)
MONTH_NUMBER = {m: i for i, m in enumerate(MONTHS, start=1)} | {
    m: i for i, m in enumerate(MONTH_NAMES, start=1)
}
# longest first, so that MONTH wins over MON and MM, YYYY over YY, UNK over UN
TOKENS = ("YYYY", "MONTH", "MON", "UNK", "YY", "MM", "DD", "UN", "HH", "MI", "SS", "M", "D")
_PART_OF = {"YYYY": "y", "YY": "yy", "MONTH": "mon", "MON": "mon", "MM": "m", "M": "m", "DD": "d", "D": "d"}
_PART_OF |= {"HH": "h", "MI": "mi", "SS": "s"}
BUILTIN_FORMATS = (
    "YYYY-MM-DD",
    "DD/MM/YYYY",
    "MM/DD/YYYY",
    "DDMONYYYY",
    "DD-MON-YYYY",
    "UN-MON-YYYY",
    "UNK-UNK-YYYY",
    "YYYY-MM",
    "YYYY",
)


class DateFormatError(ValueError):
    """A declared date format that is not a valid pattern; the message says why."""


@dataclass(frozen=True)
class DateFormat:
    pattern: str
    regex: str
    tokens: tuple[str, ...]
    shape: str  # the pattern with day and month number tokens made alike (to find ambiguous pairs)

    @property
    def order(self) -> str:
        """The order of day and month in the pattern ("DM", "MD" or ""): two formats that are the same
        but for that order make a date such as 03/04/2024 ambiguous."""
        parts = [_PART_OF.get(t) for t in self.tokens]
        return "".join("D" if p == "d" else "M" for p in parts if p in ("d", "m"))

    @property
    def uses_two_digit_year(self) -> bool:
        return "YY" in self.tokens


def _tokenize(pattern: str) -> list[tuple[str, str]]:
    """(kind, text) pairs: kind "token" or "literal"."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        for token in TOKENS:
            if pattern.startswith(token, i):
                out.append(("token", token))
                i += len(token)
                break
        else:
            ch = pattern[i]
            if ch.isalpha() and ch != "T":
                raise DateFormatError(
                    f"{pattern!r}: {pattern[i:]!r} is not a date token "
                    f"({', '.join(TOKENS)}; other letters than the time separator T are not allowed)"
                )
            out.append(("literal", ch))
            i += 1
    return out


@lru_cache(maxsize=256)
def compile_date_format(pattern: str, unknown: tuple[str, ...] = ()) -> DateFormat:
    """The regular expression of a date pattern (see the module doc); DateFormatError when invalid."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise DateFormatError(f"{pattern!r}: a date format must be a non-empty pattern")
    parts = _tokenize(pattern)
    unknown_alt = "|".join(
        sorted({"UNK", "UN", *(re.escape(u.strip().upper()) for u in unknown)}, key=len, reverse=True)
    )
    seen: dict[str, str] = {}
    regex = ["^"]
    tokens: list[str] = []
    shape = "".join(
        "N" if kind == "token" and text in ("DD", "D", "MM", "M") else text for kind, text in parts
    )
    for kind, text in parts:
        if kind == "literal":
            regex.append(r"\s+" if text == " " else re.escape(text))
            continue
        tokens.append(text)
        if text in ("UN", "UNK"):
            regex.append(f"(?:{unknown_alt})")
            continue
        part = _PART_OF[text]
        family = {"y": "year", "yy": "year", "m": "month", "mon": "month", "d": "day"}.get(part, part)
        if family in seen:
            raise DateFormatError(f"{pattern!r}: the {family} appears twice ({seen[family]} and {text})")
        seen[family] = text
        extra = f"|{unknown_alt}" if unknown and part in ("m", "mon", "d") else ""
        body = {
            "y": r"\d{4}",
            "yy": r"\d{2}",
            "m": r"\d{1,2}",
            "mon": "|".join(MONTHS),
            "d": r"\d{1,2}",
            "h": r"\d{1,2}",
            "mi": r"\d{2}",
            "s": r"\d{2}",
        }[part]
        if text == "MONTH":
            body = "|".join(MONTH_NAMES)
        regex.append(f"(?P<{part}>{body}{extra})")
    regex.append("$")
    if "year" not in seen:
        raise DateFormatError(f"{pattern!r}: a date format needs a year (YYYY or YY)")
    if "day" in seen and "month" not in seen and not {"UN", "UNK"} & set(tokens):
        raise DateFormatError(f"{pattern!r}: a day without a month is not a date")
    if "h" in seen and not ("day" in seen and "month" in seen):
        raise DateFormatError(f"{pattern!r}: a time (HH) needs a full date (day and month)")
    if ("mi" in seen) != ("h" in seen) or ("s" in seen and "mi" not in seen):
        raise DateFormatError(f"{pattern!r}: a time needs HH and MI (SS is optional)")
    return DateFormat(pattern, "".join(regex), tuple(tokens), shape)


def ambiguous_pairs(formats: list[DateFormat]) -> list[tuple[str, str]]:
    """Pairs of formats that read the same text with day and month swapped (e.g. DD/MM/YYYY and MM/DD/YYYY)."""
    out = []
    for i, a in enumerate(formats):
        for b in formats[i + 1 :]:
            if a.shape == b.shape and a.order != b.order and len(a.order) == len(b.order) == 2:
                out.append((a.pattern, b.pattern))
    return out
