"""Command-line entry points: `cxrlabel` (cli.label) and `cxrclf` (cli.clf)."""
