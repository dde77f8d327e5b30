"""Reading report files (CSV/TSV in UTF-8, or GB18030/GBK, Big5, UTF-16 found by
charset-normalizer; XLSX; JSONL; `-` for standard input) and writing labels CSV and evidence
JSONL atomically. Input order is kept; a bad row becomes an error row."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from labeler.resolve import NotMentionedPolicy, UncertainPolicy, label_value
from labeler.types import LabelResult, Report
from toolkit.files import atomic_open

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
    # traditional characters (Taiwan, Hong Kong)
    "報告編號",
    "檢查號",
    "檢查編號",
    "影像號",
    "登記號",
    "序號",
    "編號",
)
TEXT_COLUMNS = ("text", "report", "report_text", "报告", "报告内容", "报告文本", "内容")
TEXT_COLUMNS += ("報告", "報告內容", "報告文本", "內容")
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
    "檢查所見",
    "影像所見",
    "影像表現",
    "檢查描述",
    "影像描述",
    "表現",
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
    "診斷意見",
    "影像診斷",
    "診斷結論",
    "檢查結論",
    "診斷",
    "結論",
)
# What an unknown non-UTF-8 file may be: Chinese reports come as GB18030/GBK (mainland), Big5
# (Taiwan, Hong Kong) or UTF-16 ("Unicode text" from Excel). charset-normalizer picks among them;
# a free choice among all code pages calls short GBK files Korean.
DETECTED_ENCODINGS = ("gb18030", "big5", "big5hkscs", "utf_16", "utf_32")
_UTF8_BOM = b"\xef\xbb\xbf"
STDIN = "-"
PARQUET_SUFFIXES = (".parquet", ".pq")

csv.field_size_limit(2**31 - 1)  # a report may be longer than the module's default 128 KiB


class ReportFileError(ValueError):
    """The report file or its columns cannot be used; the message names the file."""


@dataclass(frozen=True)
class Table:
    """A report file as rows of strings. `errors[i]` makes row i an error row (a bad JSON line,
    a field that is not text, a row with more fields than the header); `cell_errors` flags
    single cells (an XLSX formula without a cached value, a cell inside merged cells), which
    matter only when the cell is the report's id or text."""

    name: str  # the path as given, or <stdin>
    columns: list[str]
    rows: list[list[str]]
    errors: list[str | None]
    cell_errors: dict[tuple[int, str], str]
    encoding: str | None  # how the bytes were decoded; None for XLSX
    sheet: str | None = None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=self.columns, dtype=str)


@dataclass(frozen=True)
class ReportFile:
    """The reports of a file, and what a person should hear about how it was read."""

    reports: list[Report]
    encoding: str | None
    sheet: str | None
    warnings: tuple[str, ...]  # blank or duplicate ids, merged cells …: one line each


def _decode(name: str, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """The text and the encoding used to read it, named as a person should see it."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise ReportFileError(
                f"{name}: cannot decode as {encoding} (byte {exc.start}); pass another --encoding"
            ) from exc
        except LookupError as exc:
            raise ReportFileError(f"{name}: unknown encoding {encoding!r}") from exc
    bom = raw.startswith(_UTF8_BOM)
    body = raw[len(_UTF8_BOM) :] if bom else raw
    try:
        return body.decode("utf-8"), "utf-8 with BOM" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body, cp_isolation=list(DETECTED_ENCODINGS)).best()
    if best is None:
        raise ReportFileError(
            f"{name}: cannot decode: not UTF-8 and not {', '.join(DETECTED_ENCODINGS)} either; "
            "pass --encoding"
        )
    used = best.encoding.replace("_", "-")
    try:
        text = body.decode(best.encoding)
    except UnicodeDecodeError as exc:  # detection reads samples; the whole file must decode
        raise ReportFileError(
            f"{name}: looks like {used} but byte {exc.start} is not; pass --encoding"
        ) from exc
    return text, f"{used} (detected{', after a UTF-8 BOM' if bom else ''})"


def _unique(names: Sequence[str]) -> list[str]:
    """Header names made unique the way pandas does (text, text.1); blank ones named."""
    out: list[str] = []
    for i, name in enumerate(names):
        name = name if name.strip() else f"column{i + 1}"
        base, n = name, 0
        while name in out:
            n += 1
            name = f"{base}.{n}"
        out.append(name)
    return out


def _not_text(value: str) -> str | None:
    """Why `value` cannot be written as UTF-8 (a lone surrogate from a JSON escape), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"lone surrogate {value[exc.start]!r} at character {exc.start}"
    return None


def _escaped(value: str) -> str:
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _read_delimited(name: str, text: str, sep: str) -> tuple[list[str], list, list]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader, None)
        if header is None:
            raise ReportFileError(f"{name}: empty file, no header row")
        columns = _unique(header)
        rows: list[list[str]] = []
        errors: list[str | None] = []
        for row in reader:
            if not row:
                continue  # a blank line
            error = None
            if len(row) > len(columns):
                error = (
                    f"{name}:{reader.line_num}: {len(row)} fields, the header has {len(columns)}"
                )
            rows.append((row + [""] * len(columns))[: len(columns)])
            errors.append(error)
    except csv.Error as exc:
        kind = "TSV" if sep == "\t" else "CSV"
        raise ReportFileError(f"{name}:{reader.line_num}: not a readable {kind} ({exc})") from exc
    return columns, rows, errors


