from dataclasses import dataclass
from pathlib import Path

import pytest

from labeler.labeler import Labeler


@pytest.fixture(scope="session")
def base_labeler() -> Labeler:
    return Labeler()


@dataclass(frozen=True)
class DemoRun:
    manifest: Path  # demo phantoms: 400 films of 128 px, 80/10/10 split
    run_dir: Path  # a finished run trained from scratch on them (best.pt, last.pt, config.yaml)


# ResNet34 learns the phantoms in a few epochs; 64 px keeps it inside a CPU minute or two.
DEMO_SMALL = dict(arch="resnet34", resize=66, crop=64, augment=False, lr_decay=0.9, workers=0)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """Trained once per test session and shared: training is the slow part of these tests."""
    from classifier.demo.data import write_demo
    from classifier.training.config import TrainConfig
    from classifier.training.loop import train

    root = tmp_path_factory.mktemp("demo_run")
    manifest = write_demo(root / "demo", n_films=400, size=128)
    cfg = TrainConfig(data=str(manifest), epochs=4, patience=2, **DEMO_SMALL)
    train(cfg, root / "scratch", progress=False)
    return DemoRun(manifest, root / "scratch")
