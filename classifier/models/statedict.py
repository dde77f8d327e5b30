"""Foreign state dicts: key renames, strict loading with a readable report of what differs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Old DenseNet layers were named `norm.1`, `conv.1`, …; torchvision's own densenet121 file and the
# CheXNet re-implementations still use them, current modules say `norm1`, `conv1`.
_LEGACY_DENSE = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)
# DataParallel wraps the model as `module.`, CheXNet wraps torchvision's net as `.densenet121`.
_WRAPPER_PREFIXES = ("module.", "densenet121.")
# CheXNet's head (`classifier.0`, a Linear inside Sequential(Linear, Sigmoid)) needs no renaming:
# heads are never transferred, and it lies under the same `classifier.` prefix.


class KeyMismatchError(ValueError):
    """A state dict does not fit a model; the message lists every missing and unexpected key."""


@dataclass(frozen=True)
class KeyReport:
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[str, ...]  # "key: file shape vs model shape"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 12) -> str:
        parts = []
        for title, keys in (
            ("missing from the file", self.missing),
            ("unexpected in the file", self.unexpected),
            ("shape mismatch", self.mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:limit])
                more = f" … and {len(keys) - limit} more" if len(keys) > limit else ""
                parts.append(f"{len(keys)} {title}: {shown}{more}")
        return "; ".join(parts)


def normalise_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map CheXNet / DataParallel / legacy DenseNet key names onto current torchvision names."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key
        stripped = True
        while stripped:
            stripped = False
            for prefix in _WRAPPER_PREFIXES:
                if new.startswith(prefix):
                    new = new[len(prefix) :]
                    stripped = True
        match = _LEGACY_DENSE.match(new)
        if match:
            new = match.group(1) + match.group(2)
        out[new] = value
    return out


def compare(
    model: nn.Module, state: Mapping[str, torch.Tensor], ignore: Iterable[str] = ()
) -> KeyReport:
    """Compare `state` with `model` by key and shape, leaving out keys under `ignore` prefixes."""
    prefixes = tuple(ignore)

    def kept(key: str) -> bool:
        return not key.startswith(prefixes) if prefixes else True

    expected = {k: v for k, v in model.state_dict().items() if kept(k)}
    given = {k: v for k, v in state.items() if kept(k)}
    mismatched = tuple(
        f"{k}: {tuple(given[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in given and tuple(given[k].shape) != tuple(v.shape)
    )
    return KeyReport(
        # Files saved before PyTorch 0.4.1 have no BatchNorm counter; BatchNorm fills it in itself.
        missing=tuple(
            k for k in expected if k not in given and not k.endswith(".num_batches_tracked")
        ),
        unexpected=tuple(k for k in given if k not in expected),
        mismatched=mismatched,
    )


def load_strict(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    ignore: Iterable[str] = (),
) -> None:
    """Load every key of `model` except those under `ignore` prefixes, or raise with the report."""
    prefixes = tuple(ignore)
    report = compare(model, state, prefixes)
    if not report.ok:
        raise KeyMismatchError(f"{source} does not fit the model: {report.describe()}")
    kept = {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}
    # strict=False only because the ignored keys (the head) are absent on purpose; every other key
    # was checked above.
    model.load_state_dict(kept, strict=not prefixes)


def read_foreign(path: Path) -> dict[str, torch.Tensor]:
    """Read a torchvision or CheXNet-layout weight file."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for a bad file
        raise KeyMismatchError(f"{path}: not a readable PyTorch weight file ({exc})") from exc
    return as_state_dict(obj, str(path))


def as_state_dict(obj: object, source: str) -> dict[str, torch.Tensor]:
    """A loaded bare state dict or {'state_dict': …} (CheXNet), with keys normalised."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise KeyMismatchError(f"{source}: expected a state dict of tensors")
    return normalise_keys(obj)
