"""Every inline example of every shipped pack is a test, named by its rule id."""

from pathlib import Path

import pytest

from labeler.labeler import Labeler
from labeler.packtest import example_cases, run_case

SHIPPED = ["base", *sorted(p.stem for p in Path("rules/hospitals").glob("*.yaml"))]


def _cases():
    for pack in SHIPPED:
        labeler = Labeler(pack)
        for i, case in enumerate(example_cases(labeler)):
            yield pytest.param(labeler, case, id=f"{pack}:{case.owner}:{i}")


@pytest.mark.parametrize(("labeler", "case"), list(_cases()))
def test_inline_example(labeler, case):
    outcome = run_case(labeler, case)
    assert outcome.passed, f"{case.where} {case.text!r}: {outcome.mismatches}"
