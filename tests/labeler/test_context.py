"""Context on literal cue hits and rules: which regions an assertion is about, how they were
chosen (the steps of REGION_ORDER), and the unlisted-predicate policy — no pack, no matcher."""

from __future__ import annotations

import pytest

from labeler.context import REGION_ORDER, UNLISTED, assertions_for
from labeler.match import CompiledRule
from labeler.packs import Boundary, Direction, Scope, UnlistedPredicate
from labeler.types import Clause, CueHit, CueKind, RegionFrom, State

A, F, N, NEG = CueKind.ANCHOR, CueKind.FINDING, CueKind.NORMAL, CueKind.NEGATION
ALL = ("thorax", "lungs", "aorta", "heart", "diaphragm")


def rule(rule_id, kind, regions=(), implies=(), fallback=(), **flags):
    return CompiledRule(
        rule_id,
        kind,
        tuple(regions),
        tuple(implies),
        tuple(fallback),
        Direction.FORWARD,
        Scope.CLAUSE,
        Boundary.NONE,
        flags.pop("whole_film", False),
        **flags,
    )


RULES = {
    r.id: r
    for r in (
        rule("lungs", A, ["lungs"]),
        rule("heart", A, ["heart"]),
        rule("thorax", A, ["thorax"]),
        rule("body", A, ["thorax"], generic=True),  # 椎体
        rule("lumbar", A, outside=True),  # 腰椎
        rule("film", A, ALL, whole_film=True),  # 胸片
        rule("bigger", F),  # 增大: no region of its own
        rule("patchy", F, implies=["lungs"]),  # 斑片影
        rule("bone", F, implies=["thorax"]),  # 骨质增生
        rule("sclerosis", F, ["aorta"]),  # 主动脉硬化
        rule("fluid", F, implies=["diaphragm"], outranks=("lungs",)),  # 积液
        rule("lesion", F, fallback=["lungs"]),  # 钙化
        rule("clear", N),  # 清晰
        rule("not", NEG),  # 未见
    )
}


def clause(text, start, sentence=0, section="body", opens_item=False):
    return Clause(text, start, start + len(text), sentence, section, opens_item)


def hits(text, start, *cues):
    """CueHits for (rule id, cue text) pairs, found left to right in `text`."""
    out, pos = [], 0
    for rule_id, cue in cues:
        at = text.index(cue, pos)
        out.append(CueHit(rule_id, RULES[rule_id].kind, start + at, start + at + len(cue), cue))
        pos = at + len(cue)
    return out


def assert_one(clauses, clause_hits, **kw):
    return [
        (a.hit.text, a.regions, a.region_from, a.state)
        for a in assertions_for(clauses, clause_hits, RULES, **kw)
    ]


def test_the_order_is_declared_data():
    assert [s.__name__ for s in REGION_ORDER] == [
        "_outside",
        "_fixed",
        "_outranking",
        "_implied_over_subject",
        "_subject",
        "_shadow_carried",
        "_implied",
        "_anchor_after",
        "_carried",
        "_fallback",
    ]


@pytest.mark.parametrize(
    ("text", "cues", "expected"),
    [
        (
            "心影增大",
            [("heart", "心影"), ("bigger", "增大")],
            ("heart",),
        ),
        ("主动脉硬化", [("sclerosis", "主动脉硬化")], ("aorta",)),
        ("斑片影", [("patchy", "斑片影")], ("lungs",)),
        ("钙化", [("lesion", "钙化")], ("lungs",)),
        ("增大", [("bigger", "增大")], ()),
    ],
)
def test_one_clause(text, cues, expected):
    got = assertions_for([clause(text, 0)], [hits(text, 0, *cues)], RULES)
    assert [a.regions for a in got] == ([expected] if expected else [])


def test_how_each_region_was_chosen():
    text = "心影增大"
    got = assert_one([clause(text, 0)], [hits(text, 0, ("heart", "心影"), ("bigger", "增大"))])
    assert got == [("增大", ("heart",), RegionFrom.ANCHOR, State.POSITIVE)]
    text = "斑片影"
    got = assert_one([clause(text, 0)], [hits(text, 0, ("patchy", "斑片影"))])
    assert got == [("斑片影", ("lungs",), RegionFrom.IMPLIED, State.POSITIVE)]
    text = "钙化"
    got = assert_one([clause(text, 0)], [hits(text, 0, ("lesion", "钙化"))])
    assert got == [("钙化", ("lungs",), RegionFrom.FALLBACK, State.POSITIVE)]


def test_carried_to_the_next_clause():
    first, second = "两肺见斑片影", "边缘增大"
    got = assert_one(
        [clause(first, 0), clause(second, 7)],
        [
            hits(first, 0, ("lungs", "两肺"), ("patchy", "斑片影")),
            hits(second, 7, ("bigger", "增大")),
        ],
    )
    assert got[-1] == ("增大", ("lungs",), RegionFrom.CARRIED, State.POSITIVE)


