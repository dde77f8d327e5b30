"""toolkit.lazy: a package's public names imported on first use, then kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from toolkit.lazy import lazy_exports


def test_names_are_imported_on_first_use_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_probe_module.py").write_text("def half(x):\n    return x / 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict[str, object] = {}
    getattr_, dir_ = lazy_exports("pkg", {"half": "lazy_probe_module"}, namespace)
    assert dir_() == ["half"]
    assert "lazy_probe_module" not in sys.modules
    assert getattr_("half")(3) == 1.5
    assert "lazy_probe_module" in sys.modules and "half" in namespace
    monkeypatch.delitem(sys.modules, "lazy_probe_module")
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'third'"):
        getattr_("third")
