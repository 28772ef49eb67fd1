"""report.html: one self-contained page (static HTML + CSS, no script) a reviewer can read offline.

Layout, as a regulatory reviewer reads it: the counts by severity; a summary table with one row per
code (name, source, severity, count, datasets, reference); then one collapsible section per code with
the rule text, its bad/good example and reference, and the findings (dataset, USUBJID, --SEQ, variable,
value, expected, message), capped per code with a count of the rest (report.json and report.xlsx keep
every finding). Sections of errors are open; warnings and notices start collapsed. A validation run adds
the standards and CT versions checked against and a "Rules run" table: every rule with its status (issues,
clean, not applicable because the data it checks is absent, failed) and the datasets it examined, so
"no findings" can be told from "not checked".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path

from cdiscgen._findings import Finding, Findings, Severity
from cdiscgen.report._common import (
    FindingsLike,
    as_findings,
    code_name,
    code_source,
    rejection_rows,
    rule_index,
    rule_order,
    rules_run_rows,
    rules_run_sentence,
    write_atomic,
)
from cdiscgen.validate import RuleInfo, ValidationResult

#: Detail rows shown per code; the rest are counted (report.json and report.xlsx hold them all).
MAX_ROWS_PER_RULE = 200

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1280px;
color:#1d2433;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #dde4ee;padding-bottom:.2rem}
.meta{color:#5b6577}
table{border-collapse:collapse;width:100%;font-size:.86rem;margin:.5rem 0}
th,td{border:1px solid #dde4ee;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f4f9;position:sticky;top:0}tr:nth-child(even) td{background:#fafbfd}
td.n{text-align:right;font-variant-numeric:tabular-nums}.nw{white-space:nowrap}
td.v{font-family:ui-monospace,monospace;font-size:.82rem;word-break:break-word;max-width:22rem}
.sev{display:inline-block;border-radius:3px;padding:0 .4rem;font-weight:600;font-size:.8rem}
.error{background:#fde2e1;color:#a61b1b}.warning{background:#fff1cc;color:#7a5300}.notice{background:#e0f0ff;color:#13508a}
.cards{display:flex;gap:1rem;margin:1rem 0;flex-wrap:wrap}
.card{border:1px solid #dde4ee;border-radius:6px;padding:.6rem 1rem;min-width:8rem}
.card b{display:block;font-size:1.6rem}
details.rule{border:1px solid #dde4ee;border-radius:6px;margin:.8rem 0;padding:0 .8rem}
details.rule[open]{padding-bottom:.6rem}
summary{cursor:pointer;padding:.5rem 0;font-weight:600;font-size:1.05rem}
summary .cnt{color:#5b6577;font-weight:400}
.doc p{margin:.25rem 0}.ex{font-family:ui-monospace,monospace;font-size:.85rem}
.more{color:#5b6577;font-style:italic}code{font-family:ui-monospace,monospace}
.ok{color:#1c6b35;font-weight:600}
.st{display:inline-block;border-radius:3px;padding:0 .4rem;font-size:.8rem}
.st-issues{background:#fff1cc}.st-clean{background:#ddf3e4;color:#1c6b35}.st-failed{background:#fde2e1;color:#a61b1b}
.st-na{background:#eef0f4;color:#5b6577}
"""

#: (header, cell) of the detail table; a column empty for every row of a code is left out.
_DETAIL_COLUMNS = (
    ("Dataset", lambda f: _e(f.dataset), "nw"),
    ("USUBJID", lambda f: _e(f.usubjid), "nw"),
    ("--SEQ", lambda f: _seq(f), "n"),
    ("Variable", lambda f: _e(f.variable), "nw"),
    ("Value", lambda f: _e(f.value), "v"),
    ("Expected", lambda f: _e(f.expected), "v"),
    ("Message", lambda f: _e(f.message), ""),
    ("File", lambda f: _place(f), "nw"),
    ("Explanation", lambda f: _e(f.explanation), ""),
)
#: Always shown, even when empty for every finding of a code (what a reviewer looks for first).
_ALWAYS = frozenset({"Dataset", "USUBJID", "Variable", "Message"})


def _e(value: object) -> str:
    return "" if value is None else escape(str(value))


def _sev(severity: Severity | str) -> str:
    s = str(severity)
    return f'<span class="sev {s}">{s}</span>'


def _place(f: Finding) -> str:
    if not f.file:
        return ""
    return f"{_e(f.file)}:{f.line}" if f.line else _e(f.file)


def _seq(f: Finding) -> str:
    if f.seq is None:
        return ""
    return f"{f.seq:g}" if isinstance(f.seq, float) else str(f.seq)


def _datasets(rows: list[Finding], limit: int = 6) -> str:
    names = sorted({f.dataset for f in rows if f.dataset})
    if not names:
        files = sorted({f.file for f in rows if f.file})
        return ", ".join(_e(x) for x in files[:limit])
    more = f" +{len(names) - limit}" if len(names) > limit else ""
    return ", ".join(_e(n) for n in names[:limit]) + more


