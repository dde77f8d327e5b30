"""Spark local[2] and Dask on a 2-process LocalCluster give the bytes `cxrlabel extract` writes,
on the bundled examples and on a generated 20k-report corpus. Skipped without pyspark / dask
(the [spark] / [dask] extras) or, for Spark, without a Java runtime."""

import csv
import io
import os
import random
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import labeler
from cli.label import main
from labeler.io import label_columns, read_table

pytestmark = [
    pytest.mark.slow,
    # pyspark 4.3 on pandas 3: noise from pyspark's own conversions
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
EXAMPLES = "examples/reports.csv"
REGIONS = ("thorax", "lungs", "aorta", "heart", "diaphragm")


def corpus(n: int, seed: int = 15) -> pd.DataFrame:
    """`n` reports recombined from the sentences of the bundled examples, a third of them with
    random measurements (so few texts repeat), plus empty and missing texts."""
    rng = random.Random(seed)
    texts = read_table(EXAMPLES)["text"]
    sentences = [s for t in texts for s in re.findall(r"[^。；\n]+[。；\n]?", t) if s.strip()]
    rows = []
    for i in range(n):
        picked = rng.sample(sentences, rng.randint(1, 6))
        if i % 3 == 0:
            picked.insert(rng.randrange(len(picked) + 1), f"病灶约{rng.randint(1, 99)}mm。")
        text = "".join(picked) if i % 997 else rng.choice(["", None])
        rows.append((f"R{i:06d}", text, i))
    return pd.DataFrame(rows, columns=["id", "text", "n"])


def extract_bytes(tmp_path: Path, source: Path, *args: str) -> bytes:
    out = tmp_path / f"extract-{source.stem}.csv"
    result = CliRunner().invoke(main, ["extract", str(source), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A labels frame written as `extract` writes labels.csv."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    columns = label_columns(REGIONS)
    writer.writerow(columns)
    for row in frame[columns].itertuples(index=False):
        writer.writerow(["" if pd.isna(v) else v for v in row])
    return handle.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, tuple[Path, pd.DataFrame]]:
    """Each input as a file `extract` reads and as the table the engines get."""
    root = tmp_path_factory.mktemp("cluster")
    examples = read_table(EXAMPLES)
    examples["n"] = range(len(examples))
    big = corpus(20_000)
    parquet = root / "corpus.parquet"
    pq.write_table(pa.Table.from_pandas(big, preserve_index=False), parquet)
    return {"examples": (Path(EXAMPLES), examples), "corpus": (parquet, big)}


@pytest.fixture(scope="module")
def expected(sources, tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("extract")
    return {name: extract_bytes(root, path) for name, (path, _) in sources.items()}


def test_the_generated_corpus_reads_the_same_from_parquet_and_csv(sources, expected, tmp_path):
    path, frame = sources["corpus"]
    as_csv = tmp_path / "corpus.csv"
    frame.to_csv(as_csv, index=False)
    assert extract_bytes(tmp_path, as_csv) == expected["corpus"]
    assert expected["corpus"].count(b"\n") == 20_001


# ------------------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("name", ["examples", "corpus"])
def test_dask_on_two_worker_processes_gives_the_bytes_of_extract(
    dask_client, sources, expected, name
):
    import dask.dataframe as dd

    _, frame = sources[name]
    ddf = dd.from_pandas(frame, npartitions=8)
    labelled = labeler.label_dask(ddf, keep=["n"])
    assert list(labelled.columns) == [*label_columns(REGIONS), "n"]  # from meta, nothing run
    out = labelled.compute()
    assert list(out["n"]) == list(range(len(frame)))
    assert csv_bytes(out) == expected[name]
    workers = dask_client.run(lambda: os.getpid())
    assert len(set(workers.values())) == 2


def test_dask_with_an_overlay_pack_shipped_as_data(dask_client, sources, tmp_path):
    import dask.dataframe as dd

    _, frame = sources["examples"]
    want = extract_bytes(tmp_path, Path(EXAMPLES), "--rules", "example_hospital")
    pack = labeler.Labeler("example_hospital").pack  # a Pack object: travels as data
    out = labeler.label_dask(dd.from_pandas(frame, npartitions=3), pack=pack).compute()
    assert csv_bytes(out) == want


def test_dask_parquet_parts_read_back_by_extract(dask_client, sources, expected, tmp_path):
    """A data-lake round trip: Dask writes the corpus as part files, `extract` reads the
    folder and writes Parquet part files, and those hold the labels of the CSV run."""
    import dask.dataframe as dd

    _, frame = sources["corpus"]
    dd.from_pandas(frame, npartitions=12).to_parquet(tmp_path / "lake", write_index=False)
    out = tmp_path / "labels.parquet"
    args = ["extract", str(tmp_path / "lake"), "-o", str(out), "--part-rows", "6000"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(4)]
    assert csv_bytes(pd.read_parquet(out)) == expected["corpus"]


# ------------------------------------------------------------------------------------ Spark


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs a Java runtime (apt-get install default-jre-headless)")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this environment
    session = (
        SparkSession.builder.master("local[2]")
        .appName("cxrlabel-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.files.maxPartitionBytes", "262144")  # several partitions per file
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2000")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.parametrize("name", ["examples", "corpus"])
def test_spark_local2_gives_the_bytes_of_extract(spark, sources, expected, name):
    path, frame = sources[name]
    if path.suffix == ".parquet":
        sdf = spark.read.parquet(str(path))
    else:
        sdf = spark.createDataFrame(frame).repartition(3)
    assert sdf.rdd.getNumPartitions() > 1
    labelled = labeler.label_spark(sdf, keep=["n"])
    assert labelled.columns == [*label_columns(REGIONS), "n"]
    out = labelled.toPandas().sort_values("n")
    assert list(out["n"]) == list(range(len(frame)))
    assert csv_bytes(out) == expected[name]


def test_spark_output_written_as_parquet_is_read_back_by_extract(spark, sources, tmp_path):
    """Spark writes the examples as a folder of part files; `extract` labels the folder."""
    _, frame = sources["examples"]
    spark.createDataFrame(frame).coalesce(1).write.parquet(str(tmp_path / "lake"))
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(main, ["extract", str(tmp_path / "lake"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "as Parquet" in result.output
    assert out.read_bytes() == extract_bytes(tmp_path, Path(EXAMPLES))
