"""The one findings model shared by spec checks, mapping problems and conformance rules.

Checks return findings; they never raise or print. A policy at the edge (the CLI, the pipeline)
decides what fails a run.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields


class Severity(enum.IntEnum):
    """Ordered so that `severity >= Severity.WARNING` reads naturally."""

    NOTICE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r}; expected one of {names}") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at one place. Fields follow the report.json contract of DESIGN.md."""

    code: str
    severity: Severity
    message: str
    dataset: str | None = None
    variable: str | None = None
    usubjid: str | None = None
    seq: float | int | None = None
    value: str | None = None
    expected: str | None = None
    file: str | None = None
    line: int | None = None
    explanation: str | None = None  # the sponsor's reason (specs/explanations.yaml): then it counts apart

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["severity"] = str(self.severity)
        return out

    def location(self) -> str:
        """A short human-readable place: `file:line key` or `DATASET.VARIABLE USUBJID`."""
        parts: list[str] = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.dataset:
            parts.append(f"{self.dataset}.{self.variable}" if self.variable else self.dataset)
        elif self.variable:
            parts.append(self.variable)
        if self.usubjid:
            parts.append(self.usubjid)
        if self.seq is not None:
            parts.append(f"seq {self.seq:g}" if isinstance(self.seq, float) else f"seq {self.seq}")
        return " ".join(parts)

    def __str__(self) -> str:
        where = self.location()
        text = f"{self.severity}: {self.code}: {where + ': ' if where else ''}{self.message}"
        return f"{text} [explained: {self.explanation}]" if self.explanation else text


FINDING_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Finding))


@dataclass
class Findings:
    """An ordered collection of findings with the counts the reports need."""

    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.items.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.items.extend(findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def at_least(self, severity: Severity) -> list[Finding]:
        """The unexplained findings at or above `severity` (what fails a run)."""
        return [f for f in self.items if f.severity >= severity and not f.explanation]

    def by_severity(self) -> dict[str, int]:
        """Unexplained findings per severity; the explained ones are counted by `explained`."""
        counts = Counter(str(f.severity) for f in self.items if not f.explanation)
        return {str(s): counts.get(str(s), 0) for s in sorted(Severity, reverse=True)}

    def explained(self) -> list[Finding]:
        return [f for f in self.items if f.explanation]

    def by_code(self) -> dict[str, int]:
        return dict(sorted(Counter(f.code for f in self.items).items()))

    def sorted(self) -> list[Finding]:
        """Deterministic order for reports: severity (high first), code, then place."""

        def key(f: Finding) -> tuple:
            return (
                -int(f.severity),
                f.code,
                f.file or "",
                f.line or 0,
                f.dataset or "",
                f.usubjid or "",
                float(f.seq) if f.seq is not None else -1.0,
                f.variable or "",
                f.value or "",
            )

        return sorted(self.items, key=key)
