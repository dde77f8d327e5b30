import pytest

from labeler.labeler import Labeler


@pytest.fixture(scope="session")
def base_labeler() -> Labeler:
    return Labeler()
