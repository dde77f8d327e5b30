"""Labelling throughput on `cxrlabel extract`, Dask and Spark with 1 and 2 workers (docs/scale.md).

    .venv/bin/python benchmarks/bench_cluster.py [--reports 200000] [--corpus unique]

Every engine reads the same folder of Parquet part files and writes Parquet, as on a data lake.
Throughput (reports/s) is timed after the engine is up: the start-up column is what comes
before the first report (extract: the whole command on a one-report file; Dask: a LocalCluster
of worker processes and the labeler built on each; Spark: a local[N] session, its Python
workers and the labeler built in them). All outputs are checked to be identical to extract's.
Needs the [spark] and [dask] extras and a Java runtime; an engine that is missing is skipped.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_labeler import realistic, unique  # noqa: E402

import labeler  # noqa: E402

CXRLABEL = str(Path(sys.executable).with_name("cxrlabel"))
PARTS = 8


def write_corpus(root: Path, n: int, kind: str) -> tuple[Path, Path]:
    rng = random.Random(15)
    if kind == "mixed":
        texts = realistic(n // 2, rng) + unique(n - n // 2, rng)
        rng.shuffle(texts)
    else:
        texts = (unique if kind == "unique" else realistic)(n, rng)
    frame = pd.DataFrame({"id": [f"R{i:07d}" for i in range(n)], "text": texts})
    lake = root / "reports"
    lake.mkdir()
    step = -(-n // PARTS)
    for i in range(PARTS):
        part = pa.Table.from_pandas(frame.iloc[i * step : (i + 1) * step], preserve_index=False)
        pq.write_table(part, lake / f"part-{i:05d}.parquet")
    one = root / "one.parquet"
    pq.write_table(pa.Table.from_pandas(frame.head(1), preserve_index=False), one)
    return lake, one


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_extract(lake: Path, one: Path, out: Path, workers: int) -> tuple[float, float]:
    def cmd(src: Path, dst: Path) -> None:
        args = [CXRLABEL, "extract", str(src), "-o", str(dst), "--workers", str(workers)]
        subprocess.run(args, check=True, capture_output=True)

    startup = timed(lambda: cmd(one, out.with_name("startup-out.parquet")))
    return startup, timed(lambda: cmd(lake, out)) - startup


def run_dask(lake: Path, out: Path, workers: int) -> tuple[float, float]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    shipped = labeler.Labeler()
    client.run(lambda: shipped.label("两肺纹理增多。"))  # build it on every worker
    startup = time.perf_counter() - started
    try:
        ddf = dd.read_parquet(str(lake))
        work = labeler.label_dask(ddf, pack=shipped).to_parquet(str(out), compute=False)
        return startup, timed(work.compute)
    finally:
        client.close()
        cluster.close()


def run_spark(lake: Path, out: Path, workers: int) -> tuple[float, float]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{workers}]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(workers))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    shipped = labeler.Labeler()
    rows = [(str(i), "两肺纹理增多。") for i in range(workers)]
    warm = spark.createDataFrame(rows, ["id", "text"])
    labeler.label_spark(warm.repartition(workers), pack=shipped).collect()
    startup = time.perf_counter() - started
    try:
        sdf = spark.read.parquet(str(lake))
        job = labeler.label_spark(sdf, pack=shipped)
        return startup, timed(lambda: job.write.mode("overwrite").parquet(str(out)))
    finally:
        spark.stop()


def labels(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    return frame.sort_values("report_id").reset_index(drop=True).astype(str)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=200_000)
    ap.add_argument("--corpus", choices=["unique", "realistic", "mixed"], default="unique")
    ap.add_argument("--engines", default="extract,dask,spark")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_cluster."))
    try:
        lake, one = write_corpus(root, args.reports, args.corpus)
        print(
            f"{args.reports:,} {args.corpus} reports in {PARTS} Parquet parts; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start"
        )
        print(f"{'engine':<8} {'workers':>7} {'start-up s':>10} {'label s':>8} {'reports/s':>10}")
        rates: dict[tuple[str, int], float] = {}
        reference = None
        for engine in args.engines.split(","):
            for workers in (1, 2):
                out = root / f"{engine}-{workers}.parquet"
                try:
                    if engine == "extract":
                        startup, took = run_extract(lake, one, out, workers)
                    elif engine == "dask":
                        startup, took = run_dask(lake, out, workers)
                    else:
                        startup, took = run_spark(lake, out, workers)
                except ImportError as exc:
                    print(f"{engine:<8} skipped: {exc}")
                    break
                rate = args.reports / took
                rates[engine, workers] = rate
                print(f"{engine:<8} {workers:>7} {startup:>10.1f} {took:>8.1f} {rate:>10,.0f}")
                got = labels(out)
                if reference is None:
                    reference = got
                elif not got.equals(reference):
                    raise SystemExit(f"{engine} with {workers} workers: labels differ from extract")
        print(f"load average {os.getloadavg()[0]:.2f} at the end; all labels identical")
        base = rates.get(("extract", 2))
        for engine in ("extract", "dask", "spark"):
            if (engine, 1) in rates and (engine, 2) in rates:
                line = f"{engine}: 2 workers = {rates[engine, 2] / rates[engine, 1]:.2f}x one"
                if base and engine != "extract":
                    line += f", {rates[engine, 2] / base:.0%} of extract --workers 2"
                print(line)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
