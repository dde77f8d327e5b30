from labeler.normalize import Normalizer
from labeler.packs import NormalizeEntry, load_pack


def base() -> Normalizer:
    return Normalizer(s.item for s in load_pack("base").normalize)


def test_width_folding_keeps_offsets():
    norm = base()("心胸比约０．５８，两肺（－）")
    assert norm.text == "心胸比约0.58,两肺(-)"
    assert norm.starts is None  # length-preserving: spans map one to one
    assert norm.source_span(4, 8) == (4, 8)


def test_traditional_to_simplified():
    assert base()("兩側胸廓對稱。主動脈結突出").text == "两侧胸廓对称。主动脉结突出"


def test_pack_replacements_map_spans_back_to_original():
    text = "两肋隔角锐利，心脏影不大"
    norm = base()(text)
    assert norm.text == "两肋膈角锐利,心影不大"
    start = norm.text.index("心影")
    s, e = norm.source_span(start, start + 2)
    assert text[s:e] == "心脏影"
    s, e = norm.source_span(norm.text.index("锐利"), norm.text.index("锐利") + 2)
    assert text[s:e] == "锐利"


def test_mediastinum_typo_is_not_the_diaphragm():
    assert base()("纵膈居中，隔面光整，腔内隔绝术后").text == "纵隔居中,膈面光整,腔内隔绝术后"


def test_first_matching_entry_wins():
    norm = Normalizer(
        [NormalizeEntry(id="a", term="AB", to="x"), NormalizeEntry(id="b", term="A", to="y")]
    )
    assert norm("AAB").text == "yx"


def test_empty_text():
    assert base()("").text == ""


def test_stray_spaces_inside_terms_are_dropped_and_separators_kept():
    norm = Normalizer([], joinable={"心影", "膈面"})
    text = "心 影不大  两肺纹理增多\n两膈 面光整"
    out = norm(text)
    assert out.text == "心影不大 两肺纹理增多\n两膈面光整"
    start = out.text.index("不大")
    assert text[slice(*out.source_span(start, start + 2))] == "不大"
