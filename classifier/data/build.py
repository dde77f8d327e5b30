"""`cxrclf dataset build`: image folder + labels.csv -> PNGs, manifest, stats, errors.

Order matters for leakage: films are linked and converted, patients are split, and only then is
the training split balanced and (optionally) augmented, so no copy of a film crosses splits.

Outputs in the dataset folder:
  images/<id>.png       training image per film (<id> is a digest of the source path)
  full/<id>.png         full-resolution 16-bit image (--keep-full)
  augmented/<id>_*.png  offline augmented copies (--offline-augment K)
  manifest.csv (+ manifest.parquet with pyarrow), stats.md, errors.csv, unlinked.csv
Every file is written atomically; a rerun keeps valid PNGs and redoes the rest.

Over 300 lines on purpose: the order above is the leakage guarantee, and this module reads top
to bottom as that order, with stats.md rendered from the same result at the end.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from classifier.data.balance import balance
from classifier.data.convert import ConvertJob, convert
from classifier.data.dicomio import (
    FileError,
    Header,
    header_or_reason,
    is_raster,
    not_a_file_reason,
)
from classifier.data.link import (
    InputError,
    Labels,
    LinkedFilm,
    Linking,
    LinkTable,
    Source,
    label_regions,
    link_films,
    missing_files,
    read_labels,
    read_link,
)
from classifier.data.manifest import ManifestRow, write_manifest
from classifier.data.split import patient_vectors, split_patients
from classifier.data.stats import Table1, render_balance, render_counts, render_table1, table1
from classifier.data.transforms import (
    AugmentJob,
    AugmentParams,
    AugmentSpec,
    augment_file,
    sample_params,
)
from classifier.files import png_mode, write_text_atomic
from classifier.run import WINDOWING, FilmFormat
from toolkit.procs import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

# Files an image folder commonly holds that are not films.
SKIPPED_NAMES = frozenset({"DICOMDIR"})


@dataclass(frozen=True)
class BuildConfig:
    images: Path
    labels: Path
    out: Path
    link: Path | None = None
    key: str = "accession"
    size: int = 256
    bit_depth: int = 8
    keep_full: bool = False
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    balance_target: float = 0.2
    offline_augment: int = 0
    workers: int = 1
    seed: int = 0
    excel: bool = False  # errors.csv and unlinked.csv start with a BOM for Excel


@dataclass(frozen=True)
class BuildResult:
    rows: tuple[ManifestRow, ...]
    errors: tuple[FileError, ...]
    linking: Linking
    converted: int
    skipped: int
    short: tuple[str, ...]


def scan(images: Path, exclude: Sequence[Path] = ()) -> tuple[list[str], list[FileError]]:
    """Every regular file under `images` (relative, POSIX, sorted), minus hidden ones, DICOMDIR
    and the `exclude` paths (the output folder or labels.csv may sit inside the image folder);
    and an error row for each name that is not one (a broken or looping symlink, a FIFO, a
    socket or device), which is never opened: reading a FIFO would wait for ever."""
    excluded = {os.path.realpath(path) for path in exclude}
    found, skipped = [], []
    for root, dirs, names in os.walk(images):
        here = Path(root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and os.path.realpath(here / d) not in excluded
        )
        for name in names:
            path = here / name
            if name.startswith(".") or name in SKIPPED_NAMES:
                continue
            if os.path.realpath(path) in excluded:
                continue
            relative = path.relative_to(images).as_posix()
            reason = not_a_file_reason(path)
            if reason:
                skipped.append(FileError(relative, reason))
            else:
                found.append(relative)
    return sorted(found), sorted(skipped, key=lambda e: e.file)


def film_id(file: str) -> str:
    return hashlib.sha1(file.encode("utf-8")).hexdigest()[:16]


def augment_params(seed: int, stem: str, replica: int, copy: int) -> AugmentParams:
    """Parameters depend only on the seed and the copy's identity, so a rerun or a larger cohort
    gives every existing copy the same augmentation."""
    state = np.random.SeedSequence([seed, int(stem, 16), replica, copy]).generate_state(1)
    generator = torch.Generator().manual_seed(int(state[0]))
    return AugmentParams.from_row(sample_params(AugmentSpec(), 1, generator)[0])


def _map(
    fn: Callable[[T], R], items: Sequence[T], pool: Executor | None, desc: str, progress: bool
) -> list[R]:
    bar = {"total": len(items), "desc": desc, "unit": "file", "disable": not progress}
    if pool is None or len(items) < 2:
        return [fn(item) for item in tqdm(items, **bar)]
    # Small chunks keep the bar moving; large ones cut pickling overhead.
    chunk = max(1, min(32, len(items) // 64))
    return list(tqdm(pool.map(fn, items, chunksize=chunk), **bar))


def _read_sources(
    files: Sequence[str],
    images: Path,
    table: LinkTable | None,
    run: Callable[..., list],
) -> tuple[list[Source], list[FileError]]:
    # With an image link CSV, unlisted files need no header: they have no report either way.
    wanted = [
        f
        for f in files
        if not is_raster(Path(f)) and (table is None or not table.by_image or f in table.by_image)
    ]
    read = run(header_or_reason, [images / f for f in wanted], "headers")
    headers = dict(zip(wanted, read, strict=True))
    sources, errors = [], []
    for f in files:
        header = headers.get(f)
        if isinstance(header, str):
            errors.append(FileError(f, header))
        else:
            sources.append(Source(f, header if isinstance(header, Header) else None))
    return sources, errors


def _convert_jobs(films: Sequence[LinkedFilm], config: BuildConfig) -> list[ConvertJob]:
    return [
        ConvertJob(
            source=config.images / film.file,
            image=config.out / "images" / f"{film_id(film.file)}.png",
            full=config.out / "full" / f"{film_id(film.file)}.png" if config.keep_full else None,
            size=config.size,
            bit_depth=config.bit_depth,
        )
        for film in films
    ]


def _originals(
    films: Sequence[LinkedFilm], labels: Labels, split: dict[str, str]
) -> list[ManifestRow]:
    rows = []
    for film in films:
        report = labels.reports[film.report_id]
        image = f"images/{film_id(film.file)}.png"
        rows.append(
            ManifestRow(
                image=image,
                patient_id=film.patient_id,
                study_key=film.study_key,
                report_id=film.report_id,
                split=split[film.patient_id],
                labels=report.labels,
                states=report.states,
                source_file=film.file,
                source_image=image,
            )
        )
    return rows


def _replicas(train: Sequence[ManifestRow], copies: np.ndarray) -> list[ManifestRow]:
    return [
        replace(row, replica=k)
        for row, n in zip(train, copies, strict=True)
        for k in range(1, int(n) + 1)
    ]


def _augment_jobs(
    train: Sequence[ManifestRow], config: BuildConfig
) -> tuple[list[ManifestRow], list[AugmentJob]]:
    rows, jobs = [], []
    for row in train:
        stem = Path(row.source_image).stem
        for copy in range(config.offline_augment):
            params = augment_params(config.seed, stem, row.replica, copy)
            digest = hashlib.sha1(params.to_json().encode()).hexdigest()[:8]
            image = f"augmented/{stem}_r{row.replica}_a{copy}_{digest}.png"
            rows.append(replace(row, image=image, augment=params.to_json()))
            jobs.append(
                AugmentJob(
                    source=config.out / row.source_image,
                    target=config.out / image,
                    params=params,
                    size=config.size,
                    mode=png_mode(config.bit_depth),
                )
            )
    return rows, jobs


def _matrix(labels: Iterable[tuple[int, ...]], regions: Sequence[str]) -> np.ndarray:
    """(examples x regions) 0/1, also for no examples at all."""
    return np.array(list(labels), dtype=np.int64).reshape(-1, len(regions))


def _labels(rows: Iterable[ManifestRow], regions: Sequence[str]) -> np.ndarray:
    return _matrix((row.labels for row in rows), regions)


def film_format(config: BuildConfig, regions: Sequence[str]) -> FilmFormat:
    """The record of how this build makes training images, written beside the manifest."""
    return FilmFormat(config.size, config.bit_depth, WINDOWING, tuple(regions))


def build(config: BuildConfig, progress: bool = True) -> BuildResult:
    regions = label_regions(config.labels)
    labels = read_labels(config.labels, regions)
    table = read_link(config.link) if config.link else None
    files, skipped = scan(
        config.images, [config.out, config.labels, *([config.link] if config.link else [])]
    )
    # The platform's start method, as cxrlabel uses: fork on Linux, where workers start in
    # milliseconds; spawn would re-import the whole CLI, torch included, in every worker (5-10 s).
    # Workers are forked at the pool's first map (headers), before the parent runs any torch op.
    # die_with_parent: a killed build leaves no worker, under any start method.
    pool = (
        ProcessPoolExecutor(config.workers, initializer=die_with_parent)
        if config.workers > 1
        else None
    )
    with pool or nullcontext():

        def run(fn: Callable[[T], R], items: Sequence[T], desc: str) -> list[R]:
            return _map(fn, items, pool, desc, progress)

        sources, errors = _read_sources(files, config.images, table, run)
        errors += skipped
        linking = link_films(sources, labels, config.key, table)
        errors += linking.errors
        if table is not None:
            errors += missing_files(table, {*files, *(e.file for e in skipped)})
        jobs = _convert_jobs(linking.films, config)
        results = run(convert, jobs, "convert")
        outcomes = list(zip(linking.films, results, strict=True))
        errors += [FileError(film.file, r.reason) for film, r in outcomes if r.reason]
        films = [film for film, r in outcomes if not r.reason]

        film_labels = _matrix((labels.reports[f.report_id].labels for f in films), regions)
        ids, vectors = patient_vectors([f.patient_id for f in films], film_labels)
        split = split_patients(ids, vectors, config.split, config.seed)
        problem = nothing_to_train(len(files), films, split, config.split)
        if problem:
            _write_reasons(errors, linking, labels, config.out, config.excel)
            raise InputError(problem)
        originals = _originals(films, labels, split)
        train = [row for row in originals if row.split == "train"]
        balanced = balance(_labels(train, regions), regions, config.balance_target, config.seed)
        replicas = _replicas(train, balanced.copies)
        augmented, augment_jobs = _augment_jobs([*train, *replicas], config)
        run(augment_file, augment_jobs, "augment")

    rows = (*originals, *replicas, *augmented)
    result = BuildResult(
        rows=rows,
        errors=tuple(sorted(errors, key=lambda e: e.file)),
        linking=linking,
        converted=sum(1 for r in results if not r.reason and not r.skipped),
        skipped=sum(1 for r in results if r.skipped),
        short=balanced.short,
    )
    _write_outputs(result, config, regions, labels)
    return result


def nothing_to_train(
    scanned: int, films: Sequence[LinkedFilm], split: dict[str, str], fractions: Sequence[float]
) -> str:
    """Why this build cannot make a usable dataset ("" when it can): no film linked and
    converted, or a split given a share of patients that got none (too few patients)."""
    if not films:
        return (
            f"no film was linked to a report and converted ({scanned} files found); "
            "see errors.csv and unlinked.csv in the output folder"
        )
    patients = {name: set() for name in ("train", "val", "test")}
    for patient, name in split.items():
        patients[name].add(patient)
    empty = [
        name
        for name, share in zip(patients, fractions, strict=True)
        if share > 0 and not patients[name]
    ]
    if not empty:
        return ""
    counts = ", ".join(f"{name} {len(ids)}" for name, ids in patients.items())
    return (
        f"too few patients ({len(split)}) for --split {','.join(f'{f:g}' for f in fractions)}: "
        f"{' and '.join(empty)} would be empty (patients: {counts}); every split with a share "
        "needs at least 1 patient: add films, or give such a split 0"
    )


def _write_reasons(
    errors: Sequence[FileError], linking: Linking, labels: Labels, out: Path, bom: bool = False
) -> None:
    """errors.csv and unlinked.csv: why films failed or found no report."""
    rows = sorted(errors, key=lambda e: e.file)
    frame = pd.DataFrame([e.__dict__ for e in rows], columns=["file", "reason"])
    write_text_atomic(out / "errors.csv", frame.to_csv(index=False), bom=bom)
    unlinked = [("image_without_report", f) for f in linking.images_without_report]
    unlinked += [("report_without_image", r) for r in linking.reports_without_image]
    unlinked += [("report_with_error", r) for r in labels.failed]
    frame = pd.DataFrame(unlinked, columns=["kind", "id"])
    write_text_atomic(out / "unlinked.csv", frame.to_csv(index=False), bom=bom)


def _write_outputs(
    result: BuildResult, config: BuildConfig, regions: Sequence[str], labels: Labels
) -> None:
    out = config.out
    write_manifest(result.rows, out, film_format(config, regions))
    _write_reasons(result.errors, result.linking, labels, out, config.excel)
    write_text_atomic(out / "stats.md", render_stats(result, config, regions))


def render_stats(result: BuildResult, config: BuildConfig, regions: Sequence[str]) -> str:
    originals = [r for r in result.rows if r.replica == 0 and not r.augment]
    parts = [
        "# Dataset statistics\n",
        render_counts(
            "Build",
            {
                "training image": f"{config.size}x{config.size}, {config.bit_depth}-bit",
                "split (train, val, test)": ", ".join(f"{s:g}" for s in config.split),
                "seed": config.seed,
                "balance target": f"{config.balance_target:g}",
                "offline augmented copies per training example": config.offline_augment,
            },
        ),
        render_counts(
            "Linking",
            {
                "films linked to a report": len(result.linking.films),
                "files that failed (errors.csv)": len(result.errors),
                "images without a report (unlinked.csv)": len(result.linking.images_without_report),
                "reports without an image (unlinked.csv)": len(
                    result.linking.reports_without_image
                ),
            },
        ),
    ]
    split_counts: dict[str, int | str] = {}
    tables: dict[str, Table1] = {"all": table1(_labels(originals, regions), regions)}
    for name in ("train", "val", "test"):
        rows = [r for r in originals if r.split == name]
        patients = len({r.patient_id for r in rows})
        split_counts[name] = f"{patients} patients, {len(rows)} films"
        tables[name] = table1(_labels(rows, regions), regions)
    parts.append(render_counts("Splits (by patient)", split_counts))
    parts.append("## Table 1 per split (films before balancing)\n")
    parts += [render_table1(name, t) for name, t in tables.items()]
    train_rows = [r for r in result.rows if r.split == "train"]
    after = table1(_labels([r for r in train_rows if not r.augment], regions), regions)
    parts.append("## Balancing (train only)\n")
    parts.append(render_balance(tables["train"], after, config.balance_target, result.short))
    if config.offline_augment:
        augmented = table1(_labels(train_rows, regions), regions)
        parts.append(render_table1("train after balancing and augmentation", augmented))
    return "\n".join(parts)