def _read_jsonl(name: str, text: str) -> tuple[list[str], list, list]:
    """One JSON object per line. Lines end at \n only: U+2028, U+0085 and the like are legal
    inside JSON strings (json.dumps with ensure_ascii=False writes them raw)."""
    records: list[dict[str, str]] = []
    errors: list[str | None] = []
    columns: dict[str, None] = {}
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        record: dict[str, str] = {}
        error = None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (ValueError, RecursionError) as exc:
            error = f"{name}:{n}: invalid JSON line ({exc})"
            obj = {}
        for key, value in obj.items():
            value = "" if value is None else str(value)
            bad = _not_text(value) or _not_text(key)
            if bad and error is None:
                error = f"{name}:{n}: field {_escaped(key)!r} is not text: {_escaped(bad)}"
            record[_escaped(key)] = _escaped(value)
        columns.update(dict.fromkeys(record))
        records.append(record)
        errors.append(error)
    names = list(columns)
    return names, [[r.get(c, "") for c in names] for r in records], errors


def _read_xlsx(path: Path, sheet: str | None) -> Table:
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        values = openpyxl.load_workbook(path, data_only=True)  # the values Excel last computed
        formulas = openpyxl.load_workbook(path, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReportFileError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    names = values.sheetnames
    if sheet is not None:
        if sheet not in names:
            raise ReportFileError(f"{path}: no sheet {sheet!r}; sheets: {', '.join(names)}")
    else:
        used = [n for n in names if _has_data(values[n])]
        if len(used) > 1:
            raise ReportFileError(
                f"{path}: {len(used)} sheets hold data ({', '.join(used)}); choose one with --sheet"
            )
        sheet = used[0] if used else names[0]
    ws, fws = values[sheet], formulas[sheet]
    merged: dict[tuple[int, int], str] = {}
    for rng in ws.merged_cells.ranges:
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                if (r, c) != (rng.min_row, rng.min_col):
                    merged[r, c] = rng.coord
    grid = list(ws.iter_rows())
    if not grid:
        return Table(str(path), [], [], [], {}, None, sheet)
    columns = _unique([_cell_text(c.value) for c in grid[0]])
    rows: list[list[str]] = []
    cell_errors: dict[tuple[int, str], str] = {}
    where = f"{path} sheet {sheet!r}"
    for cells in grid[1:]:
        texts = [_cell_text(c.value) for c in cells]
        problems = {}
        for col, cell in zip(columns, cells, strict=False):
            coord = cell.coordinate
            if (cell.row, cell.column) in merged:
                rng = merged[cell.row, cell.column]
                problems[col] = f"{where} cell {coord}: inside merged cells {rng}; unmerge them"
            elif cell.value is None and fws[coord].data_type == "f":
                problems[col] = (
                    f"{where} cell {coord}: formula {fws[coord].value} has no saved value; "
                    "open and save the file in Excel, or paste values"
                )
        if not any(t.strip() for t in texts) and not problems:
            continue  # a blank row
        for col, problem in problems.items():
            cell_errors[len(rows), col] = problem
        rows.append((texts + [""] * len(columns))[: len(columns)])
    return Table(str(path), columns, rows, [None] * len(rows), cell_errors, None, sheet)


def parquet_parts(path: Path) -> list[Path]:
    """The part files of a Parquet folder (as Spark, Dask or `extract --part-rows` write it),
    in name order (numbers by value: part.2 before part.10); files whose names start with `_`
    or `.` (_SUCCESS, .crc) are not parts."""
    import re

    def key(p: Path) -> list[object]:
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.as_posix())]

    return sorted(
        (
            p
            for p in path.rglob("*")
            if p.is_file()
            and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)
            and (p.suffix.lower() in PARQUET_SUFFIXES or not p.suffix)
        ),
        key=key,
    )


