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


def test_a_header_field_ends_with_its_line():
    sectioner = Sectioner(
        {"findings": ["检查所见"], "history": ["临床诊断"], "exam": ["检查部位"]},
        line_sections=["history", "exam"],
    )
    text = "临床诊断:肺炎?\n检查部位:胸部正位 腰椎正侧位\n1.两肺纹理增多。\n检查所见:心影不大"
    assert [(c.text.strip(), c.section) for c in sectioner.clauses(text)] == [
        ("肺炎?", "history"),
        ("胸部正位", "exam"),
        ("腰椎正侧位", "exam"),
        ("1.两肺纹理增多。", "body"),
        ("心影不大", "findings"),
    ]


def test_list_items_are_marked():
    clauses = SECTIONER.clauses("1.两肺纹理增多。2.腰椎退变,骨质疏松 3)心影大")
    assert [(c.text.strip(), c.opens_item) for c in clauses] == [
        ("1.两肺纹理增多。", True),
        ("2.腰椎退变", True),
        ("骨质疏松", False),
        ("3)心影大", True),
    ]
