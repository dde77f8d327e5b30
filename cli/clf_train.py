"""`cxrclf train`, `cxrclf pretrain` and `cxrclf demo-data`: thin wrappers over classifier.*."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from classifier.demo.data import write_demo, write_nih_demo
from classifier.models.checkpoint import CheckpointError
from classifier.models.registry import MissingWeightsError, arch_names
from classifier.models.statedict import KeyMismatchError
from classifier.run import Task
from classifier.training.config import PRETRAIN, ConfigError, resolve
from classifier.training.datasets import DataError
from classifier.training.distributed import is_main
from classifier.training.loop import TrainingError, TrainResult, resume, train
from classifier.training.losses import LOSSES
from classifier.training.runtime import DeviceError

FILE = click.Path(path_type=Path, dir_okay=False)
DIR = click.Path(path_type=Path, file_okay=False)

# Each setting is declared once and shared by train and pretrain; None means "not given", so
# the config file's value (or the paper default) stands.
_SETTINGS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--config", "config_file", type=FILE, help="YAML experiment config."),
    click.option("--arch", type=click.Choice(arch_names()), help="Network."),
    click.option("--pretrain", type=click.Choice(PRETRAIN), help="Initialisation regime."),
    click.option("--weights", type=FILE, help="ImageNet weight file (default: TORCH_HOME)."),
    click.option("--init", type=FILE, help="Checkpoint for --pretrain chestx14."),
    click.option("--loss", type=click.Choice(list(LOSSES))),
    click.option("--aux-normal/--no-aux-normal", default=None, help="Extra 'normal' output."),
    click.option("--epochs", type=int),
    click.option("--patience", type=int, help="Epochs without improvement before stopping."),
    click.option("--batch-size", type=int),
    click.option("--lr", type=float),
    click.option("--lr-decay", type=float, help="lr factor after each epoch."),
    click.option("--resize", type=int, help="Films are resized to this square first."),
    click.option("--crop", type=int, help="Crop fed to the network (default: its input size)."),
    click.option("--augment/--no-augment", default=None, help="Rotation ±15° before the crop."),
    click.option("--workers", type=int, help="DataLoader worker processes."),
    click.option(
        "--film-cache/--no-film-cache",
        default=None,
        help="Keep the films on the device, augment there (default: on with CUDA).",
    ),
    click.option("--seed", type=int),
    click.option(
        "--keep-last/--no-keep-last",
        default=None,
        help="Keep last.pt's weights and optimizer when the run ends (default: keep).",
    ),
    click.option("--device", help="auto, cpu, cuda or cuda:N."),
    click.option("--quiet", is_flag=True, help="No progress bars."),
]


def _settings(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SETTINGS):
        command = option(command)
    return command


class InputError(click.ClickException):
    """Bad config, data or weights: a usage problem, exit code 2."""

    exit_code = 2


def _run(start: Callable[[], TrainResult]) -> None:
    try:
        result = start()
    except (
        ConfigError,
        DataError,
        CheckpointError,
        DeviceError,
        KeyMismatchError,
        MissingWeightsError,
    ) as e:
        raise InputError(str(e)) from e
    except TrainingError as exc:
        raise click.ClickException(str(exc)) from exc
    if not is_main():  # under torchrun only rank 0 reports
        return
    how = "stopped early" if result.stopped_early else "done"
    click.echo(
        f"{how} after {result.epochs_run} epochs; best epoch {result.best_epoch}, "
        f"val mean AUC {result.best_score:.4f}; run folder {result.run_dir}"
    )


def _start(run_dir: Path, config_file: Path | None, quiet: bool, **flags: Any) -> None:
    def begin() -> TrainResult:
        cfg = resolve(
            config_file, **{k: str(v) if isinstance(v, Path) else v for k, v in flags.items()}
        )
        return train(cfg, run_dir, progress=not quiet)

    _run(begin)


@click.command("train")
@click.option("--manifest", type=FILE, help="Manifest CSV from `cxrclf dataset`.")
@click.option("-o", "--out", "run_dir", type=DIR, required=True, help="Run folder.")
@click.option("--resume", "resume_run", is_flag=True, help="Continue the run in --out exactly.")
@_settings
def train_command(
    manifest: Path | None, run_dir: Path, resume_run: bool, config_file: Path | None, **flags: Any
) -> None:
    """Train a region classifier on a manifest (paper 000 defaults)."""
    quiet = flags.pop("quiet")
    if resume_run:
        given = [k for k, v in flags.items() if v is not None]
        if manifest or config_file or given:
            raise click.UsageError("--resume continues with the run's saved config; give only -o")
        _run(lambda: resume(run_dir, progress=not quiet))
        return
    if manifest is None and config_file is None:
        raise click.UsageError("give --manifest (or a --config that names `data`)")
    data = str(manifest) if manifest else None
    _start(run_dir, config_file, quiet, data=data, task=Task.REGIONS, **flags)


@click.command("pretrain")
@click.option("--nih-dir", type=DIR, required=True, help="NIH ChestX-ray14 as distributed.")
@click.option("-o", "--out", "run_dir", type=DIR, required=True, help="Run folder.")
@_settings
def pretrain_command(nih_dir: Path, run_dir: Path, config_file: Path | None, **flags: Any) -> None:
    """Pretrain a network on NIH ChestX-ray14 (14 labels) for `train --pretrain chestx14`."""
    quiet = flags.pop("quiet")
    _start(run_dir, config_file, quiet, data=str(nih_dir), task=Task.CHESTX14, **flags)


@click.command("demo-data")
@click.option("-o", "--out", type=DIR, required=True)
@click.option("--films", default=600, show_default=True, help="Phantom films in the manifest.")
@click.option("--nih-films", default=300, show_default=True, help="Films in the NIH folder.")
@click.option("--size", default=256, show_default=True, help="Film side in pixels.")
@click.option("--seed", default=0, show_default=True)
def demo_data_command(out: Path, films: int, nih_films: int, size: int, seed: int) -> None:
    """Write phantom films with a manifest (OUT/manifest.csv) and an NIH-layout folder (OUT/nih)."""
    manifest = write_demo(out, n_films=films, seed=seed, size=size)
    nih = write_nih_demo(out / "nih", n_films=nih_films, seed=seed + 1, size=size)
    click.echo(f"manifest {manifest}; NIH folder {nih}")
