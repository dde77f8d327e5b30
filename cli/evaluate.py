"""`cxrlabel evaluate`: labels against gold, with 95% confidence intervals and, for a review's
stratified sample, estimates for the whole corpus."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from cli.options import BadInput
from labeler.io import ReportFileError, atomic_write, read_evidence, read_table


def _ci(interval) -> str:
    return "[  n/a,   n/a]" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


@click.command()
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--evidence",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Evidence JSONL from extract, shown for each disagreement.",
)
@click.option(
    "--sample",
    "sample_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The sample.csv of the review GOLD comes from: also estimate the scores on the whole "
    "corpus, weighting each report by its stratum.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the scores as JSON.",
)
@click.option("--max-disagreements", type=int, default=50, show_default=True)
@click.option(
    "--resamples",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Bootstrap resamples for the F1 and population intervals.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
def evaluate(labels, gold, evidence, sample_csv, json_out, max_disagreements, resamples, seed):
    """Compare LABELS with GOLD: per-region precision, recall, F1 and accuracy with 95%
    confidence intervals (Wilson for P, R and accuracy; bootstrap over reports for F1), macro
    F1, the disagreements; with --sample, the estimates for the corpus the sample stands for."""
    from labeler.estimate import (
        SampleError,
        population_estimates,
        read_sample,
        sample_intervals,
    )
    from labeler.evaluate import GoldError, compared_vectors
    from labeler.evaluate import evaluate as run
    from labeler.packs import region_ids

    regions = list(region_ids())
    try:
        label_frame, gold_frame = read_table(labels), read_table(gold)
        result = run(label_frame, gold_frame, regions, str(labels), str(gold))
        ids, y_true, y_pred = compared_vectors(
            label_frame, gold_frame, regions, str(labels), str(gold)
        )
        population = None
        if sample_csv is not None:
            sample = read_sample(read_table(sample_csv), str(sample_csv))
            population = population_estimates(
                ids, y_true, y_pred, sample, str(sample_csv), resamples, seed
            )
    except (GoldError, ReportFileError) as exc:
        raise click.UsageError(str(exc)) from exc
    except SampleError as exc:
        raise BadInput(str(exc)) from exc
    intervals = sample_intervals(y_true, y_pred, resamples, seed)
    click.echo(f"{result.compared} reports compared (95% confidence intervals in brackets)")
    click.echo(
        f"{'region':<10} {'P':>5} {'':<16} {'R':>5} {'':<16} {'F1':>5} {'':<16} "
        f"{'acc':>5} {'':<16} {'pos':>4}  tp/fp/fn/tn"
    )
    for s, ci in zip(result.scores, intervals.regions, strict=True):
        click.echo(
            f"{s.region:<10} {s.precision:.3f} {_ci(ci.precision)} {s.recall:.3f} "
            f"{_ci(ci.recall)} {s.f1:.3f} {_ci(ci.f1)} {s.accuracy:.3f} {_ci(ci.accuracy)} "
            f"{s.positives:4d}  {s.tp}/{s.fp}/{s.fn}/{s.tn}"
        )
    click.echo(f"macro F1 {result.macro_f1:.4f} {_ci(intervals.macro_f1)}")
    if population is not None:
        _show_population(population)
    for what, ids_ in (
        ("in gold but not in labels", result.missing_in_labels),
        ("in labels but not in gold", result.missing_in_gold),
    ):
        if ids_:
            click.echo(f"{len(ids_)} reports {what}: {', '.join(ids_[:10])}")
    records = read_evidence(evidence) if evidence else {}
    if result.disagreements:
        click.echo(f"\n{len(result.disagreements)} disagreements:")
    for d in result.disagreements[:max_disagreements]:
        click.echo(
            f"  {d.report_id} {d.region}: gold {d.gold} ({d.gold_state}) "
            f"labeler {d.predicted} ({d.predicted_state})" + (f"  note: {d.note}" if d.note else "")
        )
        rec = records.get(d.report_id)
        if rec:
            dec = rec["decisions"][d.region]
            for e in dec["evidence"] + dec["overruled"]:
                click.echo(
                    f"      {e['state']:<9} {e['rule_id']:<28} {e['text']} "
                    f"[{e['start']}-{e['end']}] via {e['region_from']}"
                )
    if json_out:
        out = {
            "macro_f1": result.macro_f1,
            "macro_f1_ci": intervals.macro_f1,
            "compared": result.compared,
            "scores": [asdict(s) for s in result.scores],
            "intervals": [asdict(i) for i in intervals.regions],
            "disagreements": [asdict(d) for d in result.disagreements],
        }
        if population is not None:
            out["population"] = asdict(population)
        with atomic_write(json_out) as handle:
            json.dump(out, handle, ensure_ascii=False, indent=2)


def _show_population(pop) -> None:
    click.echo(
        f"\nestimated on the corpus ({pop.size} reports in {pop.strata} strata, weighted by "
        "stratum; P, R, acc: Wilson with the effective sample size; F1: bootstrap within strata, "
        f"{pop.resamples} resamples):"
    )
    click.echo(
        f"{'region':<10} {'P':>5} {'':<16} {'R':>5} {'':<16} {'F1':>5} {'':<16} "
        f"{'acc':>5} {'':<16} {'pos':>7}"
    )
    for s in pop.scores:
        click.echo(
            f"{s.region:<10} {s.precision:.3f} {_ci(s.precision_ci)} {s.recall:.3f} "
            f"{_ci(s.recall_ci)} {s.f1:.3f} {_ci(s.f1_ci)} {s.accuracy:.3f} "
            f"{_ci(s.accuracy_ci)} {s.positives:7.0f}"
        )
    click.echo(f"macro F1 {pop.macro_f1:.4f} {_ci(pop.macro_f1_ci)} (corpus estimate)")
    if pop.missing_strata:
        click.echo(
            f"warning: no compared report from stratum {', '.join(pop.missing_strata)}: the "
            "estimate leaves those reports out",
            err=True,
        )
