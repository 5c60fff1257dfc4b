"""``python -m twin.meta SCENARIO.yaml --regimes A.yaml B.yaml ...``: meta-learn an initialisation.

::

    python -m twin.meta base.yaml --regimes regime-a.yaml regime-b.yaml regime-c.yaml \\
        --targets store,warehouse --observation default \\
        --action order_up_to:low=0,high=8,scale=forecast,position=echelon \\
        --timesteps 600000 --inner-iterations 4 --meta-step-size 0.5 --out runs/meta-x
    python -m twin.train held-out.yaml --init runs/meta-x/policy.pt --targets store,warehouse \\
        --observation default --action order_up_to:low=0,high=8,scale=forecast,position=echelon \\
        --timesteps 60000 --out runs/fine-tune

Reptile over the regimes (:mod:`twin.rl.meta`): each meta-iteration runs ``--inner-iterations``
PPO iterations on one regime from the current initialisation, then moves the initialisation
toward the adapted weights by the meta step size (annealed linearly to 0). A regime is a scenario
with the base scenario's nodes, lanes, agents and reward and a demand of its own (typically the
output of ``python -m twin.calibrate``). The options of the learning nodes, the hyper-parameters
(``--set``), ``--periods``, ``--override`` (applied to every regime) and ``--seed`` are those of
``python -m twin.train``; ``--timesteps`` is the whole budget, summed over the regimes.

``--out`` receives ``policy.pt`` (the initialisation: ``python -m twin.train --init`` fine-tunes
from it, a ``ppo`` agent deploys it), ``metrics.csv`` and ``summary.json`` (the initialisation's
evaluation cost on each regime). Mistakes print one line ``error: ...`` and exit with status 2;
Ctrl-C stops with status 130 and removes the unfinished folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from entities.errors import TwinError
from twin.cli import EXIT_USAGE, check_writable, error_line, run_command, show_progress
from twin.rl.options import (
    add_learner_options,
    add_machine_options,
    add_scenario_options,
    check_at_least,
    check_spaces,
    parse_hyper_parameters,
    training_scenario,
)
from twin.rl.train import RunSpec, TrainError, resolve_device, resolve_targets
from twin.scenario import Scenario


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m twin.meta",
        description="Meta-learn (Reptile) an initialisation of a PPO policy over demand regimes.",
    )
    p.add_argument("scenario", help="base scenario YAML file (nodes, lanes, agents, reward)")
    p.add_argument("--regimes", nargs="+", required=True, metavar="REGIME.yaml", help="regime scenarios")
    add_learner_options(p)
    p.add_argument(
        "--timesteps", type=int, default=600_000, help="decision epochs in all, over every regime"
    )
    p.add_argument(
        "--inner-iterations", type=int, default=4, help="PPO iterations per regime visit (default 4)"
    )
    p.add_argument(
        "--meta-step-size",
        type=float,
        default=0.5,
        help="Reptile's outer step size in (0, 1], annealed linearly to 0 (default 0.5)",
    )
    p.add_argument("--out", help="output folder (default: runs/meta-<scenario>)")
    add_scenario_options(p, scenarios="the base scenario and every regime")
    add_machine_options(p)
    return p


def _check_options(args: argparse.Namespace) -> None:
    check_at_least(
        (
            ("--timesteps", args.timesteps, 1),
            ("--inner-iterations", args.inner_iterations, 1),
            ("--eval-replications", args.eval_replications, 1),
            ("--eval-every", args.eval_every, 1),
            ("--periods", args.periods, 1),
            ("--seed", args.seed, 0),
        )
    )
    if not 0.0 < args.meta_step_size <= 1.0:
        raise TrainError(f"--meta-step-size must be in (0, 1], got {args.meta_step_size}")
    resolve_device(args.device)


def _read(args: argparse.Namespace, path: str) -> Scenario:
    return training_scenario(path, overrides=args.override, periods=args.periods, reward_weights=None)


def main(argv: Sequence[str] | None = None) -> int:
    from twin.rl.meta import MetaSpec, load_regimes, meta_train, summary_lines

    args = _parser().parse_args(argv)
    out: Path | None = None
    existed = True
    try:
        _check_options(args)
        scenario = _read(args, args.scenario)
        regimes = load_regimes(args.regimes, lambda p: _read(args, p), scenario)
        targets = resolve_targets(scenario, args.targets)
        check_spaces(args.observation, args.action)
        overrides = parse_hyper_parameters(args.set, "ppo", seed=args.seed, timesteps=args.timesteps)
        out = Path(args.out or f"runs/meta-{scenario.name}")
        check_writable(out, "--out")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise TrainError(f"--out {str(out)!r} already exists; choose a new folder")
        existed = out.exists()
        base = RunSpec(
            scenario=scenario,
            source=args.scenario,
            algo="ppo",
            targets=targets,
            out=out,
            timesteps=args.timesteps,
            seed=args.seed,
            observation=args.observation,
            action=args.action,
            reward_scope=args.reward_scope,
            overrides=overrides,
            eval_replications=args.eval_replications or min(5, scenario.replications),
            eval_every=args.eval_every,
            resume=False,
            quiet=not show_progress(args.quiet),
            device=args.device,
            vector=args.twin == "vector",
            scenario_overrides=list(args.override),
        )
        spec = MetaSpec(
            base, regimes, inner_iterations=args.inner_iterations, meta_step_size=args.meta_step_size
        )
        summary = meta_train(spec, notify=_note)
    except KeyboardInterrupt:
        _discard(out, existed)
        raise  # twin.cli says "interrupted" (status 130)
    except (TwinError, ValueError, FileExistsError) as exc:
        _discard(out, existed)
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        for line in summary_lines(summary):
            print(line)
    print(f"initialisation: {out / 'policy.pt'}")
    return 0


def _note(text: str) -> None:
    print(f"note: {' '.join(text.split())}", file=sys.stderr)


def _discard(out: Path | None, existed: bool) -> None:
    """Remove the unfinished output folder this command created (a meta-run does not resume)."""
    if out is not None and not existed and out.is_dir():
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_command(main))