def _read_parquet(path: Path) -> Table:
    """A Parquet file, or a folder of part files read in name order, as rows of text: missing
    values are empty text, other values their str()."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if path.is_dir():
            parts = parquet_parts(path)
            if not parts:
                raise ReportFileError(f"{path}: a folder without Parquet part files")
            tables = [pq.read_table(p) for p in parts]
            table = pa.concat_tables(tables, promote_options="default")
        else:
            table = pq.read_table(path)
    except FileNotFoundError as exc:
        raise ReportFileError(f"{path}: no such file") from exc
    except (OSError, pa.ArrowException) as exc:
        raise ReportFileError(f"{path}: not a readable Parquet file ({exc})") from exc
    columns = _unique([str(c) for c in table.column_names])
    cells = [
        ["" if v is None else v if isinstance(v, str) else str(v) for v in col.to_pylist()]
        for col in table.columns
    ]
    rows = [list(r) for r in zip(*cells, strict=True)] if cells else []
    return Table(str(path), columns, rows, [None] * len(rows), {}, "Parquet")


def _has_data(ws) -> bool:
    return any(c.value is not None for row in ws.iter_rows() for c in row)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def read_table_file(
    path: str | Path, encoding: str | None = None, sheet: str | None = None
) -> Table:
    """A report file (CSV, TSV, XLSX, JSONL, Parquet or a folder of Parquet part files, or `-`
    for CSV/JSONL on standard input) as rows."""
    if str(path) == STDIN:
        name, suffix = "<stdin>", ""
        raw = sys.stdin.buffer.read()
    else:
        path = Path(path)
        name, suffix = str(path), path.suffix.lower()
        if suffix in PARQUET_SUFFIXES or path.is_dir():
            return _read_parquet(path)
        if suffix == ".xls":
            raise ReportFileError(f"{path}: .xls (Excel 97-2003) is not read; save it as .xlsx")
        try:
            if suffix in (".xlsx", ".xlsm"):
                if not path.is_file():
                    raise FileNotFoundError(path)
                return _read_xlsx(path, sheet)
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise ReportFileError(f"{path}: no such file") from exc
        except OSError as exc:
            raise ReportFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    text, used = _decode(name, raw, encoding)
    if suffix in (".jsonl", ".ndjson") or (not suffix and text.lstrip().startswith("{")):
        columns, rows, errors = _read_jsonl(name, text)
    else:
        first = text.split("\n", 1)[0]
        tsv = suffix in (".tsv", ".tab") or (not suffix and "\t" in first and "," not in first)
        columns, rows, errors = _read_delimited(name, text, "\t" if tsv else ",")
    return Table(name, columns, rows, errors, {}, used)


def read_table(
    path: str | Path, encoding: str | None = None, sheet: str | None = None
) -> pd.DataFrame:
    """The file as a table of strings, whatever its format."""
    return read_table_file(path, encoding, sheet).frame()


def _pick(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    for name in wanted:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _resolve_columns(
    table: Table, id_col: str | None, text_cols: Sequence[str]
) -> tuple[str, list[str]]:
    columns = table.columns
    found = ", ".join(columns) or "(none)"
    read_as = f" (read as {table.encoding})" if table.encoding else ""
    for col in [id_col, *text_cols]:
        if col is not None and col not in columns:
            raise ReportFileError(f"{table.name}: no column {col!r}; columns found: {found}")
    id_col = id_col or _pick(columns, ID_COLUMNS)
    if id_col is None:
        raise ReportFileError(
            f"{table.name}: no report id column{read_as}; columns found: {found}; "
            "choose one with --id-col"
        )
    if text_cols:
        return id_col, list(text_cols)
    text = _pick(columns, TEXT_COLUMNS)
    if text:
        return id_col, [text]
    parts = [c for c in (_pick(columns, FINDINGS_COLUMNS), _pick(columns, IMPRESSION_COLUMNS)) if c]
    if parts:
        return id_col, parts
    raise ReportFileError(
        f"{table.name}: no report text column{read_as}; columns found: {found}; "
        "choose one with --text-col"
    )


def _shown(rows: Sequence[int], most: int = 10) -> str:
    head = ", ".join(str(r) for r in rows[:most])
    return head + (f" … ({len(rows)} in all)" if len(rows) > most else "")


def _id_warnings(reports: Sequence[Report], blank: Sequence[int]) -> list[str]:
    out = []
    if blank:
        out.append(f"{len(blank)} reports have a blank id, given row numbers: rows {_shown(blank)}")
    rows_of: dict[str, list[int]] = {}
    for r in reports:
        rows_of.setdefault(r.report_id, []).append(r.row + 1)
    dupes = {rid: rows for rid, rows in rows_of.items() if len(rows) > 1}
    if dupes:
        first = list(dupes.items())[:5]
        shown = "; ".join(f"{rid!r} at rows {_shown(rows, 5)}" for rid, rows in first)
        more = f" … ({len(dupes)} ids in all)" if len(dupes) > 5 else ""
        out.append(f"{len(dupes)} report ids are not unique: {shown}{more}")
    return out


def read_report_file(
    path: str | Path,
    id_col: str | None = None,
    text_cols: Sequence[str] = (),
    encoding: str | None = None,
    sheet: str | None = None,
) -> ReportFile:
    """Reports in file order, with the encoding used and warnings about ids and cells. Several
    text columns are joined under their column names as headings (检查所见：… 诊断意见：…) so
    sections are still found. A row is never dropped: a bad one becomes an error row."""
    table = read_table_file(path, encoding, sheet)
    id_col, text_cols = _resolve_columns(table, id_col, text_cols)
    return _table_reports(table, id_col, text_cols)


def _table_reports(
    table: Table, id_col: str, text_cols: Sequence[str], number_blank: bool = True
) -> ReportFile:
    """The reports of a table whose columns are resolved; `number_blank` names a blank id
    `rowN` (a part of a larger table cannot know N, and keeps it blank)."""
    index = {c: i for i, c in enumerate(table.columns)}
    reports: list[Report] = []
    blank: list[int] = []
    for row, values in enumerate(table.rows):
        report_id = values[index[id_col]].strip()
        if not report_id and number_blank:
            blank.append(row + 1)
            report_id = f"row{row + 1}"
        cells = [table.cell_errors.get((row, c)) for c in [id_col, *text_cols]]
        error = table.errors[row] or next((e for e in cells if e), None)
        if error:
            reports.append(Report(report_id, "", row, error))
            continue
        if len(text_cols) == 1:
            text = values[index[text_cols[0]]]
        else:
            text = "\n".join(
                f"{c}：{values[index[c]]}" for c in text_cols if values[index[c]].strip()
            )
        reports.append(Report(report_id, text, row))
    warnings = _id_warnings(reports, blank) if number_blank else []
    return ReportFile(reports, table.encoding, table.sheet, tuple(warnings))


def _cells(column: pd.Series) -> list[str]:
    """A column's values as text: missing values (None, NaN, NA) are empty text."""
    values = column.astype(object).tolist()
    missing = column.isna().tolist()
    pairs = zip(values, missing, strict=True)
    return ["" if m else v if isinstance(v, str) else str(v) for v, m in pairs]


