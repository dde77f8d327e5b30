"""`cxrclf`: dataset building and CNN training over labelled chest films."""

from __future__ import annotations

import click

from cli.clf_dataset import dataset


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cxr-toolkit")
def main() -> None:
    """Chest-film image datasets and multi-label CNN classifiers."""


main.add_command(dataset)
