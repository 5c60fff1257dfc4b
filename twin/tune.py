"""``python -m twin.tune SCENARIO.yaml --target NODE_OR_TIER --kind KIND``: tune a rule agent.

Searches the parameters of ``KIND`` at the target's nodes on common random numbers to minimise the
network's mean cost per period (:mod:`twin.studies.tune`) and writes the scenario with the tuned
agent to ``--out`` (default ``runs/<scenario>.tuned.yaml``). Everything that can be checked is
checked before the search starts (the options, the scenario, the target, and that ``--out`` can
be written); mistakes print one line ``error: ...`` and exit with status 2, an interrupt exits
with status 130 and writes nothing.
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
from twin.studies.tune import TUNABLE, target_nodes, tune, tuned_scenario_data

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m twin.tune", description=__doc__.split("\n")[0])
    parser.add_argument("scenario")
    parser.add_argument(
        "--target",
        required=True,
        help="node id or tier (or a comma-separated list) whose agent is tuned",
    )
    parser.add_argument("--kind", required=True, choices=sorted(TUNABLE))
    parser.add_argument(
        "--replications",
        type=int,
        default=None,
        help="replications per candidate (default: the scenario's)",
    )
    parser.add_argument("--periods", type=int, default=None, help="periods of every run")
    parser.add_argument("--budget", type=int, default=150, help="maximum candidate evaluations (>= 1)")
    parser.add_argument(
        "--out",
        default=None,
        help="tuned scenario file (default: runs/<scenario>.tuned.yaml)",
    )
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check(args: argparse.Namespace) -> tuple[dict, Path]:
    """Everything that can fail before the search: options, scenario, target, output file."""
    for flag, value in (("--replications", args.replications), ("--periods", args.periods)):
        if value is not None and value < 1:
            raise ScenarioError(f"{flag} must be >= 1, got {value}")
    if args.budget < 1:
        raise ScenarioError(f"--budget must be >= 1 candidate evaluation, got {args.budget}")
    source = args.scenario
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    if args.periods is not None:
        data["periods"] = args.periods
    scenario = scenario_from_dict(data, source=source)
    target_nodes(scenario, args.target, source)
    out = Path(args.out) if args.out else Path("runs") / f"{Path(source).stem}.tuned.yaml"
    check_writable(out, "--out")
    if out.is_dir():
        raise ScenarioError(f"--out {str(out)!r} is a folder; give the tuned scenario's file name")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    return data, out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    source = args.scenario
    try:
        data, out = _check(args)
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
                progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()
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
    print(f"tuned {result.kind} at {', '.join(result.nodes)} in {result.evaluations} evaluations")
    for p, values in result.params.items():
        for n, v in values.items():
            print(f"  {p}[{n}] = {v:.4g}   (start {result.start_params[p][n]:.4g})")
    print(
        f"cost per period {result.cost:.4f} +- {result.standard_error:.4f} "
        f"(start {result.start_cost:.4f})"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
