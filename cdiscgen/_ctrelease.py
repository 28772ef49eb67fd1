"""Reading an NCI EVS release of CDISC Controlled Terminology (the SDTM `.txt`, the ADaM `.csv`).

Each row is a codelist (no `Codelist Code`) or a term of one: `Code`, `Codelist Code`, `Codelist
Extensible (Yes/No)`, `Codelist Name`, `CDISC Submission Value`, `CDISC Synonym(s)`, `CDISC Definition`,
`NCI Preferred Term`. A codelist of codelists.yaml that names a release (`release: sdtm_ct`, a key of
study.yaml's `ct_files`) takes its terms, their C-codes and decodes (the NCI preferred term) from here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["CtRelease", "CtReleaseError", "ReleaseCodelist", "ReleaseTerm", "read_ct_release"]

_COLUMNS = (
    "Code",
    "Codelist Code",
    "Codelist Extensible (Yes/No)",
    "Codelist Name",
    "CDISC Submission Value",
    "NCI Preferred Term",
)


class CtReleaseError(ValueError):
    """A CT release file that cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class ReleaseTerm:
    value: str
    code: str
    decode: str


@dataclass(frozen=True)
class ReleaseCodelist:
    code: str
    name: str
    submission_value: str
    extensible: bool
    terms: tuple[ReleaseTerm, ...]


@dataclass(frozen=True)
class CtRelease:
    path: Path
    codelists: dict[str, ReleaseCodelist]  # by C-code


def read_ct_release(path: Path | str) -> CtRelease:
    """The codelists of a CT release file; read once per version of the file."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise CtReleaseError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return _read(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _read(path: str, _size: int, _mtime_ns: int) -> CtRelease:
    delimiter = "\t" if path.lower().endswith(".txt") else ","
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise CtReleaseError(
                    f"{path}:1: not an NCI CT release: column(s) {', '.join(missing)} missing"
                )
            heads: dict[str, dict[str, str]] = {}
            terms: dict[str, list[ReleaseTerm]] = {}
            for row in reader:
                code, parent = (row["Code"] or "").strip(), (row["Codelist Code"] or "").strip()
                if not code:
                    raise CtReleaseError(f"{path}:{reader.line_num}: a row without a Code")
                if parent:
                    value = (row["CDISC Submission Value"] or "").strip()
                    decode = (row["NCI Preferred Term"] or "").strip() or value
                    terms.setdefault(parent, []).append(ReleaseTerm(value, code, decode))
                else:
                    heads[code] = row
    except UnicodeDecodeError as exc:
        raise CtReleaseError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise CtReleaseError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    codelists = {
        code: ReleaseCodelist(
            code=code,
            name=(row["Codelist Name"] or "").strip(),
            submission_value=(row["CDISC Submission Value"] or "").strip(),
            extensible=(row["Codelist Extensible (Yes/No)"] or "").strip().lower() == "yes",
            terms=tuple(terms.get(code, ())),
        )
        for code, row in heads.items()
    }
    return CtRelease(Path(path), codelists)