def frame_columns(
    columns: Sequence[object],
    id_col: str | None = None,
    text_cols: str | Sequence[str] | None = None,
    name: str = "<DataFrame>",
) -> tuple[str, list[str]]:
    """The id column and text columns of a table with these column names: given, or found by
    name as `extract` finds them; a missing one is a ReportFileError listing the columns."""
    if isinstance(text_cols, str):
        text_cols = [text_cols]
    names = [str(c) for c in columns]
    return _resolve_columns(Table(name, names, [], [], {}, None), id_col, list(text_cols or ()))


def frame_reports(
    frame: pd.DataFrame,
    id_col: str,
    text_cols: Sequence[str],
    number_blank: bool = True,
    name: str = "<DataFrame>",
) -> ReportFile:
    """The reports of a pandas DataFrame whose columns are resolved (see `frame_columns`), read
    as `read_report_file` reads a file's rows; missing values are empty text."""
    wanted = list(dict.fromkeys([id_col, *text_cols]))
    cells = [_cells(frame[c]) for c in wanted]
    rows = [list(r) for r in zip(*cells, strict=True)] if cells else []
    table = Table(name, wanted, rows, [None] * len(rows), {}, None)
    return _table_reports(table, id_col, text_cols, number_blank)


def read_reports(
    path: str | Path,
    id_col: str | None = None,
    text_cols: Sequence[str] = (),
    encoding: str | None = None,
    sheet: str | None = None,
) -> list[Report]:
    """Reports in file order (see `read_report_file`)."""
    return read_report_file(path, id_col, text_cols, encoding, sheet).reports


