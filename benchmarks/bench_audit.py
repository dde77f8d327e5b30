"""Audit throughput on a realistic synthetic corpus: reports built from template sentences, as
real ones are (两侧胸廓对称。 opens most normal reports), with sizes and sides that vary.

    .venv/bin/python benchmarks/bench_audit.py              # 100,000 reports, 1 and 2 workers
    .venv/bin/python benchmarks/bench_audit.py -n 20000 --workers 1

Reads the corpus back from CSV and writes the four audit files, as `cxrlabel audit` does.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import tempfile
import time
from pathlib import Path

from labeler.audit import run_audit, write_audit
from labeler.io import read_reports
from labeler.labeler import Labeler

SIDE = ("左", "右", "两")
ZONE = ("上", "中", "下")
# per region: (normal sentences, abnormal sentences); {side} {zone} {size} are filled at random
TEMPLATES = {
    "thorax": (
        ["两侧胸廓对称。", "胸廓对称，骨质未见异常。", "胸廓两侧对称。"],
        ["{side}侧第{rib}肋骨骨折。", "胸椎侧弯。", "{side}侧胸壁软组织肿胀。"],
    ),
    "lungs": (
        ["两肺纹理清晰，未见明显实变影。", "两肺纹理稍增多，未见明显异常实变影。", "双肺野清晰。"],
        [
            "{side}{zone}肺见斑片状模糊影。",
            "两肺纹理增多、增粗。",
            "{side}{zone}肺见结节影，大小约{size}cm。",
            "{side}{zone}肺野见条索影，考虑陈旧性病变。",
            "{side}{zone}肺可疑小结节影。",
        ],
    ),
    "aorta": (
        ["主动脉结不宽。", ""],
        ["主动脉结突出，可见弧形钙化。", "主动脉迂曲延长。"],
    ),
    "heart": (
        ["心影大小形态如常。", "心影不大。", "心影外形及大小如常。"],
        ["心影增大，心胸比约0.{ctr}。", "心影饱满。", "心影呈主动脉型。"],
    ),
    "diaphragm": (
        ["两膈面光整，两肋膈角锐利。", "双膈光整，肋膈角锐利。"],
        ["{side}侧肋膈角变钝。", "{side}侧少量胸腔积液。", "{side}膈面抬高。"],
    ),
}
IMPRESSION = ("心肺膈未见明显异常。", "请结合临床。", "建议复查。", "")


def _fill(sentence: str, rng: random.Random) -> str:
    return sentence.format(
        side=rng.choice(SIDE[:2]),
        zone=rng.choice(ZONE),
        size=f"{rng.randint(3, 25) / 10:.1f}",
        rib=rng.randint(3, 9),
        ctr=rng.randint(52, 65),
    )


def report(rng: random.Random, abnormal: float = 0.25) -> str:
    parts = []
    for normal, abnormal_sentences in TEMPLATES.values():
        pool = abnormal_sentences if rng.random() < abnormal else normal
        parts.append(_fill(rng.choice(pool), rng))
    return "".join(parts) + rng.choice(IMPRESSION)


def write_corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["report_id", "text"])
        writer.writerows((f"B{i:06d}", report(rng)) for i in range(n))


def _cpu_seconds() -> float:
    """User + system time of this process and of its finished children (worker processes)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--reports", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rules", default="base")
    args = parser.parse_args()
    labeler = Labeler(args.rules)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.csv"
        write_corpus(corpus, args.reports)
        started = time.perf_counter()
        reports = read_reports(corpus)
        read_s = time.perf_counter() - started
        distinct = len({r.text for r in reports})
        print(f"{len(reports):,} reports, {distinct:,} distinct texts; read in {read_s:.1f} s")
        for workers in args.workers:
            cpu, started = _cpu_seconds(), time.perf_counter()
            audit = run_audit(labeler, reports, workers=workers)
            write_audit(audit, Path(tmp) / f"audit{workers}")
            elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
            # CPU seconds as well as wall time: on a shared machine the wall time depends on
            # what else runs, the CPU time much less
            print(
                f"workers={workers}: {elapsed:.1f} s wall, {cpu:.1f} s CPU in all processes, "
                f"audit + files ({len(reports) / elapsed:,.0f} reports/s); "
                f"{len(audit.conflicts):,} conflicts, "
                f"{len(audit.unmatched):,} distinct unmatched clauses"
            )


if __name__ == "__main__":
    main()
