"""``python -m twin.tune SCENARIO.yaml --target TARGET[=KIND[:k=v,...]]... [--kind KIND]``: tune
rule agents.

Searches the parameters of each target's rule kind jointly on common random numbers to minimise
the network's mean cost per period (:mod:`twin.studies.tune`) and writes the scenario with the
tuned agents to ``--out`` (default ``runs/<scenario>.tuned.yaml``). A target is a node, a tier or
a comma-separated list of them; ``=KIND`` gives it its own kind (``NAME:key=value,...``: the
parameters given are fixed, the others searched), else ``--kind`` applies. ``--min-fill F``
compares candidates at a service target: one whose customer unit fill rate is below ``F`` is
infeasible, and if no candidate reaches it nothing is written. Everything that can be
checked is checked before the search starts (the options, the scenario, the targets and their
kinds, and that ``--out`` can be written); mistakes print one line ``error: ...`` and exit with
status 2, an interrupt exits with status 130 and writes nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from entities.errors import ScenarioError, TwinError
from twin.cli import check_writable, error_line, run_command, show_progress
from twin.scenario import read_yaml, scenario_from_dict
from twin.studies.tune import (
    TUNABLE,
    Evaluator,
    ServiceEvaluator,
    TuneResult,
    check_start,
    event_costs,
    event_costs_and_fill_rates,
    tune,
    tuned_scenario_data,
)

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m twin.tune", description=__doc__.split("\n")[0])
    parser.add_argument("scenario")
    parser.add_argument(
        "--target",
        required=True,
        action="append",
        help="TARGET[=KIND[:key=value,...]]: a node id, tier or comma-separated list, decided by "
        "one agent entry of KIND (default --kind); repeat for a joint search of several entries",
    )
    parser.add_argument(
        "--kind",
        default=None,
        help=f"KIND[:key=value,...] of targets without their own: {', '.join(TUNABLE)}; "
        "parameters given are fixed, the others searched",
    )
    parser.add_argument(
        "--replications",
        type=int,
        default=None,
        help="replications per candidate (default: the scenario's)",
    )
    parser.add_argument("--periods", type=int, default=None, help="periods of every run")
    parser.add_argument("--budget", type=int, default=150, help="maximum candidate evaluations (>= 1)")
    parser.add_argument(
        "--engine",
        choices=("event", "vector"),
        default="event",
        help="simulate candidates on the event twin (default) or the vector twin (same costs to "
        "1e-9, all replications at once; period-stepped scenarios only)",
    )
    parser.add_argument(
        "--min-fill",
        type=float,
        default=None,
        metavar="F",
        help="service target: candidates whose customer unit fill rate (mean over the "
        "replications) is below F, in [0, 1], are infeasible",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="tuned scenario file (default: runs/<scenario>.tuned.yaml)",
    )
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check(args: argparse.Namespace) -> tuple[dict, Path, Evaluator, ServiceEvaluator]:
    """Everything that can fail before the search: options, scenario, targets, engine, output."""
    for flag, value in (("--replications", args.replications), ("--periods", args.periods)):
        if value is not None and value < 1:
            raise ScenarioError(f"{flag} must be >= 1, got {value}")
    if args.budget < 1:
        raise ScenarioError(f"--budget must be >= 1 candidate evaluation, got {args.budget}")
    if args.min_fill is not None and not 0.0 <= args.min_fill <= 1.0:
        raise ScenarioError(f"--min-fill must be a fill rate in [0, 1], got {args.min_fill}")
    source = args.scenario
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    if args.periods is not None:
        data["periods"] = args.periods
    scenario_from_dict(data, source=source)
    start = check_start(data, args.target, args.kind, source)
    evaluator: Evaluator = event_costs
    service: ServiceEvaluator = event_costs_and_fill_rates
    if args.engine == "vector":
        from twin.rl.vector import replication_costs, replication_costs_and_fill_rates, supports

        reason = supports(start)
        if reason is not None:
            raise ScenarioError(f"{source}: --engine vector: {reason.removeprefix(source + ': ')}")
        evaluator, service = replication_costs, replication_costs_and_fill_rates
    out = Path(args.out) if args.out else Path("runs") / f"{Path(source).stem}.tuned.yaml"
    check_writable(out, "--out")
    if out.is_dir():
        raise ScenarioError(f"--out {str(out)!r} is a folder; give the tuned scenario's file name")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    return data, out, evaluator, service


def report(result: TuneResult) -> list[str]:
    """The lines ``twin.tune`` prints about a result."""
    where = " and ".join(f"{t.kind} at {', '.join(t.nodes)}" for t in result.targets)
    lines = [f"tuned {where} in {result.evaluations} evaluations"]
    for t in result.targets:
        for name, value in t.params.items():
            begin = t.start_params[name]
            if isinstance(value, dict):
                lines += [f"  {name}[{n}] = {v:.4g}   (start {begin[n]:.4g})" for n, v in value.items()]
            else:
                lines.append(f"  {name} = {value:.4g}   (start {begin:.4g})")
    lines.append(
        f"cost per period {result.cost:.4f} +- {result.standard_error:.4f} "
        f"(start {result.start_cost:.4f})"
    )
    if result.min_fill is not None and result.fill_rate is not None:
        lines.append(f"fill rate {result.fill_rate:.4f} (target at least {result.min_fill:g})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    source = args.scenario
    try:
        data, out, evaluator, service = _check(args)
        bar = None
        if show_progress(args.quiet):
            from tqdm import tqdm

            bar = tqdm(total=args.budget, desc="tuning", unit="candidate", file=sys.stderr)

        best = [math.inf]

        def progress(n: int, cost: float) -> None:
            best[0] = min(best[0], cost)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{best[0]:.3f}")

        try:
            result = tune(
                data,
                args.target,
                args.kind,
                source=source,
                replications=args.replications,
                budget=args.budget,
                evaluator=evaluator,
                progress=progress,
                min_fill=args.min_fill,
                service_evaluator=service,
            )
        finally:
            if bar is not None:
                bar.close()
        if not result.feasible:
            raise ScenarioError(
                f"{source}: --min-fill {args.min_fill:g}: no candidate in {result.evaluations} "
                f"evaluations reached it (best fill rate {result.fill_rate:.4f}); nothing written"
            )
        tuned = tuned_scenario_data(data, result, source)
        scenario_from_dict(tuned, source=str(out))  # the file we write must load
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        try:
            tmp.write_text(yaml.safe_dump(tuned, sort_keys=False), encoding="utf-8")
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
    except (TwinError, FileExistsError) as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    for line in report(result):
        print(line)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
