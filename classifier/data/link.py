"""Linking films to labelled reports: reading labels.csv and link.csv, then matching by a key.

Without a link CSV a DICOM film's report id is a header value chosen by `--key`:
  accession     AccessionNumber
  study_uid     StudyInstanceUID
  patient_date  PatientID + "_" + StudyDate
A link CSV either names files (columns image, report_id and optionally patient_id; image is the
path under the image folder; this is the only way to link PNG/JPEG inputs) or maps key values to
report ids (columns study_key, report_id) when the reports were exported under other ids.

Only PatientID and the key's fields are read from the header (dicomio.Header), and only the
patient id and the study key reach the manifest.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from classifier.data.dicomio import FileError, Header
from classifier.data.manifest import header_regions

# --key name -> the header fields joined (with "_") into the study key, as (Header attribute,
# DICOM keyword).
KEYS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "accession": (("accession", "AccessionNumber"),),
    "study_uid": (("study_uid", "StudyInstanceUID"),),
    "patient_date": (("patient_id", "PatientID"), ("study_date", "StudyDate")),
}
STATES = ("positive", "uncertain", "negative", "not_mentioned")
NOT_LINKED = "no DICOM header to link by: list the file in the --link CSV"
NO_PATIENT = "no patient_id: add a patient_id column to the --link CSV"
FILE_NOT_FOUND = "file not found"


def missing_reason(keyword: str) -> str:
    return f"missing {keyword}"


class InputError(ValueError):
    """labels.csv or link.csv cannot be used as given; the message says what to change."""


@dataclass(frozen=True)
class Report:
    report_id: str
    labels: tuple[int, ...]
    states: tuple[str, ...]


@dataclass(frozen=True)
class Labels:
    """Usable reports by id, and the ids of rows the labeler flagged with an error."""

    reports: Mapping[str, Report]
    failed: tuple[str, ...]


@dataclass(frozen=True)
class LinkTable:
    """A link CSV: by file path, or by key value; exactly one of the two is filled."""

    by_image: Mapping[str, tuple[str, str]]  # image -> (report_id, patient_id or "")
    by_key: Mapping[str, str]  # study key value -> report_id


@dataclass(frozen=True)
class Source:
    """A file under the image folder (relative path) and its header; None for PNG/JPEG."""

    file: str
    header: Header | None


@dataclass(frozen=True)
class LinkedFilm:
    file: str
    patient_id: str
    study_key: str
    report_id: str


@dataclass(frozen=True)
class Linking:
    films: tuple[LinkedFilm, ...]
    errors: tuple[FileError, ...]
    images_without_report: tuple[str, ...]
    reports_without_image: tuple[str, ...]


def _read_csv(path: Path) -> pd.DataFrame:
    # Every cell as text: ids like 00123 keep their zeros and empty stays "" (not NaN).
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as err:
        raise InputError(f"{path}: empty file (no header row)") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable UTF-8 CSV ({err})") from err


def _require(frame: pd.DataFrame, needed: Sequence[str], path: Path) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{path.name}: missing columns {', '.join(missing)}")


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:5])
    return f"{shown}, ... ({len(ids)} in all)" if len(ids) > 5 else shown


def label_regions(path: Path) -> tuple[str, ...]:
    """The regions a labels.csv carries: its columns with a `<region>_state` partner, in order
    (cxrlabel writes them in the rule pack's vector order)."""
    header = [str(c) for c in _read_csv(path).columns]
    regions = header_regions(header)
    if not regions:
        raise InputError(f"{path.name}: no region columns (<region> with <region>_state)")
    # cxrlabel writes report_id, the region columns, then their states: a column in between
    # without a state is a region whose state column was lost.
    first_state = next(i for i, c in enumerate(header) if c.endswith("_state"))
    stray = [c for c in header[:first_state] if c != "report_id" and c not in regions]
    if stray:
        raise InputError(f"{path.name}: missing columns {', '.join(f'{c}_state' for c in stray)}")
    return regions


def read_labels(path: Path, regions: Sequence[str]) -> Labels:
    """cxrlabel's labels.csv. An empty label (a not-mentioned-kept policy) reads as 0, as the
    paper labels a region 1 only when an abnormality is described; -1 (uncertain kept) is
    refused, since a binary classifier cannot train on it."""
    frame = _read_csv(path)
    state_columns = [f"{r}_state" for r in regions]
    _require(frame, ["report_id", *regions, *state_columns], path)
    errors = frame["error"].str.strip() if "error" in frame.columns else pd.Series("", frame.index)
    failed = tuple(frame.loc[errors != "", "report_id"])
    usable = frame[errors == ""]
    duplicated = sorted(set(usable.loc[usable["report_id"].duplicated(), "report_id"]))
    if duplicated:
        raise InputError(f"{path.name}: report_id repeated: {_examples(duplicated)}")
    values = usable[list(regions)].apply(lambda column: column.str.strip())
    uncertain = usable.loc[(values == "-1").any(axis=1), "report_id"].tolist()
    if uncertain:
        raise InputError(
            f"{path.name}: uncertain labels (-1) in reports {_examples(uncertain)}; relabel with "
            "an uncertainty policy that maps uncertain to 0 or 1"
        )
    invalid = usable.loc[(~values.isin(["0", "1", ""])).any(axis=1), "report_id"].tolist()
    if invalid:
        raise InputError(f"{path.name}: labels other than 0, 1 or empty in {_examples(invalid)}")
    states = usable[state_columns]
    odd = usable.loc[(~states.isin(STATES)).any(axis=1), "report_id"].tolist()
    if odd:
        raise InputError(f"{path.name}: unknown states in {_examples(odd)}")
    reports = {
        rid: Report(rid, tuple(1 if v == "1" else 0 for v in labels), tuple(state))
        for rid, labels, state in zip(
            usable["report_id"],
            values.itertuples(index=False),
            states.itertuples(index=False),
            strict=True,
        )
    }
    return Labels(reports=reports, failed=failed)


def read_link(path: Path) -> LinkTable:
    """A link CSV of either shape; rows repeated verbatim are fine, contradictions are not."""
    frame = _read_csv(path)
    if "image" in frame.columns:
        _require(frame, ["image", "report_id"], path)
        rows = pd.DataFrame(
            {
                "image": frame["image"].str.replace("\\", "/").str.strip("/"),
                "report_id": frame["report_id"],
                "patient_id": frame.get("patient_id", pd.Series("", frame.index)).str.strip(),
            }
        ).drop_duplicates()
        clash = sorted(set(rows.loc[rows["image"].duplicated(), "image"]))
        if clash:
            raise InputError(f"{path.name}: images linked twice: {_examples(clash)}")
        by_image = {
            image: (report_id, patient_id)
            for image, report_id, patient_id in rows.itertuples(index=False)
        }
        return LinkTable(by_image=by_image, by_key={})
    _require(frame, ["study_key", "report_id"], path)
    pairs = frame[["study_key", "report_id"]].drop_duplicates()
    clash = sorted(set(pairs.loc[pairs["study_key"].duplicated(), "study_key"]))
    if clash:
        raise InputError(f"{path.name}: study keys linked to two reports: {_examples(clash)}")
    return LinkTable(by_image={}, by_key=dict(pairs.itertuples(index=False)))


def _link_one(source: Source, key: str, table: LinkTable | None) -> LinkedFilm | FileError | None:
    """A film, the reason it cannot be linked, or None when it simply has no report."""
    if table is not None and table.by_image:
        if source.file not in table.by_image:
            return None
        report_id, patient_id = table.by_image[source.file]
        if not patient_id and source.header is None:
            return FileError(source.file, NO_PATIENT)
        patient_id = patient_id or (source.header.patient_id if source.header else "")
        if not patient_id:
            return FileError(source.file, missing_reason("PatientID"))
        # A report describes one study, so its id serves as the study key.
        return LinkedFilm(source.file, patient_id, report_id, report_id)
    if source.header is None:
        return FileError(source.file, NOT_LINKED)
    fields = (*KEYS[key], ("patient_id", "PatientID"))
    missing = [keyword for attr, keyword in fields if not getattr(source.header, attr)]
    if missing:
        return FileError(source.file, missing_reason(missing[0]))
    value = "_".join(getattr(source.header, attr) for attr, _ in KEYS[key])
    report_id = table.by_key.get(value) if table is not None else value
    if report_id is None:
        return None
    return LinkedFilm(source.file, source.header.patient_id, value, report_id)


def link_films(
    sources: Sequence[Source], labels: Labels, key: str, table: LinkTable | None
) -> Linking:
    """Match every source to a usable report; unmatched films and reports are listed, not
    failed."""
    films: list[LinkedFilm] = []
    errors: list[FileError] = []
    orphans: list[str] = []
    for source in sources:
        linked = _link_one(source, key, table)
        if isinstance(linked, FileError):
            errors.append(linked)
        elif linked is None or linked.report_id not in labels.reports:
            orphans.append(source.file)
        else:
            films.append(linked)
    used = {film.report_id for film in films}
    return Linking(
        films=tuple(films),
        errors=tuple(errors),
        images_without_report=tuple(orphans),
        reports_without_image=tuple(r for r in labels.reports if r not in used),
    )


def missing_files(table: LinkTable, files: Collection[str]) -> tuple[FileError, ...]:
    """Files an image link CSV names that are not in the image folder."""
    return tuple(FileError(f, FILE_NOT_FOUND) for f in table.by_image if f not in files)
