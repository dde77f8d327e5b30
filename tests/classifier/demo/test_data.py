"""Demo data: phantoms of the regions the phantom can draw, with the dataset record."""

from __future__ import annotations

from pathlib import Path

from classifier.demo.data import write_demo
from classifier.demo.phantom import PHANTOM_REGIONS
from classifier.run import WINDOWING, FilmFormat, read_film_format
from labeler.packs import region_ids


def test_the_phantom_draws_the_rule_pack_regions_in_vector_order() -> None:
    assert PHANTOM_REGIONS == region_ids()


def test_demo_manifest_carries_its_record(tmp_path: Path) -> None:
    manifest = write_demo(tmp_path, n_films=10, size=32)
    assert read_film_format(manifest) == FilmFormat(32, 8, WINDOWING, PHANTOM_REGIONS)
