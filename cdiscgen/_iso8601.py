"""The shapes of ISO 8601 date/time text in SDTM (SDTMIG 3.4 section 4.4), as regular expressions shared by
the mapping engine, the ADaM date readers and the validator.

Right-truncated: ``2024``, ``2024-03``, ``2024-03-05``, ``2024-03-05T10``, ``2024-03-05T10:20``,
``2024-03-05T10:20:30`` (optional fraction and time zone). Placeholder form (SDTMIG 4.4.4): a hyphen stands
for a missing component in the middle (``2024---05``, ``--03-05``, ``2024-03--T10:20``, ``2024-03-05T-:20``).
"""

from __future__ import annotations

_TZ = r"(Z|[+-]\d{2}(:\d{2})?)?"
STRICT = rf"\d{{4}}(-\d{{2}}(-\d{{2}}(T\d{{2}}(:\d{{2}}(:\d{{2}}(\.\d+)?)?)?{_TZ})?)?)?"
PLACEHOLDER = (
    r"(?P<year>\d{4}|-)(-(?P<month>\d{2}|-)(-(?P<day>\d{2}|-)"
    r"(T(?P<hour>\d{2}|-)(:(?P<minute>\d{2}|-)(:(?P<second>\d{2})(\.\d+)?)?)?)?)?)?"
)
# the date components known from the start of a value, up to the first missing one (2024-03--T10:20 ->
# 2024-03; 2024---05 -> 2024)
KNOWN_DATE_PREFIX = r"^(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?:$|[-T])"
