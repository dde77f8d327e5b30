import regex
from hypothesis import given
from hypothesis import strategies as st

from labeler.match import Matcher, _trie_pattern
from labeler.packs import Rule
from labeler.tokenize import Tokenizer
from labeler.types import CueKind

REGIONS = ("thorax", "lungs", "aorta", "heart", "diaphragm")


def matcher(*rules: Rule, words=()) -> Matcher:
    return Matcher(list(rules), REGIONS, lambda t: t, Tokenizer(words))


def test_longest_term_wins_at_a_position():
    m = matcher(
        Rule(id="a", kind=CueKind.ANCHOR, regions=["diaphragm"], terms=["肋膈角"]),
        Rule(id="f", kind=CueKind.FINDING, regions=["diaphragm"], terms=["肋膈角消失"]),
    )
    assert [(h.rule_id, h.text) for h in m.hits("右肋膈角消失")] == [("f", "肋膈角消失")]


def test_overlapping_hits_are_kept_and_contained_ones_dropped():
    m = matcher(
        Rule(id="rib", kind=CueKind.ANCHOR, regions=["thorax"], terms=["肋骨"]),
        Rule(id="fracture", kind=CueKind.FINDING, implies=["thorax"], terms=["骨折"]),
        Rule(id="sym", kind=CueKind.NORMAL, terms=["对称"]),
        Rule(id="asym", kind=CueKind.FINDING, terms=["不对称"]),
    )
    assert [h.rule_id for h in m.hits("肋骨折")] == ["rib", "fracture"]
    assert [h.rule_id for h in m.hits("胸廓不对称")] == ["asym"]


def test_pattern_hits_report_their_rule_and_span():
    m = matcher(
        Rule(id="ctr", kind=CueKind.FINDING, regions=["heart"], patterns=[r"心胸比约0\.[6-9]\d*"])
    )
    (hit,) = m.hits("心胸比约0.62。")
    assert (hit.rule_id, hit.start, hit.end, hit.text) == ("ctr", 0, 8, "心胸比约0.62")


def test_token_boundary_rules_skip_matches_inside_words():
    m = matcher(
        Rule(id="no", kind=CueKind.NEGATION, terms=["无"], boundary="token"),
        words=["无名"],
    )
    assert [h.text for h in m.hits("心影无增大")] == ["无"]
    assert m.hits("无名指") == ()


def test_all_regions_marker_expands():
    m = matcher(Rule(id="all", kind=CueKind.ANCHOR, regions=["*"], terms=["胸片"]))
    assert m.rules["all"].regions == REGIONS and m.rules["all"].whole_film


@given(
    terms=st.sets(st.text(alphabet="肺肋膈角影心大(?.", min_size=1, max_size=4), min_size=1),
    text=st.text(alphabet="肺肋膈角影心大(?.x", max_size=30),
)
def test_prefix_tree_matches_like_the_longest_first_alternation(terms, text):
    flat = regex.compile("|".join(regex.escape(t) for t in sorted(terms, key=lambda t: -len(t))))
    tree = regex.compile(_trie_pattern(terms))
    spans = [[m.span() for m in r.finditer(text, overlapped=True)] for r in (flat, tree)]
    assert spans[0] == spans[1]


def test_a_term_cut_by_a_token_boundary_gives_way_to_the_shorter_term_there():
    m = matcher(
        Rule(id="a", kind=CueKind.ANCHOR, regions=["diaphragm"], terms=["膈"]),
        Rule(id="below", kind=CueKind.ANCHOR, terms=["膈下"], boundary="token"),
        Rule(id="f", kind=CueKind.FINDING, terms=["下降"]),
        words=["下降"],
    )
    assert [(h.rule_id, h.text) for h in m.hits("两侧膈下降")] == [("a", "膈"), ("f", "下降")]
    assert [(h.rule_id, h.text) for h in m.hits("膈下见游离气体")][0] == ("below", "膈下")
