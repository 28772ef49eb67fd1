"""The rule catalog: one registry, filled by the `rule` decorator, read by the runner and `list_rules`.

A rule is a function ``check_*(ctx) -> Iterable[Finding]`` whose docstring holds the rule text, a
``Bad:`` and a ``Good:`` example. The decorator records its stable code (``CDG`` + 4 digits), name,
severity, scope and reference, so `--list-rules`, the HTML report and the docs come from one place.
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdiscgen._findings import Finding, Severity

if TYPE_CHECKING:
    from cdiscgen.validate._context import ValidationContext

CODE_RE = re.compile(r"^CDG\d{4}$")
#: A published rule a check implements: a CDISC CORE rule (CORE-nnnnnn), an SDTM/SDTMIG conformance rule
#: (CGnnnn), an FDA business rule (FBnnnn), as the CDISC Open Rules catalogue cross-references them, or an
#: ADaM conformance check as that catalogue numbers its ADaMIG rules (ADnnnn).
#: CDISC CORE and SDTMIG/ADaMIG conformance rule IDs, FDA business rules, FDA Technical Rejection Criteria
#: (the eCTD validation numbers of the "Technical Rejection Criteria for Study Data", e.g. TRC1734)
PUBLISHED_RE = re.compile(r"^(CORE-\d{6}|CG\d{4}|FB\d{4}|AD\d{4}|TRC\d{4})$")


class Scope(enum.StrEnum):
    """Which datasets a rule looks at."""

    SDTM = "SDTM"
    ADAM = "ADaM"
    DEFINE = "define"
    ANY = "any"


class Partition(enum.StrEnum):
    """What a rule needs to see to give its findings (a large study is validated in subject partitions).

    SUBJECT: each finding is about one record and follows from that subject's records and the study-level
    datasets (those without USUBJID, held whole: TS, TA, TV...), or it is the same whatever the records
    (a dataset's variables or metadata): the rule runs on each subject partition.
    SUMMARISED: a finding compares records of different subjects only through summaries of the whole
    study that each partition's records add to (`ValidationContext.across`: the distinct pairings of two
    variables, the longest value of a variable): the rule runs on each subject partition twice, first to
    gather the summaries, then to judge its records by them.
    STUDY: a finding compares records of different subjects (one-to-one pairings, a value unique in the
    study, the longest value of a variable) or is about a dataset as a whole: the rule sees the whole study.
    """

    SUBJECT = "subject"
    SUMMARISED = "summarised"
    STUDY = "study"


@dataclass(frozen=True)
class RuleInfo:
    """What `--list-rules`, the reports and the docs show about one rule."""

    code: str
    name: str
    severity: Severity
    scope: Scope
    reference: str
    text: str
    bad: str = ""
    good: str = ""
    #: the published rules (CORE, CDISC conformance, FDA business rule IDs) this check implements
    published: tuple[str, ...] = ()
    partition: Partition = Partition.STUDY
    #: the datasets a STUDY rule reads besides those it reports on (it then sees them whole)
    reads: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": str(self.severity),
            "scope": str(self.scope),
            "published": ", ".join(self.published),
            "reference": self.reference,
            "text": self.text,
            "bad": self.bad,
            "good": self.good,
        }


CheckFunction = Callable[["ValidationContext", "Rule"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A registered rule: its documentation and the check that produces its findings."""

    info: RuleInfo
    check: CheckFunction = field(repr=False)

    @property
    def code(self) -> str:
        return self.info.code

    def __reduce_ex__(self, protocol: int) -> Any:
        """A registered rule goes between processes (a partition validated by a Dask worker) by its code:
        its check may be a closure (the rules written as data), and the receiver's registry holds it."""
        if _REGISTRY.get(self.code) is self:
            return (get_rule, (self.code,))
        return super().__reduce_ex__(protocol)

    def finding(
        self,
        message: str,
        *,
        dataset: str | None = None,
        variable: str | None = None,
        usubjid: str | None = None,
        seq: float | int | None = None,
        value: object = None,
        expected: object = None,
        file: str | None = None,
        line: int | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this rule (its code and severity unless `severity` overrides it)."""
        return Finding(
            code=self.info.code,
            severity=severity or self.info.severity,
            message=message,
            dataset=dataset,
            variable=variable,
            usubjid=usubjid or None,
            seq=seq,
            value=_text(value),
            expected=_text(expected),
            file=file,
            line=line,
        )


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return f"{value:g}" if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


_REGISTRY: dict[str, Rule] = {}


def _split_doc(doc: str) -> tuple[str, str, str]:
    """Rule text, bad example, good example from a docstring with `Bad:` and `Good:` paragraphs."""
    text_lines: list[str] = []
    bad: list[str] = []
    good: list[str] = []
    target = text_lines
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        if stripped.startswith("Bad:"):
            target = bad
            stripped = stripped[4:].strip()
        elif stripped.startswith("Good:"):
            target = good
            stripped = stripped[5:].strip()
        if stripped or target is text_lines:
            target.append(stripped)
    return " ".join(" ".join(text_lines).split()), " ".join(bad), " ".join(good)


def rule(
    code: str,
    name: str,
    *,
    severity: Severity,
    scope: Scope,
    reference: str,
    published: tuple[str, ...] = (),
    partition: Partition = Partition.STUDY,
    reads: tuple[str, ...] = (),
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check under a stable code; the docstring supplies the rule text and examples.
    `published` names the published rules it implements (CORE-nnnnnn, CGnnnn, FBnnnn, ADnnnn);
    `partition` what it must see (a rule sees the whole study unless it says SUBJECT); `reads` the datasets
    a STUDY rule reads besides the one each finding is about (SV for "a VISITNUM of the study's visits")."""
    if not CODE_RE.match(code):
        raise ValueError(f"rule code {code!r} must be CDG followed by 4 digits")
    wrong = [p for p in published if not PUBLISHED_RE.match(p)]
    if wrong:
        raise ValueError(f"rule {code}: {', '.join(wrong)} is not a CORE, CG, FB, AD or TRC rule ID")

    def decorate(func: CheckFunction) -> CheckFunction:
        if code in _REGISTRY:
            raise ValueError(
                f"rule code {code} is registered twice ({_REGISTRY[code].check.__name__}, {func.__name__})"
            )
        if not func.__doc__ or "Bad:" not in func.__doc__ or "Good:" not in func.__doc__:
            raise ValueError(
                f"rule {code} ({func.__name__}) needs a docstring with the rule text, Bad: and Good:"
            )
        text, bad, good = _split_doc(func.__doc__)
        info = RuleInfo(
            code, name, severity, scope, reference, text, bad, good, tuple(published), partition, tuple(reads)
        )
        _REGISTRY[code] = Rule(info, func)
        return func

    return decorate


def iter_rules() -> Iterator[Rule]:
    """Every registered rule in code order."""
    _load_catalog()
    for code in sorted(_REGISTRY):
        yield _REGISTRY[code]


def list_rules() -> list[RuleInfo]:
    """The catalog, in code order (what `cdiscgen validate --list-rules` prints)."""
    return [r.info for r in iter_rules()]


def get_rule(code: str) -> Rule:
    _load_catalog()
    return _REGISTRY[code]


_DECLARED_LOADED: list[bool] = []


def _load_catalog() -> None:
    # Importing the rule modules registers their rules (once; later imports are no-ops); the rules written
    # as data (rules/*.yaml) are registered once, after them.
    from cdiscgen.validate import (  # noqa: F401
        _rules_adam,
        _rules_adam_derived,
        _rules_define,
        _rules_metadata,
        _rules_sdtm,
        _runner,
    )

    if not _DECLARED_LOADED:
        _DECLARED_LOADED.append(True)
        from cdiscgen.validate._declared import load_declared_rules

        load_declared_rules()