def _details(code: str, rows: list[Finding], info: RuleInfo | None, name: str, max_rows: int) -> list[str]:
    worst = max(f.severity for f in rows)
    is_open = " open" if any(f.severity >= Severity.ERROR and not f.explanation for f in rows) else ""
    out = [
        f'<details class="rule" id="rule-{_e(code)}"{is_open}>',
        f'<summary id="{_e(code)}">{_sev(worst)} <code>{_e(code)}</code> {_e(name if name != code else "")} '
        f'<span class="cnt">&middot; {len(rows)} finding(s) &middot; {_datasets(rows)}</span></summary>',
        '<div class="doc">',
    ]
    if info:
        out.append(f"<p>{_e(info.text)}</p>")
        if info.bad:
            out.append(f'<p><b>Bad:</b> <span class="ex">{_e(info.bad)}</span></p>')
        if info.good:
            out.append(f'<p><b>Good:</b> <span class="ex">{_e(info.good)}</span></p>')
        if info.published:
            out.append(f'<p class="meta">Implements {_e(", ".join(info.published))}</p>')
        out.append(f'<p class="meta">Reference: {_e(info.reference)} &middot; scope {_e(info.scope)}</p>')
    else:
        out.append(
            f'<p class="meta">Reported by the {_e(code_source(code).lower())} stage, not a conformance rule.</p>'
        )
    out.append("</div>")
    shown = rows[:max_rows]
    mixed = len({f.severity for f in rows}) > 1
    columns = [c for c in _DETAIL_COLUMNS if c[0] in _ALWAYS or any(c[1](f) for f in shown)]
    head = ("<th>Severity</th>" if mixed else "") + "".join(f"<th>{h}</th>" for h, _, _ in columns)
    out.append(f'<table class="findings"><thead><tr>{head}</tr></thead><tbody>')
    for f in shown:
        cells = f"<td>{_sev(f.severity)}</td>" if mixed else ""
        cells += "".join(
            f'<td class="{css}">{cell(f)}</td>' if css else f"<td>{cell(f)}</td>" for _, cell, css in columns
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    if len(rows) > max_rows:
        out.append(
            f'<p class="more">{len(rows) - max_rows} more finding(s) of {_e(code)} are not shown here; '
            "report.json and report.xlsx list every finding.</p>"
        )
    out.append("</details>")
    return out


_STATUS_CSS = {"issues": "st-issues", "clean": "st-clean", "failed": "st-failed", "not applicable": "st-na"}


def _status(status: str) -> str:
    return f'<span class="st {_STATUS_CSS.get(status, "")}">{_e(status)}</span>'


def _checked_against(validation: ValidationResult, runs: list[dict]) -> list[str]:
    """One line naming the standards and CT versions, one counting the rules run by status."""
    out = []
    if validation.standards:
        shown = " &middot; ".join(f"{_e(k)} {_e(v)}" for k, v in validation.standards.items())
        out.append(f'<p class="meta">Checked against {shown}</p>')
    out.append(f'<p class="meta">{_e(rules_run_sentence(runs))} (<a href="#rules-run">Rules run</a>)</p>')
    return out


def _examined(examined: list[str], every: frozenset[str]) -> str:
    """The datasets a rule examined, or "every dataset (N)" when it read them all."""
    datasets = set(examined) - {"define.xml"}
    if every and datasets >= every:
        shown = [f"every dataset ({len(every)})"] + (["define.xml"] if "define.xml" in examined else [])
        return _e(", ".join(shown))
    return _e(", ".join(examined))


def _rules_run(runs: list[dict], validation: ValidationResult | None) -> list[str]:
    """Every rule the validation ran: status, own findings and the datasets it examined."""
    if not runs or validation is None:
        return []
    every = frozenset(validation.datasets)
    out = [
        '<h2 id="rules-run">Rules run</h2>',
        '<p class="meta">Every conformance rule of this run. <i>clean</i>: the rule examined the datasets listed '
        "and found nothing; <i>not applicable</i>: what it checks is absent (no such dataset or variable, no "
        "define.xml, no study spec to compare with), so it checked nothing.</p>",
        "<table><thead><tr><th>Code</th><th>Name</th><th>Severity</th><th>Status</th><th>Findings</th>"
        "<th>Examined</th><th>Published rules</th><th>Reference</th></tr></thead><tbody>",
    ]
    for r in runs:
        code = _e(r["code"])
        link = (
            f'<a href="#rule-{code}"><code>{code}</code></a>'
            if r["status"] == "issues"
            else f"<code>{code}</code>"
        )
        out.append(
            f'<tr><td class="nw">{link}</td><td>{_e(r["name"])}</td><td>{_sev(r["severity"])}</td>'
            f'<td class="nw">{_status(r["status"])}</td><td class="n">{r["findings"]}</td>'
            f"<td>{_examined(r['examined'], every)}</td><td>{_e(', '.join(r['published']))}</td>"
            f"<td>{_e(r['reference'])}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def compute_html(
    findings: FindingsLike,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
    title: str = "cdiscgen validation report",
    max_rows: int = MAX_ROWS_PER_RULE,
    names: Mapping[str, str] | None = None,
    validation: ValidationResult | None = None,
) -> str:
    """The report page as text. `names` names the codes that are not conformance rules (default: the code);
    `validation` adds the standards checked against and the rules-run table."""
    table = as_findings(findings)
    index = rule_index(rules)
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in table.sorted():
        by_rule[f.code].append(f)
    order = rule_order(table)
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    if created:
        out.append(f'<p class="meta">Created {_e(created)}</p>')
    out.append('<div class="cards">')
    out.append(f'<div class="card">Findings<b>{len(table)}</b></div>')
    for sev, n in table.by_severity().items():
        out.append(f'<div class="card">{_sev(sev)}<b>{n}</b></div>')
    explained = len(table.explained())
    if explained:
        out.append(f'<div class="card"><a href="#explained">explained</a><b>{explained}</b></div>')
    out.append(f'<div class="card">Codes<b>{len(order)}</b></div>')
    out.append("</div>")
    runs = rules_run_rows(validation, index)
    if validation is not None:
        out.extend(_checked_against(validation, runs))
        out.extend(_rejection(runs))

    out.append('<h2 id="summary">Summary by rule</h2>')
    if not order:
        out.append('<p class="ok">No findings.</p>')
        out.extend(_rules_run(runs, validation))
        out.append("</body></html>")
        return "\n".join(out) + "\n"
    out.append(
        "<table><thead><tr><th>Code</th><th>Name</th><th>Source</th><th>Severity</th><th>Count</th>"
        "<th>Datasets</th><th>Reference</th></tr></thead><tbody>"
    )
    for code in order:
        info = index.get(code)
        rows = by_rule[code]
        worst = max(f.severity for f in rows)
        out.append(
            f'<tr><td class="nw"><a href="#rule-{_e(code)}"><code>{_e(code)}</code></a></td>'
            f'<td>{_e(code_name(code, index, names))}</td><td class="nw">{_e(code_source(code))}</td>'
            f'<td>{_sev(worst)}</td><td class="n">{len(rows)}{_explained_count(rows)}</td><td>{_datasets(rows)}</td>'
            f"<td>{_e(info.reference if info else '')}</td></tr>"
        )
    out.append("</tbody></table>")

    out.extend(_explained(table))
    out.append('<h2 id="details">Findings by rule</h2>')
    out.append(
        f'<p class="meta">Error sections are open; click a heading to open or close it. At most {max_rows} '
        "findings are listed per rule; report.json and report.xlsx hold all of them.</p>"
    )
    for code in order:
        out.extend(_details(code, by_rule[code], index.get(code), code_name(code, index, names), max_rows))
    out.extend(_rules_run(runs, validation))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _rejection(runs: list[dict]) -> list[str]:
    """FDA's Technical Rejection Criteria for Study Data: the gateway refuses data failing any of them."""
    rows = rejection_rows(runs)
    if not rows:
        return []
    css = {"pass": "st-clean", "fail": "st-failed", "not applicable": "st-na"}
    out = [
        '<h2 id="rejection">FDA technical rejection criteria</h2>',
        '<p class="meta">Study data failing one of these are rejected by FDA\'s gateway before review.</p>',
        "<table><thead><tr><th>Criterion</th><th>Rule</th><th>Result</th><th>Findings</th></tr></thead><tbody>",
    ]
    for r in rows:
        out.append(
            f'<tr><td class="nw">{_e(r["criterion"])}</td><td><code>{_e(r["code"])}</code> {_e(r["name"])}</td>'
            f'<td><span class="st {css[r["result"]]}">{_e(r["result"])}</span></td>'
            f'<td class="n">{r["findings"]}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def _explained_count(rows: list[Finding]) -> str:
    n = sum(1 for f in rows if f.explanation)
    return f' <a class="cnt" href="#explained">({n} explained)</a>' if n else ""


def _explained(table: Findings) -> list[str]:
    """The findings the study explains (specs/explanations.yaml), one row per rule and reason: what a
    reviewer's guide says about the conformance findings left in the data."""
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in table.explained():
        groups[(f.code, str(f.explanation))].append(f)
    if not groups:
        return []
    out = [
        '<h2 id="explained">Explained findings</h2>',
        '<p class="meta">Findings the study explains in specs/explanations.yaml; they stay listed under their '
        "rule and are not counted at their severity above.</p>",
        "<table><thead><tr><th>Code</th><th>Severity</th><th>Count</th><th>Datasets</th><th>Explanation</th>"
        "</tr></thead><tbody>",
    ]
    for (code, reason), rows in sorted(groups.items()):
        worst = max(f.severity for f in rows)
        out.append(
            f'<tr><td class="nw"><a href="#rule-{_e(code)}"><code>{_e(code)}</code></a></td><td>{_sev(worst)}</td>'
            f'<td class="n">{len(rows)}</td><td>{_datasets(rows)}</td><td>{_e(reason)}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


def write_report_html(
    findings: FindingsLike,
    path: Path | str,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
    names: Mapping[str, str] | None = None,
    validation: ValidationResult | None = None,
) -> Path:
    """Write report.html (UTF-8)."""
    html = compute_html(findings, created=created, rules=rules, names=names, validation=validation)
    return write_atomic(Path(path), html.encode("utf-8"))