@contextlib.contextmanager
def atomic_write(
    path: str | Path, newline: str | None = None, bom: bool = False
) -> Iterator[io.TextIOBase]:
    """Text output through the project's one atomic writer (toolkit.files.atomic_open): a
    regular file appears whole or not at all; `-` is standard output; `bom` for Excel."""
    with atomic_open(path, "w", newline=newline, bom=bom) as handle:
        yield handle


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


def is_parquet(path: str | Path) -> bool:
    """Whether an output path names Parquet (by its suffix)."""
    return str(path) != STDIN and Path(path).suffix.lower() in PARQUET_SUFFIXES


def labels_frame(
    rows: Sequence[Sequence[object]], regions: Sequence[str], index: object = None
) -> pd.DataFrame:
    """Rows of `label_row` as a typed table with the labels CSV's columns: the region columns
    nullable integers (blank under `--not-mentioned keep` is missing), the rest text, and
    `no_region_mentioned` an integer."""
    names = label_columns(regions)
    columns = list(zip(*rows, strict=True)) if len(rows) else [()] * len(names)
    data: dict[str, object] = {}
    for name, values in zip(names, columns, strict=True):
        if name in regions:
            data[name] = pd.array([None if v == "" else v for v in values], dtype="Int64")
        elif name == "no_region_mentioned":
            data[name] = pd.array(values, dtype="int64")
        else:
            data[name] = pd.array(values, dtype=str)
    return pd.DataFrame(data, index=index)


def write_parquet(
    frame: pd.DataFrame, path: str | Path, part_rows: int | None = None
) -> list[Path]:
    """Write `frame` as one Parquet file, atomically, or with `part_rows` as a folder of part
    files (part-00000.parquet …, at most `part_rows` rows each) that Spark, Dask and pyarrow
    read as one table. The folder is built beside the target and renamed into place; an
    existing folder of part files is replaced, anything else there is refused."""
    import shutil
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from toolkit.files import OutputError

    table = pa.Table.from_pandas(frame, preserve_index=False)
    path = Path(path)
    if part_rows is None:
        with atomic_open(path, "wb") as handle:
            pq.write_table(table, handle)
        return [path]
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot write {path}: it is a file, not a folder of part files")
    if path.is_dir() and any(
        p.is_dir() or not p.name.startswith(("part-", "_", ".")) for p in path.iterdir()
    ):
        raise OutputError(f"cannot write {path}: a folder holding more than Parquet part files")
    if path.parent.exists() and not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: {path.parent} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        names = []
        for n, start in enumerate(range(0, max(table.num_rows, 1), part_rows)):
            names.append(f"part-{n:05d}.parquet")
            with atomic_open(build / names[-1], "wb") as handle:
                pq.write_table(table.slice(start, part_rows), handle)
        old = None
        if path.is_dir():
            old = path.with_name(build.name[:-4] + ".old")
            os.replace(path, old)
        os.replace(build, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return [path / name for name in names]


def write_outputs(
    rendered: Iterable[Rendered],
    labels_path: str | Path,
    regions: Sequence[str],
    evidence_path: str | Path | None = None,
    bom: bool = False,
    part_rows: int | None = None,
) -> Iterator[Rendered]:
    """Write the labels CSV (and evidence JSONL) atomically, passing each row through. Report
    ids are written exactly as read (no spreadsheet-formula escaping: other files join on
    them); `bom` starts the CSV with a byte-order mark so Excel reads it as UTF-8. A labels
    path ending in .parquet is written as Parquet (`labels_frame`'s types) once all rows are
    in, as one file or, with `part_rows`, a folder of part files (`write_parquet`)."""
    parquet = is_parquet(labels_path)
    with contextlib.ExitStack() as stack:
        rows: list[list[object]] = []
        if parquet:
            write_row = rows.append
        else:
            handle = stack.enter_context(atomic_write(labels_path, newline="", bom=bom))
            writer = csv.writer(handle)
            writer.writerow(label_columns(regions))
            write_row = writer.writerow
        sink = stack.enter_context(atomic_write(evidence_path)) if evidence_path else None
        for item in rendered:
            write_row(item.row)
            if sink is not None and item.evidence is not None:
                sink.write(item.evidence + "\n")
            yield item
        if parquet:
            write_parquet(labels_frame(rows, regions), labels_path, part_rows)


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
