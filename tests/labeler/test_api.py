"""The public API: `labeler.label`, `labeler.label_frame`, a picklable `labeler.Labeler`."""

import pickle
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

import labeler
from cli.label import main
from labeler.io import read_table
from labeler.types import State

EXAMPLES = "examples/reports.csv"
REGIONS = ["thorax", "lungs", "aorta", "heart", "diaphragm"]


def extract_csv(tmp_path, *args) -> pd.DataFrame:
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(main, ["extract", EXAMPLES, "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A labels frame as the CSV shows it: missing is empty, numbers their digits."""
    return frame.astype(object).where(frame.notna(), "").astype(str).reset_index(drop=True)


@pytest.mark.parametrize(
    ("args", "policies"),
    [
        ((), {}),
        (
            ("--uncertain", "keep", "--not-mentioned", "keep"),
            {"uncertain": "keep", "not_mentioned": "keep"},
        ),
    ],
)
def test_label_frame_label_and_extract_give_identical_rows(tmp_path, args, policies):
    cli = extract_csv(tmp_path, *args)
    frame = labeler.label_frame(read_table(EXAMPLES), **policies)
    assert list(frame.columns) == list(cli.columns)
    pd.testing.assert_frame_equal(as_text(frame), cli)
    reports = read_table(EXAMPLES)
    for text, (_, row) in zip(reports["text"], cli.iterrows(), strict=True):
        result = labeler.label(text, **policies)
        assert ["" if v is None else str(v) for v in result.vector] == [row[r] for r in REGIONS]
        assert [s.value for s in result.states.values()] == [row[f"{r}_state"] for r in REGIONS]


def test_result_has_states_vector_and_evidence():
    r = labeler.label("两肺纹理增多，心影不大。右下肺可疑结节影。")
    assert r.regions == tuple(REGIONS)
    assert r.states["lungs"] is State.POSITIVE and r.states["heart"] is State.NEGATIVE
    assert r.vector == (0, 1, 0, 0, 0)
    assert [e.text for e in r.evidence["lungs"]] == ["增多"]
    assert r.evidence["thorax"] == () and r.error is None
    assert labeler.label("右下肺可疑结节影。", uncertain="keep").vector == (0, -1, 0, 0, 0)
    assert labeler.label("心影饱满。", not_mentioned="keep").vector == (None, None, None, 1, None)


def test_label_frame_types_order_index_and_keep():
    df = pd.DataFrame(
        {"id": [" a ", "b", "c"], "text": ["心影饱满。", None, "两肺纹理增多。"], "pid": [7, 8, 9]},
        index=[10, 20, 30],
    )
    out = labeler.label_frame(df, keep=["pid"])
    assert list(out.index) == [10, 20, 30]
    assert list(out["report_id"]) == ["a", "b", "c"]
    assert list(out["heart"]) == [1, 0, 0] and str(out["heart"].dtype) == "Int64"
    assert list(out["no_region_mentioned"]) == [0, 1, 0]
    assert list(out["error"]) == ["", "", ""]
    assert list(out["pid"]) == [7, 8, 9]
    with pytest.raises(ValueError, match="would overwrite"):
        labeler.label_frame(df.rename(columns={"pid": "heart"}), keep=["heart"])


def test_label_frame_joins_findings_and_impression_like_extract():
    df = pd.DataFrame({"检查号": ["1"], "检查所见": ["两肺纹理清晰。"], "诊断意见": ["心影增大。"]})
    out = labeler.label_frame(df)
    assert (out.loc[0, "lungs_state"], out.loc[0, "heart"]) == ("negative", 1)


def test_label_frame_names_missing_columns_and_warns_on_ids():
    with pytest.raises(ValueError, match="no report id column.*columns found: text"):
        labeler.label_frame(pd.DataFrame({"text": ["心影饱满。"]}))
    with pytest.raises(ValueError, match="no column 'body'"):
        labeler.label_frame(pd.DataFrame({"id": ["a"], "text": ["x"]}), text_col="body")
    df = pd.DataFrame({"id": ["a", "a", ""], "text": ["心影饱满。"] * 3})
    with pytest.warns(UserWarning) as caught:
        out = labeler.label_frame(df)
    assert list(out["report_id"]) == ["a", "a", "row3"]
    assert sorted(str(w.message).split(" ")[1] for w in caught) == ["report", "reports"]


def test_label_frame_with_workers_and_an_overlay_pack():
    df = read_table(EXAMPLES).head(40)
    one = labeler.label_frame(df, pack="example_hospital")
    two = labeler.label_frame(df, pack=labeler.Labeler("example_hospital"), workers=2)
    pd.testing.assert_frame_equal(one, two)


def test_a_labeler_round_trips_through_pickle():
    fresh = labeler.Labeler()
    assert "matcher" not in vars(fresh)  # cheap to construct: nothing compiled yet
    data = pickle.dumps(fresh)
    assert len(data) < 500_000  # the pack, not jieba or OpenCC
    copy = pickle.loads(data)
    assert "matcher" not in vars(copy) and repr(copy) == "Labeler(pack='base', version='1.0')"
    texts = read_table(EXAMPLES)["text"]
    assert [copy.label(t) for t in texts] == [fresh.label(t) for t in texts]
    # a compiled Labeler still pickles as its pack; copies in one process share one state
    again = pickle.loads(pickle.dumps(copy))
    assert again.label(texts[0]) == fresh.label(texts[0])
    assert again.matcher is copy.matcher


def test_import_labeler_stays_light():
    code = (
        "import sys, labeler; labeler.label('心影饱满。'); labeler.label_frame; "
        "print(sorted(m for m in ('torch', 'pyspark', 'dask', 'distributed', 'classifier') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_readme_example_runs_as_printed(capsys):
    readme = open("README.md", encoding="utf-8").read()
    block = readme.split("### Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == ["(0, 1, 0, 0, 1)", "negative", "['增多']"]
    assert printed[-1] == "positive"
