import dataclasses

import regex
from hypothesis import given
from hypothesis import strategies as st

from labeler.match import Matcher, _trie_pattern
from labeler.packs import Rule
from labeler.tokenize import Tokenizer
from labeler.types import CueHit, CueKind

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


# ---------------------------------------------------------------- issue 13: long and hostile text


def _quadratic_reference(hits):
    """The former `_inside_longer` filter, kept here as the specification."""
    return tuple(
        h
        for h in hits
        if not any(
            o.start <= h.start and h.end <= o.end and o.end - o.start > h.end - h.start
            for o in hits
        )
    )


_SPAN = st.tuples(st.integers(0, 12), st.integers(1, 5))


@given(st.lists(_SPAN, max_size=25))
def test_outside_longer_keeps_what_the_quadratic_filter_kept(spans):
    from labeler.match import _outside_longer

    hits = [CueHit(f"r{i}", CueKind.FINDING, s, s + n, "x" * n) for i, (s, n) in enumerate(spans)]
    assert _outside_longer(hits) == _quadratic_reference(hits)


def test_inside_longer_is_linear_on_a_long_unpunctuated_report():
    """100k characters without punctuation took 28 s (hits x hits comparisons); 200,000 hits now
    take a sort. The quadratic filter would need 4e10 comparisons: hours, not 20 s."""
    import time

    from labeler.match import _outside_longer

    hits = [CueHit("r", CueKind.FINDING, i, i + 1 + i % 3, "x") for i in range(200_000)]
    started = time.perf_counter()
    kept = _outside_longer(hits)
    assert time.perf_counter() - started < 20
    head = _quadratic_reference(hits[:1100])  # a hit is only inside hits starting 2 before it
    assert [h for h in kept if h.start < 1000] == [h for h in head if h.start < 1000]


def test_long_unpunctuated_report_is_labelled(base_labeler):
    text = "两肺纹理增多心影增大主动脉迂曲膈面光整" * 5000  # 100k characters, one clause
    result = base_labeler.label(text)
    assert result.error is None
    assert [d.state.value for d in result.decisions][1:4] == ["positive", "positive", "positive"]


def test_a_backtracking_pattern_gives_up_and_becomes_that_reports_error_row(monkeypatch):
    import labeler.match
    from labeler.labeler import Labeler
    from labeler.packs import Sourced, load_pack
    from labeler.types import Report

    monkeypatch.setattr(labeler.match, "MATCH_SECONDS", 0.2)
    pack = load_pack("base")
    evil = Rule(id="evil", kind=CueKind.FINDING, regions=["lungs"], patterns=["(A|A)+$"])
    pack = dataclasses.replace(pack, rules=(*pack.rules, Sourced(evil, "test:1")))
    labeler_ = Labeler(pack)  # built past validation, which refuses such a pattern
    bad, good = (
        labeler_.label(Report("R1", "A" * 40 + "x")),
        labeler_.label(Report("R2", "心影增大")),
    )
    assert bad.error == (
        "MatchTimeout: cue matching gave up after 0.2 s on a clause of 41 characters "
        "(a rule pattern that backtracks without end?)"
    )
    assert good.error is None and good.decisions[3].state.value == "positive"
