"""`cxrlabel rules`: validate, test, lint and show rule packs, and print the pack schema."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import yaml

from labeler.io import atomic_write
from labeler.packs import Pack, PackError, PackFile, Sourced, load_pack, resolve_pack_path
from labeler.packs import short_where as _short

pack_argument = click.argument("pack", metavar="PACK")


def load_or_exit(ref: str) -> Pack:
    """The merged pack; a pack that cannot be found is a usage error (exit 2), one that does not
    validate a failed check (exit 1) with its file:line message."""
    try:
        resolve_pack_path(ref)
    except PackError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        return load_pack(ref)
    except PackError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc


def _labeler(pack: Pack):
    from labeler.labeler import Labeler

    return Labeler(pack)


@click.group()
def rules() -> None:
    """Rule packs: validate, run their examples, lint, and show the merged pack."""


@rules.command()
@pack_argument
def validate(pack: str) -> None:
    """Check PACK and everything it extends against the schema and the semantic rules."""
    merged = load_or_exit(pack)
    rule_examples = sum(len(s.item.examples) for s in merged.rules)
    click.echo(
        f"ok: pack {merged.name} {merged.version} ({' -> '.join(merged.chain)}): "
        f"{len(merged.rules)} rules, {len(merged.normalize)} normalize entries, "
        f"{rule_examples} rule examples, {len(merged.examples)} pack examples"
    )


@rules.command("test")
@pack_argument
@click.option("-k", "keyword", default=None, help="Only examples whose rule id contains this.")
def test_examples(pack: str, keyword: str | None) -> None:
    """Run every inline example of PACK and of what it extends; exit 1 on any failure."""
    from labeler.packtest import example_cases, run_case

    labeler = _labeler(load_or_exit(pack))
    cases = [c for c in example_cases(labeler) if keyword is None or keyword in c.owner]
    click.echo(
        f"pack {labeler.pack.name}: {len(cases)} examples ({' -> '.join(labeler.pack.chain)})"
    )
    started = time.perf_counter()
    failures = []
    for i, case in enumerate(cases, start=1):
        outcome = run_case(labeler, case)
        click.echo("." if outcome.passed else "F", nl=i % 72 == 0)
        if not outcome.passed:
            failures.append(outcome)
    click.echo("")
    for outcome in failures:
        _show_failure(outcome, pack)
    elapsed = time.perf_counter() - started
    passed = len(cases) - len(failures)
    summary = f"{len(failures)} failed, {passed} passed" if failures else f"{passed} passed"
    click.echo(f"{'=' * 20} {summary} in {elapsed:.2f}s {'=' * 20}")
    if failures:
        raise SystemExit(1)


def _show_failure(outcome, pack_ref: str) -> None:
    case = outcome.case
    click.echo(f"\n{'_' * 10} {case.owner} ({_short(case.where)}) {'_' * 10}")
    click.echo(f"text: {case.text}")
    decisions = {d.region: d for d in outcome.result.decisions}
    for region, (want, got) in outcome.mismatches.items():
        click.echo(f"  {region}: expected {want.value}, got {got.value}")
        d = decisions[region]
        for label, evidence in (("evidence", d.evidence), ("overruled", d.overruled)):
            for e in evidence:
                click.echo(
                    f"    {label}: {e.state} {e.rule_id} {e.text!r} [{e.start}-{e.end}] "
                    f"via {e.region_from}" + (f" ({', '.join(e.modifiers)})" if e.modifiers else "")
                )
        if not d.evidence:
            click.echo("    no cue about this region fired")
    click.echo(
        f"  see: cxrlabel explain {json.dumps(case.text, ensure_ascii=False)} --rules {pack_ref}"
    )


@rules.command()
@pack_argument
@click.option(
    "--check",
    "checks",
    multiple=True,
    help="Run only this check (repeatable): token_split, dead_term, normal_abnormal, "
    "unexercised, shadowed.",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also report the rules of the packs PACK extends (default: PACK's own files only).",
)
@click.option("-v", "--verbose", is_flag=True, help="List informational findings too.")
def lint(pack: str, checks: tuple[str, ...], everything: bool, verbose: bool) -> None:
    """Find what validation cannot: split token terms, dead or shadowed terms, rules no example
    fires, overlapping normal and abnormal cues. Exit 1 when a failing finding is found."""
    from labeler.lint import CHECKS, INFORMATIONAL
    from labeler.lint import lint as run

    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise click.UsageError(f"unknown check {unknown[0]!r}; choose from {', '.join(CHECKS)}")
    findings = run(_labeler(load_or_exit(pack)), checks or tuple(CHECKS))
    if not everything:
        # a hospital team fixes its overlay; the base pack's findings are its maintainers' job
        own = _own_files(resolve_pack_path(pack))
        findings = [f for f in findings if Path(f.where.rpartition(":")[0]).resolve() in own]
    failing = [f for f in findings if f.check not in INFORMATIONAL]
    info = [f for f in findings if f.check in INFORMATIONAL]
    for f in failing + (info if verbose else []):
        click.echo(f"{_short(f.where)}: {f.rule_id}: [{f.check}] {f.message}")
        if f.fix:
            click.echo(f"    fix: {f.fix}")
    if info and not verbose:
        click.echo(f"{len(info)} informational findings (shadowed terms); --verbose lists them")
    click.echo(f"{len(failing)} problems" if failing else "no problems")
    if failing:
        raise SystemExit(1)


def _own_files(path: Path) -> set[Path]:
    """The files of the pack itself: its YAML file, or every YAML file of its folder."""
    path = path.resolve()
    if path.name == "pack.yaml":
        return {p.resolve() for p in path.parent.rglob("*.yaml")}
    return {path}


@rules.command()
@pack_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="yaml loads back as a stand-alone pack; json carries each item's file:line.",
)
def show(pack: str, fmt: str) -> None:
    """Print the effective pack: PACK merged with everything it extends, in merge order."""
    merged = load_or_exit(pack)
    click.echo(merged_json(merged) if fmt == "json" else merged_yaml(merged), nl=False)


@rules.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def schema(output: Path | None) -> None:
    """Print (or write) the JSON schema of a pack file."""
    text = json.dumps(PackFile.model_json_schema(), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_write(output) as handle:
        handle.write(text)


def _item(s: Sourced) -> dict:
    # `override` only means something inside an overlay; the merged pack stands alone
    return s.item.model_dump(mode="json", exclude_defaults=True, exclude={"override"})


def merged_json(pack: Pack) -> str:
    doc = {
        "name": pack.name,
        "version": pack.version,
        "description": pack.description,
        "chain": list(pack.chain),
        "regions": [r.model_dump() for r in pack.regions],
        "headings": {k: list(v) for k, v in pack.headings.items()},
        "dictionary": list(pack.dictionary),
        **{
            key: [{"where": _short(s.where), **_item(s)} for s in items]
            for key, items in (
                ("normalize", pack.normalize),
                ("rules", pack.rules),
                ("examples", pack.examples),
            )
        },
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _dump(value: object) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=100)


def merged_yaml(pack: Pack) -> str:
    """The merged pack as one YAML file that validates on its own; each item is preceded by a
    comment naming the file:line it came from."""
    head = {
        "name": pack.name,
        "version": pack.version,
        "description": pack.description,
        "regions": [r.model_dump() for r in pack.regions],
        "headings": {k: list(v) for k, v in pack.headings.items()},
        "dictionary": list(pack.dictionary),
    }
    out = [f"# effective pack {pack.name} {pack.version}, merged from {' -> '.join(pack.chain)}\n"]
    out.append(_dump(head))
    for key, items in (
        ("normalize", pack.normalize),
        ("rules", pack.rules),
        ("examples", pack.examples),
    ):
        out.append(f"{key}:\n" if items else f"{key}: []\n")
        for s in items:
            out.append(f"# {_short(s.where)}\n{_dump([_item(s)])}")
    return "".join(out)
