"""The review folder: index.html (the page), sample.csv (strata and weights), labels.csv (the
labeler's rows for the sample, as `extract` writes them) and review.json (what the page shows,
so `--resume` can write the page again without the reports or the pack).

Gold files, exported by the page or written by hand, are read back with `import_gold`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from labeler.audit.conflicts import describe
from labeler.io import ReportFileError, label_columns, label_row, read_table
from labeler.review.sample import Sampled
from labeler.types import LabelResult, RegionDecision, State
from toolkit.files import write_text_atomic

FORMAT = "cxrlabel-review/1"
STATES = tuple(s.value for s in sorted(State, key=lambda s: -s.rank))
REVIEW_FILES = ("index.html", "sample.csv", "labels.csv", "review.json")


class ReviewError(ValueError):
    """A review folder or gold file that cannot be used; one line naming the file."""


def gold_columns(regions: Sequence[str]) -> list[str]:
    """The labeling guide's gold format, then who reviewed each report and when."""
    return [
        "report_id",
        *regions,
        *(f"{r}_state" for r in regions),
        "note",
        "reviewer",
        "reviewed_at",
    ]


def _review_id(pack: str, seed: int, blind: bool, sample: Sequence[Sampled]) -> str:
    """Names the review in the browser's storage: two review folders never share answers."""
    digest = hashlib.sha256(f"{FORMAT}\0{pack}\0{seed}\0{blind}".encode())
    for s in sample:
        digest.update(f"\0{s.record.report_id}\0{s.record.text}".encode())
    return digest.hexdigest()[:16]


def _report_entry(s: Sampled, regions: Sequence[str]) -> dict:
    r = s.record
    decisions = {d.region: d for d in r.decisions}
    evidence = {}
    for region, d in decisions.items():
        shown = describe(d.evidence)
        if d.overruled:
            shown += f" — overruled: {describe(d.overruled)}"
        evidence[region] = shown
    return {
        "id": r.report_id,
        "row": r.row + 1,
        "stratum": s.stratum,
        "weight": round(s.weight, 6),
        "states": {
            region: (decisions[region].state.value if region in decisions else "")
            for region in regions
        },
        "evidence": evidence,
        "error": r.error,
        "text": r.text,
        "hits": [[h.rule_id, h.kind, h.start, h.end] for h in r.hits],
    }


def review_data(
    sample: Sequence[Sampled],
    regions: Sequence[str],
    pack: str,
    *,
    seed: int,
    blind: bool,
    source: str,
    population: int,
    region_names: dict[str, str] | None = None,
) -> dict:
    """What review.json holds and the page shows."""
    return {
        "format": FORMAT,
        "id": _review_id(pack, seed, blind, sample),
        "pack": pack,
        "regions": list(regions),
        "region_names": dict(region_names or {}),
        "states": list(STATES),
        "columns": gold_columns(regions),
        "blind": blind,
        "seed": seed,
        "source": source,
        "population": population,
        "reports": [_report_entry(s, regions) for s in sample],
        "imported": {},
    }


