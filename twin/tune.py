"""``python -m twin.tune SCENARIO.yaml --target NODE_OR_TIER --kind KIND``: tune a rule agent.

Searches the parameters of ``KIND`` at the target's nodes on common random numbers to minimise the
network's mean cost per period (:mod:`twin.studies.tune`) and writes the scenario with the tuned
agent. Mistakes print one line ``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from entities.errors import ScenarioError, TwinError
from twin.scenario import read_yaml, scenario_from_dict
from twin.studies.tune import TUNABLE, tune, tuned_scenario_data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m twin.tune", description=__doc__.split("\n")[0])
    parser.add_argument("scenario")
    parser.add_argument(
        "--target",
        required=True,
        help="node id or tier (or a comma-separated list) whose agent is tuned",
    )
    parser.add_argument("--kind", required=True, choices=sorted(TUNABLE))
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--periods", type=int, default=None)
    parser.add_argument("--budget", type=int, default=150, help="maximum candidate evaluations")
    parser.add_argument(
        "--out",
        default=None,
        help="tuned scenario file (default: <scenario>.tuned.yaml beside the input)",
    )
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    source = args.scenario
    try:
        data = read_yaml(source)
        if not isinstance(data, dict):
            raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
        if args.periods is not None:
            data["periods"] = args.periods
        out = Path(args.out) if args.out else Path(source).with_suffix(".tuned.yaml")
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
        bar = None
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=args.budget, desc="tuning", unit="candidate", file=sys.stderr)

        best = [math.inf]

        def progress(n: int, cost: float) -> None:
            best[0] = min(best[0], cost)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{best[0]:.3f}")

        result = tune(
            data,
            args.target,
            args.kind,
            source=source,
            replications=args.replications,
            budget=args.budget,
            progress=progress,
        )
        if bar is not None:
            bar.close()
        tuned = tuned_scenario_data(data, result, source)
        scenario_from_dict(tuned, source=str(out))  # the file we write must load
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(yaml.safe_dump(tuned, sort_keys=False), encoding="utf-8")
        tmp.replace(out)
    except (TwinError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    sys.exit(main())
