"""Reading report files (CSV/TSV in UTF-8, UTF-8-BOM or GB18030/GBK; XLSX; JSONL) and writing
labels CSV and evidence JSONL atomically. Input order is kept; a bad row becomes an error row."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from labeler.resolve import NotMentionedPolicy, UncertainPolicy, label_value
from labeler.types import LabelResult, Report

ID_COLUMNS = (
    "report_id",
    "id",
    "ID",
    "Id",
    "报告编号",
    "报告ID",
    "检查号",
    "检查编号",
    "检查流水号",
    "影像号",
    "登记号",
    "序号",
    "编号",
    "accession",
    "AccessionNumber",
    "accession_number",
    "study_id",
)
TEXT_COLUMNS = ("text", "report", "report_text", "报告", "报告内容", "报告文本", "内容")
FINDINGS_COLUMNS = (
    "findings",
    "检查所见",
    "影像所见",
    "影像表现",
    "检查描述",
    "影像描述",
    "所见",
    "表现",
    "描述",
)
IMPRESSION_COLUMNS = (
    "impression",
    "诊断意见",
    "影像诊断",
    "诊断结论",
    "检查结论",
    "诊断",
    "印象",
    "结论",
    "意见",
    "提示",
)
ENCODINGS = ("utf-8-sig", "gb18030")


class ReportFileError(ValueError):
    """The report file or its columns cannot be used; the message names the file."""


def _decode(path: Path, raw: bytes, encoding: str | None) -> str:
    for enc in (encoding,) if encoding else ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
        except LookupError as exc:
            raise ReportFileError(f"{path}: unknown encoding {enc!r}") from exc
    tried = encoding or ", ".join(ENCODINGS)
    raise ReportFileError(f"{path}: cannot decode as {tried}; pass --encoding")


def read_table(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """The file as a table of strings, whatever its format."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ReportFileError(f"{path}: no such file") from exc
    except (OSError, ValueError) as exc:
        raise ReportFileError(f"{path}: cannot read ({exc})") from exc
    text = _decode(path, raw, encoding)
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path, text)
    sep = "\t" if suffix in (".tsv", ".tab") else ","
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReportFileError(
            f"{path}: not a readable {'TSV' if sep == chr(9) else 'CSV'} ({exc})"
        ) from exc


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    rows: list[dict] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            rows.append({k: "" if v is None else str(v) for k, v in obj.items()})
        except ValueError as exc:
            rows.append({"__error__": f"{path}:{n}: invalid JSON line ({exc})", "__line__": str(n)})
    frame = pd.DataFrame(rows, dtype=str).fillna("")
    return frame


def _pick(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for name in wanted:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _resolve_columns(
    path: Path, columns: Sequence[str], id_col: str | None, text_cols: Sequence[str]
) -> tuple[str | None, list[str]]:
    found = ", ".join(c for c in columns if not c.startswith("__")) or "(none)"
    for col in [id_col, *text_cols]:
        if col is not None and col not in columns:
            raise ReportFileError(f"{path}: no column {col!r}; columns found: {found}")
    id_col = id_col or _pick(columns, ID_COLUMNS)
    if text_cols:
        return id_col, list(text_cols)
    text = _pick(columns, TEXT_COLUMNS)
    if text:
        return id_col, [text]
    parts = [c for c in (_pick(columns, FINDINGS_COLUMNS), _pick(columns, IMPRESSION_COLUMNS)) if c]
    if parts:
        return id_col, parts
    raise ReportFileError(
        f"{path}: no report text column; columns found: {found}; choose one with --text-col"
    )


def read_reports(
    path: str | Path,
    id_col: str | None = None,
    text_cols: Sequence[str] = (),
    encoding: str | None = None,
) -> list[Report]:
    """Reports in file order. Several text columns are joined under their column names as
    headings (检查所见：… 诊断意见：…) so sections are still found."""
    path = Path(path)
    frame = read_table(path, encoding)
    columns = [str(c) for c in frame.columns]
    id_col, text_cols = _resolve_columns(path, columns, id_col, text_cols)
    reports = []
    errors = frame["__error__"] if "__error__" in frame else None
    for row, rec in enumerate(frame.itertuples(index=False, name=None)):
        values = dict(zip(columns, rec, strict=True))
        report_id = str(values.get(id_col, "")).strip() if id_col else ""
        report_id = report_id or f"row{row + 1}"
        if errors is not None and errors.iloc[row]:
            reports.append(Report(report_id, "", row, errors.iloc[row]))
            continue
        if len(text_cols) == 1:
            text = str(values[text_cols[0]])
        else:
            text = "\n".join(f"{c}：{values[c]}" for c in text_cols if str(values[c]).strip())
        reports.append(Report(report_id, text, row))
    return reports


@contextlib.contextmanager
def atomic_write(path: str | Path, newline: str | None = None) -> Iterator[io.TextIOBase]:
    """Write to a temporary file beside `path` and move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def label_columns(regions: Sequence[str]) -> list[str]:
    return ["report_id", *regions, *(f"{r}_state" for r in regions), "no_region_mentioned", "error"]


def label_row(
    result: LabelResult,
    uncertain: UncertainPolicy = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy = NotMentionedPolicy.ZERO,
) -> list[object]:
    values = [label_value(d.state, uncertain, not_mentioned) for d in result.decisions]
    return [
        result.report_id,
        *("" if v is None else v for v in values),
        *(d.state.value for d in result.decisions),
        int(result.no_region_mentioned),
        result.error or "",
    ]


@dataclass(frozen=True)
class Rendered:
    """One labelled report as written: its CSV row and, when asked for, its evidence line."""

    row: list[object]
    evidence: str | None
    positives: tuple[int, ...]  # 1 per region labelled 1
    no_region_mentioned: bool
    error: bool


def render(
    result: LabelResult,
    uncertain: UncertainPolicy = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy = NotMentionedPolicy.ZERO,
    evidence: bool = False,
) -> Rendered:
    return Rendered(
        label_row(result, uncertain, not_mentioned),
        json.dumps(evidence_record(result), ensure_ascii=False) if evidence else None,
        tuple(int(label_value(d.state, uncertain) == 1) for d in result.decisions),
        result.no_region_mentioned,
        result.error is not None,
    )


def write_outputs(
    rendered: Iterable[Rendered],
    labels_path: str | Path,
    regions: Sequence[str],
    evidence_path: str | Path | None = None,
) -> Iterator[Rendered]:
    """Write the labels CSV (and evidence JSONL) atomically, passing each row through."""
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(atomic_write(labels_path, newline=""))
        sink = stack.enter_context(atomic_write(evidence_path)) if evidence_path else None
        writer = csv.writer(handle)
        writer.writerow(label_columns(regions))
        for item in rendered:
            writer.writerow(item.row)
            if sink is not None and item.evidence is not None:
                sink.write(item.evidence + "\n")
            yield item


def evidence_record(result: LabelResult) -> dict:
    return {
        "report_id": result.report_id,
        "row": result.row,
        "error": result.error,
        "states": {d.region: d.state.value for d in result.decisions},
        "decisions": {
            d.region: {
                "state": d.state.value,
                "evidence": [asdict(e) for e in d.evidence],
                "overruled": [asdict(e) for e in d.overruled],
            }
            for d in result.decisions
        },
    }


def read_evidence(path: str | Path) -> dict[str, dict]:
    """Evidence records by report id."""
    out = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rec = json.loads(line)
                out[rec["report_id"]] = rec
    return out