def _csv(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue()


def _label_result(s: Sampled, regions: Sequence[str]) -> LabelResult:
    r = s.record
    decisions = r.decisions or tuple(RegionDecision(g, State.NOT_MENTIONED) for g in regions)
    return LabelResult(r.report_id, r.row, decisions, r.error)


def write_review(
    sample: Sequence[Sampled],
    regions: Sequence[str],
    pack: str,
    outdir: str | Path,
    *,
    seed: int = 0,
    blind: bool = False,
    source: str = "",
    population: int | None = None,
    region_names: dict[str, str] | None = None,
) -> list[Path]:
    """The four review files in `outdir`, each written atomically; `population` is the size
    of the corpus the sample was drawn from."""
    from labeler.review.html import render_page

    out = Path(outdir)
    if population is None:  # the strata the sample reaches
        population = sum({s.stratum: s.stratum_size for s in sample}.values())
    data = review_data(
        sample,
        regions,
        pack,
        seed=seed,
        blind=blind,
        source=source,
        population=population,
        region_names=region_names,
    )
    write_text_atomic(
        out / "sample.csv",
        _csv(
            ["report_id", "row", "stratum", "stratum_size", "stratum_sampled", "weight"],
            [
                [
                    s.record.report_id,
                    s.record.row + 1,
                    s.stratum,
                    s.stratum_size,
                    s.stratum_sampled,
                    f"{s.weight:.6f}",
                ]
                for s in sample
            ],
        ),
    )
    write_text_atomic(
        out / "labels.csv",
        _csv(label_columns(regions), [label_row(_label_result(s, regions)) for s in sample]),
    )
    _write_data(out, data)
    write_text_atomic(out / "index.html", render_page(data))
    return [out / name for name in REVIEW_FILES]


def _write_data(out: Path, data: dict) -> None:
    write_text_atomic(out / "review.json", json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def load_review(folder: str | Path) -> dict:
    """review.json of a review folder."""
    path = Path(folder) / "review.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReviewError(f"{path}: no such file (is {folder} a review folder?)") from exc
    except (OSError, ValueError) as exc:
        raise ReviewError(f"{path}: cannot read it ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReviewError(f"{path}: not a {FORMAT} file")
    return data


@dataclass(frozen=True)
class Imported:
    count: int  # answers read from the gold file
    replaced: int  # answers that replaced an earlier import of the same report


def import_gold(folder: str | Path, gold: str | Path) -> Imported:
    """Read a gold file (the page's export, or one written by hand in the guide's format) into
    review.json and write the page again: its answers appear in the page, except where the
    browser holds a later answer of its own for the same report."""
    from labeler.review.html import render_page

    data = load_review(folder)
    answers = read_gold_answers(gold, data["regions"], {r["id"] for r in data["reports"]})
    replaced = sum(1 for rid in answers if rid in data["imported"])
    data["imported"].update(answers)
    out = Path(folder)
    _write_data(out, data)
    write_text_atomic(out / "index.html", render_page(data))
    return Imported(len(answers), replaced)


def rewrite_page(folder: str | Path) -> Path:
    """index.html again from review.json (after an upgrade, or a page deleted by mistake)."""
    from labeler.review.html import render_page

    data = load_review(folder)
    path = Path(folder) / "index.html"
    write_text_atomic(path, render_page(data))
    return path


def read_gold_answers(gold: str | Path, regions: Sequence[str], known: set[str]) -> dict:
    """Answers by report id from a gold file; every report must belong to the review and every
    region needs its state column (the 0/1 columns alone do not say uncertain or not mentioned)."""
    try:
        frame = read_table(gold)
    except ReportFileError as exc:
        raise ReviewError(str(exc)) from exc
    need = ["report_id", *(f"{r}_state" for r in regions)]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ReviewError(
            f"{gold}: no column {', '.join(missing)}; a gold file needs report_id and the state "
            "of every region"
        )
    answers: dict[str, dict] = {}
    for i, row in enumerate(frame.to_dict("records")):
        rid = str(row["report_id"]).strip()
        where = f"{gold}: row {i + 2}"
        if rid not in known:
            raise ReviewError(f"{where}: report {rid!r} is not in this review's sample")
        if rid in answers:
            raise ReviewError(f"{where}: report {rid!r} appears more than once")
        states = {}
        for region in regions:
            value = str(row[f"{region}_state"]).strip()
            if value not in STATES:
                raise ReviewError(
                    f"{where}: {region}_state={value!r} is not one of {', '.join(STATES)}"
                )
            states[region] = value
        answers[rid] = {
            "states": states,
            "note": str(row.get("note", "") or ""),
            "reviewer": str(row.get("reviewer", "") or ""),
            "at": str(row.get("reviewed_at", "") or ""),
        }
    return answers
