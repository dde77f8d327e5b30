"""The labeling guide's phenomena, asserted as exact five-region states on the base pack."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeler.labeler import Labeler
from labeler.resolve import label_value
from labeler.types import Report, State

P, U, N, M = "positive", "uncertain", "negative", "not_mentioned"
REGIONS = ("thorax", "lungs", "aorta", "heart", "diaphragm")

CASES = [
    # the paper's normal template; 纹理稍增多 is normal (guide case 1)
    (
        "两侧胸廓对称。两肺纹理稍增多，未见明显异常实变影。心影外形及大小如常。两膈面光整，两肋膈角锐利。",
        (N, N, M, N, N),
    ),
    ("两侧胸廓不对称。", (P, M, M, M, M)),
    ("左下肺野见少许斑片模糊影。", (M, P, M, M, M)),
    ("右上肺可见小结节状致密影。", (M, P, M, M, M)),
    ("主动脉结突出并见钙化灶。", (M, M, P, M, M)),
    ("心影饱满。", (M, M, M, P, M)),
    ("右膈面模糊，右肋膈角变钝。", (M, M, M, M, P)),
    ("两肺纹理增多、增粗。", (M, P, M, M, M)),  # case 1
    ("两肺未见实变，右下肺见斑片影。", (M, P, M, M, M)),  # case 2: scope ends at the clause
    ("心肺膈未见明显异常。", (M, N, M, N, N)),  # case 3
    ("心、肺、膈未见异常。", (M, N, M, N, N)),
    ("双肺及心膈未见明显异常。", (M, N, M, N, N)),
    ("心肺未见异常。", (M, N, M, N, M)),
    ("见斑片影，考虑炎症。", (M, P, M, M, M)),  # cause hedged: positive
    ("右下肺可疑结节影。", (M, U, M, M, M)),
    ("左侧少量胸腔积液不除外。", (M, M, M, M, U)),
    ("左侧胸膜增厚粘连可能。", (M, M, M, M, U)),
    ("右下肺结节？", (M, U, M, M, M)),
    ("左侧少量积液。", (M, M, M, M, P)),  # case 4: implied region
    ("心影呈主动脉型。", (M, M, P, P, M)),  # case 5
    ("右下肺炎症较前吸收。", (M, P, M, M, M)),  # case 6
    ("右下肺斑片影较前变化不大。", (M, P, M, M, M)),
    ("原右下肺斑片影已吸收。", (M, N, M, M, M)),
    ("胸骨术后改变，见钢丝影。", (P, M, M, M, M)),  # case 7
    ("右肺术后改变，右肺体积减小。", (M, P, M, M, M)),
    ("心脏术后，见人工瓣膜影。", (M, M, M, P, M)),
    ("右侧气胸，肺组织压缩约30%。", (M, P, M, M, M)),  # case 8
    ("右侧液气胸。", (M, P, M, M, P)),
    ("左侧肋膈角显示欠清。", (M, M, M, M, P)),  # case 9
    ("兩肺紋理增多。主動脈結鈣化。心臟不大。右側肋膜積液。", (M, P, P, N, P)),  # case 10
    ("两肺纹理增多，建议复查。", (M, P, M, M, M)),  # case 11
    ("右下肺斑片影，余未见明显异常。", (N, P, N, N, N)),  # case 12
    ("胸片未见明显异常。", (N, N, N, N, N)),
    ("正常胸片。", (N, N, N, N, N)),
    ("心影左移。", (M, M, M, P, M)),  # case 13
    ("肺动脉段膨凸。", (M, M, M, P, M)),
    ("心、大血管未见异常。", (M, M, N, N, M)),
    ("右心膈角模糊。", (M, M, M, M, P)),
    ("主动脉支架置入术后。", (M, M, P, M, M)),  # case 14
    ("左侧颈肋。", (P, M, M, M, M)),
    ("胸椎退行性变。", (P, M, M, M, M)),
    ("左侧颈根部软组织内见积气。", (M, M, M, M, M)),
    ("右下肺野见结节状致密影，考虑体外物品。", (M, U, M, M, M)),  # case 15
    ("纵隔居中，气管居中。", (M, M, M, M, M)),  # mediastinum sets nothing
    ("PICC置管末端位于上腔静脉。", (M, M, M, M, M)),  # tubes and lines set nothing
    ("右肺尖胸膜增厚。", (M, P, M, M, M)),  # apical pleura belongs to the lungs
    ("左侧胸膜增厚粘连。", (M, M, M, M, P)),
    ("主动脉结增宽，可见钙化。", (M, M, P, M, M)),
    ("检查所见：两肺纹理清晰。心影不大。\n诊断意见：1.支气管炎 2.主动脉硬化", (M, P, P, N, M)),
    ("1、两肺纹理增多；2、主动脉硬化；3、心影增大", (M, P, P, P, M)),
    ("两肺(-)，心膈(-)。", (M, N, M, N, N)),
    ("右侧第5肋骨骨折。", (P, M, M, M, M)),
    ("主动脉结不突出。心影不增大。", (M, M, N, N, M)),
    ("床旁胸片：气管插管及胃管置入，两肺渗出，较前吸收。", (M, P, M, M, M)),
]


@pytest.mark.parametrize(("text", "states"), CASES, ids=[c[0][:16] for c in CASES])
def test_guide_phenomena(base_labeler, text, states):
    got = base_labeler.label(text).states
    assert tuple(got[r].value for r in REGIONS) == states


def test_vector_default_policy(base_labeler):
    result = base_labeler.label("右下肺可疑结节影。心影增大。两侧胸廓对称。")
    assert [label_value(d.state) for d in result.decisions] == [0, 1, 0, 1, 0]


def test_evidence_points_at_the_original_text(base_labeler):
    text = "兩肺紋理增多，心臟影增大。"
    result = base_labeler.label(text)
    heart = result.decisions[3]
    (ev,) = heart.evidence
    assert (ev.rule_id, text[ev.start : ev.end], ev.region_from) == (
        "find.generic",
        "增大",
        "anchor",
    )
    assert text[ev.anchor_span[0] : ev.anchor_span[1]] == "心臟影"


@pytest.mark.parametrize("value", ["", "   ", None, float("nan")])
def test_empty_reports_mention_nothing(base_labeler, value):
    result = base_labeler.label(Report("x", value))
    assert result.no_region_mentioned and result.error is None


def test_a_failing_row_becomes_an_error_row(monkeypatch):
    labeler = Labeler()

    def boom(text):
        raise RuntimeError("bad row")

    monkeypatch.setattr(labeler, "_decide", boom)
    result = labeler.label(Report("r7", "心影增大", 6))
    assert result.error == "RuntimeError: bad row"
    assert (result.report_id, result.row) == ("r7", 6)
    assert all(s is State.NOT_MENTIONED for s in result.states.values())


def test_workers_keep_input_order(base_labeler):
    texts = ["心影增大。", "两肺纹理清晰。", "", "右侧液气胸。"] * 30
    reports = [Report(str(i), t, i) for i, t in enumerate(texts)]
    one = list(base_labeler.label_many(reports))
    two = list(base_labeler.label_many(reports, workers=2, chunk=7))
    assert [r.report_id for r in two] == [str(i) for i in range(len(texts))]
    assert [r.states for r in two] == [r.states for r in one]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_raises(text):
    result = FUZZ.label(text)
    assert result.error is None
    vector = [label_value(d.state) for d in result.decisions]
    assert len(vector) == 5 and set(vector) <= {0, 1}


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet="两肺心影主动脉结膈面肋角胸廓未见无不可疑增大钝模糊积液，。、？1.() ", max_size=40
    )
)
def test_report_like_text_never_raises(text):
    assert FUZZ.label(text).error is None


FUZZ = Labeler()
