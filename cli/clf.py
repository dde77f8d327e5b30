"""`cxrclf`: dataset building and CNN training over labelled chest films."""

from __future__ import annotations

import click

from cli.clf_dataset import dataset
from cli.clf_eval import compare_command, evaluate_command, grid_command, predict_command
from cli.clf_export import export_command
from cli.clf_heatmap import heatmap_command
from cli.clf_train import InputError, demo_data_command, pretrain_command, train_command


class _Commands(click.Group):
    """Every command's outputs go through the one atomic writer; an output it cannot write
    (a missing or read-only folder, /proc) is one line and exit 2, whichever command met it."""

    def invoke(self, ctx: click.Context) -> object:
        from toolkit.files import OutputError

        try:
            return super().invoke(ctx)
        except OutputError as exc:
            raise InputError(str(exc)) from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cxr-toolkit")
def main() -> None:
    """Chest-film image datasets and multi-label CNN classifiers."""
    from toolkit.procs import guard_processes

    guard_processes()  # `dataset build --workers N`: workers die with this process


main.add_command(dataset)
main.add_command(train_command)
main.add_command(pretrain_command)
main.add_command(demo_data_command)
main.add_command(evaluate_command)
main.add_command(predict_command)
main.add_command(grid_command)
main.add_command(compare_command)
main.add_command(heatmap_command)
main.add_command(export_command)


if __name__ == "__main__":  # `python -m cli.clf`, as torchrun launches it
    main()
