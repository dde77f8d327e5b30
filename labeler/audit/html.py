"""index.html: one self-contained page (inline CSS and JS, no network) with the summary tables,
filters by region, state and rule, and each report with its cue spans highlighted by kind.

Every piece of report or pack text goes through html.escape; the script only toggles `hidden`
and sets textContent, so nothing from a report is ever parsed as markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from labeler.audit.conflicts import describe
from labeler.audit.record import OUTSIDE, HitRecord, ReportRecord
from labeler.audit.run import Audit
from labeler.audit.unmatched import Unmatched
from labeler.types import CueKind, State

# which kind colours a stretch of text covered by several hits: the one that decides most;
# kinds added to CueKind later come last
_DECIDING = ("finding", "normal", "negation", "uncertainty", "pseudo", "suppress", "anchor")
_KIND_ORDER = tuple(
    sorted(CueKind, key=lambda k: _DECIDING.index(k.value) if k.value in _DECIDING else 99)
)
_PRIORITY = {k.value: i for i, k in enumerate(_KIND_ORDER)}
_TABLE_ROWS = 200

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.n{text-align:right}
.report{border-top:1px solid #ddd;padding:.4em 0}.report h3{margin:.2em 0;font-size:1em}
.text{white-space:pre-wrap;font-size:1.1em;line-height:1.8}
mark{border-radius:3px;padding:0 1px}.k-finding{background:#ffc9c9}.k-normal{background:#c3f0c8}
.k-negation{background:#d0bfff}.k-uncertainty{background:#ffe08a}.k-pseudo{background:#dee2e6}
.k-suppress{background:#dee2e6;text-decoration:line-through}.k-anchor{background:#a5d8ff}
.k-terminator,.k-conjunction,.k-qualifier{background:#f1f3f5;outline:1px dotted #999}
.s{display:inline-block;border-radius:3px;padding:0 4px;margin-right:4px;font-size:.85em}
.s-positive{background:#ffc9c9}.s-uncertain{background:#ffe08a}.s-negative{background:#c3f0c8}
.s-not_mentioned{background:#f1f3f5;color:#888}.err{color:#c00}.filters{position:sticky;top:0;
background:#fff;padding:.5em 0;border-bottom:1px solid #ccc}.ev{font-size:.85em;color:#555}
"""

_JS = """
(function(){
  var region=document.getElementById('f-region'),state=document.getElementById('f-state'),
      rule=document.getElementById('f-rule'),conflict=document.getElementById('f-conflict'),
      count=document.getElementById('f-count'),
      cards=Array.prototype.slice.call(document.querySelectorAll('section.report'));
  function keep(card){
    var states=card.getAttribute('data-states').split(' ');
    if(rule.value&&card.getAttribute('data-rules').split(' ').indexOf(rule.value)<0)return false;
    if(conflict.checked&&card.getAttribute('data-conflict')!=='1')return false;
    if(region.value&&state.value)return states.indexOf(region.value+':'+state.value)>=0;
    if(region.value)return states.indexOf(region.value+':not_mentioned')<0;
    if(state.value)return states.some(function(s){return s.split(':')[1]===state.value;});
    return true;
  }
  function apply(){
    var shown=0;
    cards.forEach(function(card){var ok=keep(card);card.hidden=!ok;if(ok)shown++;});
    count.textContent=shown+' of '+cards.length+' reports shown';
  }
  [region,state,rule,conflict].forEach(function(el){el.addEventListener('change',apply);});
  apply();
  document.body.setAttribute('data-ready','1');
})();
"""


def _segments(text: str, hits: Sequence[HitRecord]) -> list[tuple[int, int, list[HitRecord]]]:
    """The text cut at every hit edge: (start, end, hits covering it). Hits may overlap
    (两肺 and 肺纹理), so each stretch is marked once with all the rules that cover it."""
    cuts = sorted({0, len(text), *(h.start for h in hits), *(h.end for h in hits)})
    out = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if a < b:
            out.append((a, b, [h for h in hits if h.start <= a and b <= h.end]))
    return out