def test_an_outside_anchor_takes_fixed_findings_of_its_clause():
    text = "腰椎主动脉硬化"  # as 腹主动脉硬化: a fixed-region finding after outside anatomy
    cues = [("lumbar", "腰椎"), ("sclerosis", "主动脉硬化")]
    got = assert_one([clause(text, 0)], [hits(text, 0, *cues)])
    assert got == [("主动脉硬化", (), RegionFrom.OUTSIDE, State.POSITIVE)]


def test_outside_scope_carries_over_generic_anatomy_but_not_chest_anatomy_or_fixed_findings():
    texts = ["腰椎骨质增生", "椎体骨质增生", "主动脉硬化", "两肺增大"]
    starts = [0, 7, 14, 20]
    clause_hits = [
        hits(texts[0], 0, ("lumbar", "腰椎"), ("bone", "骨质增生")),
        hits(texts[1], 7, ("body", "椎体"), ("bone", "骨质增生")),
        hits(texts[2], 14, ("sclerosis", "主动脉硬化")),
        hits(texts[3], 20, ("lungs", "两肺"), ("bigger", "增大")),
    ]
    got = assert_one([clause(t, s) for t, s in zip(texts, starts, strict=True)], clause_hits)
    assert [(g[0], g[1], g[2]) for g in got] == [
        ("骨质增生", (), RegionFrom.OUTSIDE),
        ("骨质增生", (), RegionFrom.OUTSIDE),
        ("主动脉硬化", ("aorta",), RegionFrom.FIXED),
        ("增大", ("lungs",), RegionFrom.ANCHOR),
    ]


def test_a_new_list_item_ends_the_outside_scope():
    first, second = "1.腰椎骨质增生", "2.骨质增生"
    got = assert_one(
        [clause(first, 0, 0, opens_item=True), clause(second, 9, 1, opens_item=True)],
        [
            hits(first, 0, ("lumbar", "腰椎"), ("bone", "骨质增生")),
            hits(second, 9, ("bone", "骨质增生")),
        ],
    )
    assert [g[1] for g in got] == [(), ("thorax",)]


def test_generic_anatomy_in_a_chest_clause_is_the_chests():
    text = "椎体骨质增生"
    got = assert_one([clause(text, 0)], [hits(text, 0, ("body", "椎体"), ("bone", "骨质增生"))])
    assert got == [("骨质增生", ("thorax",), RegionFrom.ANCHOR, State.POSITIVE)]


def test_outranked_anchor():
    text = "两肺积液"
    got = assert_one([clause(text, 0)], [hits(text, 0, ("lungs", "两肺"), ("fluid", "积液"))])
    assert got == [("积液", ("diaphragm",), RegionFrom.IMPLIED, State.POSITIVE)]


def test_silent_sections_assert_nothing():
    text = "斑片影"
    got = assert_one(
        [clause(text, 0, section="history")],
        [hits(text, 0, ("patchy", "斑片影"))],
        silent={"history"},
    )
    assert got == []


@pytest.mark.parametrize(
    ("text", "cues", "state", "expected"),
    [
        ("心影翘起", [("heart", "心影")], State.UNCERTAIN, [("翘起", ("heart",), State.UNCERTAIN)]),
        ("心影未见翘起", [("heart", "心影"), ("not", "未见")], State.UNCERTAIN,
         [("翘起", ("heart",), State.NEGATIVE)]),
        ("心影翘起", [("heart", "心影")], State.NOT_MENTIONED,
         [("翘起", ("heart",), State.NOT_MENTIONED)]),
        ("心影翘", [("heart", "心影")], State.UNCERTAIN, []),  # one character: no predicate
        ("心影大小", [("heart", "心影")], State.UNCERTAIN, []),  # only ignored words
        ("心影增大", [("heart", "心影"), ("bigger", "增大")], State.UNCERTAIN,
         [("增大", ("heart",), State.POSITIVE)]),  # understood: no policy
        ("腰椎翘起", [("lumbar", "腰椎")], State.UNCERTAIN, []),  # outside: no region to assert
    ],
)  # fmt: skip
def test_unlisted_predicate(text, cues, state, expected):
    policy = UnlistedPredicate(state=state, ignore=["大小"], min_chars=2)
    got = assertions_for([clause(text, 0)], [hits(text, 0, *cues)], RULES, policy)
    assert [(a.hit.text, a.regions, a.state) for a in got if a.regions] == expected
    assert all(a.hit.rule_id == UNLISTED for a in got if a.hit.text == "翘起")
