"""Rule packs: loading YAML data shipped in rules/ (placeholder, replaced below)."""

from __future__ import annotations

from importlib import resources

import yaml


def region_ids() -> tuple[str, ...]:
    """Region ids of the base pack, in label-vector order."""
    text = resources.files("rules").joinpath("base/pack.yaml").read_text(encoding="utf-8")
    return tuple(r["id"] for r in yaml.safe_load(text)["regions"])
