import pytest

from labeler.sections import Sectioner

SECTIONER = Sectioner({"findings": ["检查所见", "所见"], "impression": ["诊断意见", "印象"]})


def texts(text):
    return [(c.text, c.section, c.sentence) for c in SECTIONER.clauses(text)]


def test_sentences_and_clauses_keep_offsets():
    text = "两肺纹理增多,心影不大。膈面光整"
    clauses = SECTIONER.clauses(text)
    assert [c.text for c in clauses] == ["两肺纹理增多", "心影不大。", "膈面光整"]
    assert [c.sentence for c in clauses] == [0, 0, 1]
    for c in clauses:
        assert text[c.start : c.end] == c.text


def test_headed_sections():
    out = texts("检查所见:两肺纹理增多。诊断意见:支气管炎")
    assert out == [("两肺纹理增多。", "findings", 0), ("支气管炎", "impression", 2)]


def test_bracketed_heading():
    assert texts("【印象】心肺未见异常")[0][:2] == ("心肺未见异常", "impression")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.两肺纹理增多 2.主动脉硬化", ["1.两肺纹理增多", "2.主动脉硬化"]),
        ("1、肺炎;2、主动脉硬化", ["1、肺炎;", "2、主动脉硬化"]),
        ("右肺结节约0.5CM大小", ["右肺结节约0.5CM大小"]),
        ("心影增大?主动脉硬化", ["心影增大?", "主动脉硬化"]),
    ],
)
def test_list_markers_and_decimals(text, expected):
    assert [t for t, _, _ in texts(text)] == expected


def test_list_items_are_separate_sentences():
    sentences = [s for _, _, s in texts("1.两肺纹理增多 2.主动脉硬化")]
    assert sentences[0] != sentences[1]


def test_blank_text_has_no_clauses():
    assert SECTIONER.clauses("   \n ") == []
