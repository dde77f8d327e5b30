"""Labeler throughput against bare jieba.lcut on the same reports (see shared/performance-targets).

    .venv/bin/python benchmarks/bench_labeler.py [--reports 100000]

Two corpora: "realistic" reports assembled from the template sentences hospitals repeat, and
"unique" reports whose every clause carries random measurements, so no cache can help.
"""

from __future__ import annotations

import argparse
import logging
import random
import time

import jieba

from labeler.io import render
from labeler.labeler import Labeler
from labeler.types import Report

THORAX = ["两侧胸廓对称。", "胸廓对称。", "两侧胸廓不对称。", "胸廓未见畸形。"]
LUNGS = [
    "两肺纹理稍增多，未见明显异常实变影。",
    "两肺纹理清晰，未见实变。",
    "两肺纹理增多、增粗。",
    "左下肺野见少许斑片模糊影。",
    "右上肺可见小结节状致密影。",
    "两肺野清晰。",
]
AORTA = ["主动脉结不宽。", "主动脉结突出并见钙化灶。", "主动脉迂曲。", ""]
HEART = ["心影外形及大小如常。", "心影不大。", "心影饱满。", "心影增大，呈主动脉型。"]
DIAPHRAGM = [
    "两膈面光整，两肋膈角锐利。",
    "右膈面隆起，右肋膈角变钝。",
    "两膈面光整。",
    "左肋膈角变钝。",
]
SIDES = ["左", "右", "两"]
LOBES = ["上", "中", "下"]


def realistic(n: int, rng: random.Random) -> list[str]:
    return [
        "".join(rng.choice(part) for part in (THORAX, LUNGS, AORTA, HEART, DIAPHRAGM))
        for _ in range(n)
    ]


def unique(n: int, rng: random.Random) -> list[str]:
    def size() -> str:
        return f"{rng.randint(1, 99)}.{rng.randint(0, 9)}"

    out = []
    for _ in range(n):
        side, lobe = rng.choice(SIDES), rng.choice(LOBES)
        out.append(
            f"第{rng.randint(1, 12)}肋走行自然。{side}{lobe}肺见约{size()}mm结节，"
            f"边缘{rng.choice(['清', '模糊'])}，CT值{rng.randint(10, 400)}。"
            f"主动脉结宽约{size()}mm。心胸比约0.{rng.randint(40, 65)}。"
            f"{side}肋膈角{rng.choice(['锐利', '变钝'])}，距膈面{size()}cm。"
        )
    return out


def rate(fn, texts: list[str]) -> float:
    start = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - start)


def run(texts: list[str], pack: str) -> dict[str, float]:
    tk = jieba.Tokenizer()
    tk.initialize()
    reports = [Report(str(i), t, i) for i, t in enumerate(texts)]
    out = {"jieba.lcut (HMM on)": rate(lambda ts: [tk.lcut(t) for t in ts], texts)}
    labeler = Labeler(pack)
    labeler.label("两肺纹理增多。")  # pay jieba's dictionary load outside the timing
    # the rows `cxrlabel extract` writes, with the worker start-up inside the timing
    out["labeler, 1 worker"] = rate(
        lambda _: list(labeler.label_many(reports, render=render)), texts
    )
    fresh = Labeler(pack)
    out["labeler, 2 workers"] = rate(
        lambda _: list(fresh.label_many(reports, workers=2, render=render)), texts
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--rules", default="base")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    jieba.setLogLevel(logging.WARNING)
    rng = random.Random(args.seed)
    for name, texts in (
        ("realistic", realistic(args.reports, rng)),
        ("unique", unique(args.reports, rng)),
    ):
        chars = sum(map(len, texts)) / len(texts)
        rates = run(texts, args.rules)
        base = rates["jieba.lcut (HMM on)"]
        one = rates["labeler, 1 worker"]
        print(f"\n{name}: {len(texts):,} reports, {chars:.0f} chars each")
        for what, value in rates.items():
            print(
                f"  {what:<22} {value:>9,.0f} reports/s  {value / base:5.2f}× jieba"
                + (f"  {value / one:4.2f}× 1 worker" if "2 workers" in what else "")
            )


if __name__ == "__main__":
    main()
