"""The four audit files, each written atomically; the CSV files are made for spreadsheets."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from labeler.audit.html import render_html
from labeler.audit.run import Audit
from labeler.io import atomic_write
from toolkit.files import formula_safe

_EXAMPLES = 3


def _write_csv(path: Path, head: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """A CSV for people: a byte-order mark so Excel reads UTF-8, and report text that a
    spreadsheet would run as a formula made inert (toolkit.files.formula_safe)."""
    with atomic_write(path, newline="", bom=True) as handle:
        writer = csv.writer(handle)
        writer.writerow(head)
        writer.writerows([formula_safe(cell) for cell in row] for row in rows)
    return path


def write_audit(audit: Audit, outdir: str | Path) -> list[Path]:
    """rule_hits.csv, unmatched.csv, conflicts.csv and index.html in `outdir`."""
    out = Path(outdir)
    written = [
        _write_csv(
            out / "rule_hits.csv",
            ["rule_id", "kind", "where", "hits", "reports"]
            + [f"example_{i + 1}" for i in range(_EXAMPLES)],
            (
                [h.rule_id, h.kind, h.where, h.hits, h.reports]
                + [*h.examples, *[""] * _EXAMPLES][:_EXAMPLES]
                for h in audit.rule_hits
            ),
        ),
        _write_csv(
            out / "unmatched.csv",
            ["rank", "reason", "count", "reports", "clause", "example", "report_ids"],
            (
                [i + 1, u.reason, u.count, u.reports, u.clause, u.example, " ".join(u.report_ids)]
                for i, u in enumerate(audit.unmatched)
            ),
        ),
        _write_csv(
            out / "conflicts.csv",
            [
                "report_id",
                "row",
                "region",
                "state",
                "overruled_states",
                "resolution",
                "evidence",
                "overruled",
            ],
            (
                [
                    c.report_id,
                    c.row + 1,
                    c.region,
                    c.state,
                    " ".join(c.overruled_states),
                    c.resolution,
                    c.evidence,
                    c.overruled,
                ]
                for c in audit.conflicts
            ),
        ),
    ]
    with atomic_write(out / "index.html") as handle:
        handle.write(render_html(audit))
    return [*written, out / "index.html"]