def highlight(text: str, hits: Sequence[HitRecord]) -> str:
    """Report text as HTML with every cue hit in a <mark> carrying its offsets and rule ids."""
    parts = []
    for a, b, covering in _segments(text, [h for h in hits if h.start < h.end]):
        piece = escape(text[a:b])
        if not covering:
            parts.append(piece)
            continue
        kind = min((h.kind for h in covering), key=lambda k: _PRIORITY.get(k, len(_PRIORITY)))
        rules = " ".join(dict.fromkeys(h.rule_id for h in covering))
        title = ", ".join(dict.fromkeys(f"{h.kind} {h.rule_id}" for h in covering))
        parts.append(
            f'<mark class="k-{escape(kind)}" data-start="{a}" data-end="{b}" '
            f'data-rules="{escape(rules)}" title="{escape(title)}">{piece}</mark>'
        )
    return "".join(parts)


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="n"' if i in numeric else ""
            out.append(f"<td{cls}>{cell if isinstance(cell, _Raw) else escape(str(cell))}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


class _Raw(str):
    """Markup this module built itself (links), inserted into a table cell unescaped."""


def _options(values: Iterable[str], everything: str) -> str:
    opts = [f'<option value="">{escape(everything)}</option>']
    opts += [f'<option value="{escape(v)}">{escape(v)}</option>' for v in values]
    return "".join(opts)


def _report(i: int, record: ReportRecord, conflicted: bool) -> str:
    states = " ".join(f"{d.region}:{d.state.value}" for d in record.decisions)
    rules = " ".join(dict.fromkeys(h.rule_id for h in record.hits))
    chips = "".join(
        f'<span class="s s-{d.state.value}">{escape(d.region)} {d.state.value}</span>'
        for d in record.decisions
    )
    evidence = "".join(
        f'<div class="ev">{escape(d.region)}: {escape(describe(d.evidence))}'
        + (f" — overruled: {escape(describe(d.overruled))}" if d.overruled else "")
        + "</div>"
        for d in record.decisions
        if d.evidence
    )
    error = f'<div class="err">{escape(record.error)}</div>' if record.error else ""
    return (
        f'<section class="report" id="r{i}" data-states="{escape(states)}" '
        f'data-rules="{escape(rules)}" data-conflict="{int(conflicted)}">'
        f"<h3>{escape(record.report_id)} <small>row {record.row + 1}</small></h3>"
        f"<div>{chips}</div>{error}"
        f'<div class="text">{highlight(record.text, record.hits)}</div>{evidence}</section>'
    )


def render_html(audit: Audit) -> str:
    card = {(r.report_id, r.row): i for i, r in enumerate(audit.shown)}
    conflicted = {(c.report_id, c.row) for c in audit.conflicts}
    state_names = [s.value for s in sorted(State, key=lambda s: -s.rank)]
    fired = [h.rule_id for h in audit.rule_hits if h.hits]
    unmatched = [u for u in audit.unmatched if u.reason != OUTSIDE]
    outside = [u for u in audit.unmatched if u.reason == OUTSIDE]
    parts = [
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8">',
        # no request of any kind may leave the page: it is opened from disk, often offline
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<title>cxrlabel audit — {escape(audit.pack)}</title><style>{_CSS}</style></head><body>",
        f"<h1>cxrlabel audit — pack {escape(audit.pack)}</h1>",
        f"<p>{audit.reports} reports, {audit.errors} unreadable, {len(audit.conflicts)} "
        f"conflicting region decisions, {len(unmatched)} distinct unmatched clauses, "
        f"{len(outside)} outside the chest.</p>",
        "<h2>Region states</h2>",
        _table(
            ["region", *state_names],
            ([r, *(audit.states[r][s] for s in state_names)] for r in audit.regions),
            set(range(1, len(state_names) + 1)),
        ),
        "<h2>Rule hits</h2>",
        _table(
            ["rule", "kind", "where", "hits", "reports", "example"],
            (
                [h.rule_id, h.kind, h.where, h.hits, h.reports, h.examples[0] if h.examples else ""]
                for h in audit.rule_hits
            ),
            {3, 4},
        ),
        *_unmatched_table("Unmatched clauses", unmatched),
        *_unmatched_table("Clauses outside the chest", outside),
        f"<h2>Conflicts (first {min(_TABLE_ROWS, len(audit.conflicts))} of "
        f"{len(audit.conflicts)})</h2>",
        _table(
            ["report", "region", "resolution", "evidence", "overruled"],
            (
                [
                    _link(c.report_id, card.get((c.report_id, c.row))),
                    c.region,
                    c.resolution,
                    c.evidence,
                    c.overruled,
                ]
                for c in audit.conflicts[:_TABLE_ROWS]
            ),
            set(),
        ),
        _legend(),
        f"<h2>Reports ({len(audit.shown)} of {audit.reports} shown in full)</h2>",
        '<div class="filters">',
        f'region <select id="f-region">{_options(audit.regions, "any")}</select> ',
        f'state <select id="f-state">{_options(state_names, "any")}</select> ',
        f'rule <select id="f-rule">{_options(fired, "any")}</select> ',
        '<label><input type="checkbox" id="f-conflict"> conflicts only</label> ',
        '<span id="f-count"></span></div>',
        *(_report(i, r, (r.report_id, r.row) in conflicted) for i, r in enumerate(audit.shown)),
        f"<script>{_JS}</script></body></html>",
    ]
    return "\n".join(parts)


def _link(report_id: str, index: int | None) -> str:
    if index is None:
        return report_id
    return _Raw(f'<a href="#r{index}">{escape(report_id)}</a>')


def _unmatched_table(title: str, rows: list[Unmatched]) -> list[str]:
    return [
        f"<h2>{title} (top {min(_TABLE_ROWS, len(rows))} of {len(rows)})</h2>",
        _table(
            ["count", "reports", "reason", "clause", "example", "report ids"],
            (
                [u.count, u.reports, u.reason, u.clause, u.example, " ".join(u.report_ids)]
                for u in rows[:_TABLE_ROWS]
            ),
            {0, 1},
        ),
    ]


def _legend() -> str:
    marks = " ".join(f'<mark class="k-{k.value}">{k.value}</mark>' for k in _KIND_ORDER)
    return f"<p>Cue kinds: {marks}</p>"
