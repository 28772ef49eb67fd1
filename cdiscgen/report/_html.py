"""report.html: one self-contained page (static HTML + CSS, no script) a reviewer can read offline."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from html import escape
from pathlib import Path

from cdiscgen._findings import Finding, Severity
from cdiscgen.report._common import FindingsLike, as_findings, rule_index, rule_order, write_atomic
from cdiscgen.validate import RuleInfo

#: Detail rows shown per rule; the rest are counted (report.json and report.xlsx hold them all).
MAX_ROWS_PER_RULE = 500

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d2433;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #dde4ee;padding-bottom:.2rem}
h3{margin:1.5rem 0 .3rem}.meta{color:#5b6577}
table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0}
th,td{border:1px solid #dde4ee;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f4f9}tr:nth-child(even) td{background:#fafbfd}
.sev{display:inline-block;border-radius:3px;padding:0 .4rem;font-weight:600;font-size:.8rem}
.error{background:#fde2e1;color:#a61b1b}.warning{background:#fff1cc;color:#7a5300}.notice{background:#e0f0ff;color:#13508a}
.cards{display:flex;gap:1rem;margin:1rem 0}.card{border:1px solid #dde4ee;border-radius:6px;padding:.6rem 1rem;min-width:8rem}
.card b{display:block;font-size:1.6rem}.rule p{margin:.2rem 0}.ex{font-family:ui-monospace,monospace;font-size:.85rem}
.more{color:#5b6577;font-style:italic}code{font-family:ui-monospace,monospace}
"""


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


def compute_html(
    findings: FindingsLike,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
    title: str = "cdiscgen validation report",
    max_rows: int = MAX_ROWS_PER_RULE,
) -> str:
    """The report page as text."""
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
    out.append("</div>")

    out.append('<h2 id="summary">Summary by rule</h2>')
    if not order:
        out.append("<p>No findings.</p>")
    else:
        out.append(
            "<table><thead><tr><th>Rule</th><th>Name</th><th>Severity</th><th>Count</th></tr></thead><tbody>"
        )
        for code in order:
            info = index.get(code)
            worst = max(f.severity for f in by_rule[code])
            out.append(
                f'<tr><td><a href="#{_e(code)}"><code>{_e(code)}</code></a></td><td>{_e(info.name if info else "")}</td>'
                f"<td>{_sev(worst)}</td><td>{len(by_rule[code])}</td></tr>"
            )
        out.append("</tbody></table>")

        out.append('<h2 id="rules">Rules</h2>')
        for code in order:
            info = index.get(code)
            out.append(
                f'<div class="rule" id="rule-{_e(code)}"><h3><code>{_e(code)}</code> '
                f"{_e(info.name if info else '')}</h3>"
            )
            if info:
                out.append(f"<p>{_e(info.text)}</p>")
                if info.bad:
                    out.append(f'<p><b>Bad:</b> <span class="ex">{_e(info.bad)}</span></p>')
                if info.good:
                    out.append(f'<p><b>Good:</b> <span class="ex">{_e(info.good)}</span></p>')
                out.append(
                    f'<p class="meta">Reference: {_e(info.reference)} &middot; scope {_e(info.scope)}</p>'
                )
            out.append("</div>")

        out.append('<h2 id="details">Details</h2>')
        for code in order:
            rows = by_rule[code]
            info = index.get(code)
            out.append(
                f'<h3 id="{_e(code)}"><code>{_e(code)}</code> {_e(info.name if info else "")} '
                f"({len(rows)})</h3>"
            )
            out.append(
                "<table><thead><tr><th>Severity</th><th>Dataset</th><th>USUBJID</th><th>SEQ</th><th>Variable</th>"
                "<th>Value</th><th>Expected</th><th>Message</th><th>File</th></tr></thead><tbody>"
            )
            for f in rows[:max_rows]:
                out.append(
                    f"<tr><td>{_sev(f.severity)}</td><td>{_e(f.dataset)}</td><td>{_e(f.usubjid)}</td><td>{_seq(f)}</td>"
                    f"<td>{_e(f.variable)}</td><td>{_e(f.value)}</td><td>{_e(f.expected)}</td>"
                    f"<td>{_e(f.message)}</td><td>{_place(f)}</td></tr>"
                )
            out.append("</tbody></table>")
            if len(rows) > max_rows:
                out.append(
                    f'<p class="more">{len(rows) - max_rows} more finding(s) of {_e(code)} are in '
                    "report.json and report.xlsx.</p>"
                )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report_html(
    findings: FindingsLike,
    path: Path | str,
    *,
    created: str | None = None,
    rules: Iterable[RuleInfo] | None = None,
) -> Path:
    """Write report.html (UTF-8)."""
    return write_atomic(Path(path), compute_html(findings, created=created, rules=rules).encode("utf-8"))
