"""``python -m twin.train SCENARIO.yaml --algo ppo|happo``: train a policy on the twin.

::

    python -m twin.train scenarios/serial_3stage.yaml --targets stage1,stage2,stage3 \\
        --observation default --action order_up_to:low=0,high=30 --timesteps 6000000 \\
        --set gamma=0.95,ent_coef=0,centralized_critic=true,agent_id=true,init_action_std=0.1
    python -m twin.train scenarios/liu_serial.yaml --algo happo \\
        --targets retailer,distributor,manufacturer --observation liu --action integer:n=20
    python -m twin.train scenarios/hmarl_3store.yaml --algo ppo --phases hmarl \\
        --observation hmarl --action hmarl_multiples --out runs/hmarl-phased

The learning nodes (``--targets``: a node, a tier or a comma-separated list; default: the nodes
of the scenario's ``ppo``/``happo`` entries) are driven from outside, with the observation builder
and action map given (``--observation``, ``--action``); everything else keeps its scenario agent,
and the reward is the scenario's ``reward`` section. Training steps the **vector twin**
(:mod:`twin.rl.batched`: ``num_envs`` replications as arrays, the policy acting for all of them
and all nodes in one batch); where the vector twin cannot express the scenario it says why in one
``note:`` line and trains on event-twin environments instead (``--twin event`` asks for them).
The trainer of ``--algo`` (:mod:`agents.ppo.trainer`, a policy shared by the nodes;
:mod:`agents.happo.trainer`, one actor per node and a centralised critic) writes to ``--out``:

* ``metrics.csv`` (one row per iteration; evaluation columns where evaluated),
  ``training_curve.png`` and, with ``--tensorboard``, TensorBoard events in ``tensorboard/``;
* ``policy.pt`` + ``policy.json``: the **best** policy so far by evaluation cost (network cost per
  period after warm-up, mean over the fixed evaluation replications ``0 .. n-1``, deterministic
  actions; ``--best-by return``: by the mean episode reward instead). The untrained policy is
  evaluated first (iteration 0);
* ``trainer_state.pt`` and ``run.json``: ``--resume`` continues exactly where the run stopped
  (:mod:`twin.rl.train`: a run stopped and resumed gives what the run that never stopped gives);
* ``summary.json``: untrained and best evaluation, and the best policy evaluated once more as a
  plain twin run with the inference agent (``deployed``), the way ``--agent NODE=ppo:checkpoint=``
  will use it.

``--seeds 0-4`` trains once per seed (each in ``DIR/seed-<k>/``, in a process pool of
``--workers`` or on Ray with ``--executor ray``) and writes the mean +- sd over seeds
(``summary.json``), every seed's evaluations (``seeds.csv``) and their curves (``seeds.png``).
``--device cuda`` puts networks, rollouts and the vector twin on a GPU; ``auto`` takes one if
torch sees one, else the CPU.

Phased training (the HMARL training guide, ``--phases``): a sequence of target groups separated by
``;`` (``hmarl`` = ``store;warehouse;supplier;joint``). Phase ``k`` trains group ``k`` while the
groups of the earlier phases act with their trained policies, frozen; ``joint`` fine-tunes all
the groups together, each from its phase's policy, at ``--joint-lr-scale`` times the learning rate.
Each phase writes ``DIR/phase<k>-<group>/`` and is resumable; ``--phase K`` runs phase ``K`` only
(the earlier ones must be done). The last phase's policy is copied to ``DIR/policy.pt``.

``--init POLICY.pt`` starts the shared ppo policy from a checkpoint (weights and observation
normaliser): a meta-learnt initialisation of ``python -m twin.meta`` fine-tuned on a new regime,
or a policy trained on another demand. The checkpoint must hold one ppo policy for the same
learning nodes, observation, action and network, else one line says which field differs.

Hyper-parameters: ``--set NAME=VALUE`` for any field of the trainer's ``Args`` (e.g. ``--set
learning_rate=1e-4 --set centralized_critic=true``, or ``--set learning_rate=1e-4,clip_coef=0.1``;
values read by :mod:`agents.named`, the parser of every ``key=value`` list). Mistakes (a bad
scenario or option, a checkpoint or run folder that does not match) print one line ``error: ...``
and exit with status 2.

This module never imports torch itself (the trainers and checkpoints under ``agents/ppo`` and
``agents/happo`` do, when a run starts), so ``import twin`` stays light.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from entities.errors import TwinError
from twin.cli import check_writable, error_line, run_command, show_progress
from twin.rl.options import (
    add_learner_options,
    add_machine_options,
    add_scenario_options,
    check_at_least,
    check_spaces,
    parse_hyper_parameters,
    training_scenario,
)
from twin.rl.train import (
    RunSpec,
    TrainError,
    check_tensorboard,
    phase_list,
    resolve_device,
    resolve_targets,
    run_phases,
    run_seeds,
    seed_list,
    train_run,
)
from twin.studies.executors import check_executor, pool_context

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

# --------------------------------------------------------------------------------------------------
# Command line.


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m twin.train", description="Train a PPO or HAPPO policy on a twin scenario."
    )
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--algo", choices=("ppo", "happo"), default="ppo")
    add_learner_options(p)
    p.add_argument(
        "--reward-weights",
        metavar="NAME=W,...",
        help="train on these reward weights instead of the scenario's reward.weights, e.g. "
        "total_cost=-1,lost_sales=-5 (a service target on top of the cost)",
    )
    p.add_argument(
        "--timesteps",
        type=int,
        default=100_000,
        help="decision epochs to simulate (per phase), over all vectorised twins",
    )
    p.add_argument("--out", help="output folder (default: runs/train-<scenario>-<algo>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--init",
        metavar="POLICY.pt",
        help="start the shared ppo policy from this checkpoint (weights and observation "
        "normaliser), e.g. a meta-learnt initialisation of python -m twin.meta; same learning "
        "nodes, observation, action and network",
    )
    add_scenario_options(p)
    p.add_argument(
        "--best-by",
        choices=("cost", "return"),
        default="cost",
        help="keep the policy with the lowest evaluation cost (default) or the highest "
        "evaluation return (the training reward)",
    )
    p.add_argument(
        "--phases",
        help="phased training: groups separated by ';' ending optionally "
        "with 'joint', or 'hmarl' (store;warehouse;supplier;joint)",
    )
    p.add_argument("--phase", type=int, help="run only this phase (1-based) of --phases")
    p.add_argument(
        "--joint-lr-scale",
        type=float,
        default=1 / 3,
        help="learning-rate factor of the joint fine-tuning phase (default 1/3)",
    )
    p.add_argument(
        "--seeds",
        help="train once per seed, e.g. 0-4 or 1,3,5 (each in DIR/seed-<k>/), and report mean +- sd",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="processes for --seeds (default: min(seeds, CPUs)); each uses one thread",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where --seeds run: a local process pool, or Ray (an optional extra)",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log metrics for TensorBoard in DIR/tensorboard (needs the tensorboard package)",
    )
    add_machine_options(p)
    return p


def _check_options(args: argparse.Namespace) -> None:
    """The numeric options' ranges (before the scenario is even read)."""
    check_at_least(
        (
            ("--timesteps", args.timesteps, 1),
            ("--eval-replications", args.eval_replications, 1),
            ("--eval-every", args.eval_every, 1),
            ("--periods", args.periods, 1),
            ("--phase", args.phase, 1),
            ("--seed", args.seed, 0),
            ("--workers", args.workers, 1),
        )
    )
    if not (math.isfinite(args.joint_lr_scale) and args.joint_lr_scale > 0):
        raise TrainError(f"--joint-lr-scale must be a number > 0, got {args.joint_lr_scale}")
    if args.phase is not None and not args.phases:
        raise TrainError("--phase needs --phases")
    if args.seeds is not None and args.phases:
        raise TrainError("--seeds and --phases do not combine: train the phases of one seed at a time")
    if args.workers is not None and args.seeds is None:
        raise TrainError("--workers needs --seeds")
    if args.executor != "local" and args.seeds is None:
        raise TrainError("--executor needs --seeds")
    check_executor(args.executor)
    resolve_device(args.device)
    if args.tensorboard:
        check_tensorboard()
    if args.init is not None:
        if args.algo != "ppo" or args.phases or args.seeds is not None:
            raise TrainError("--init starts one ppo run: use --algo ppo, without --phases or --seeds")
        if not Path(args.init).is_file():
            raise TrainError(f"--init {args.init!r}: no such checkpoint file")


def _check_out(out: Path, args: argparse.Namespace) -> None:
    check_writable(out, "--out")
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {str(out)!r} is a file, not a folder")
    resumable = (out / "run.json").is_file() or (
        args.seeds is not None and any(out.glob("seed-*/run.json"))
    )
    if args.resume and not resumable and not args.phases:
        raise TrainError(f"--resume: {str(out)!r} holds no training run (no run.json) to continue")
    if not args.resume and args.phase is None and out.is_dir() and any(out.iterdir()):
        raise TrainError(
            f"{out} already exists and is not empty; use --resume to continue it "
            "or --out for a new folder"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out: Path | None = None
    existed = True
    try:
        _check_options(args)
        scenario = training_scenario(
            args.scenario,
            overrides=args.override,
            periods=args.periods,
            reward_weights=args.reward_weights,
        )
        n_eval = args.eval_replications or min(5, scenario.replications)
        out = Path(args.out or f"runs/train-{scenario.name}-{args.algo}")
        check_spaces(args.observation, args.action)
        overrides = parse_hyper_parameters(args.set, args.algo, seed=args.seed, timesteps=args.timesteps)
        phases = phase_list(args.phases) if args.phases else None
        seeds = seed_list(args.seeds) if args.seeds is not None else None
        if phases is not None and args.phase is not None and args.phase > len(phases):
            raise TrainError(f"--phase {args.phase}: --phases has {len(phases)} phase(s)")
        targets = [] if phases is not None else resolve_targets(scenario, args.targets)
        _check_out(out, args)
        existed = out.exists()
        base = RunSpec(
            scenario=scenario,
            source=args.scenario,
            algo=args.algo,
            targets=targets,
            out=out,
            timesteps=args.timesteps,
            seed=args.seed,
            observation=args.observation,
            action=args.action,
            reward_scope=args.reward_scope,
            overrides=overrides,
            eval_replications=n_eval,
            eval_every=args.eval_every,
            resume=args.resume,
            quiet=not show_progress(args.quiet),
            best_by=args.best_by,
            device=args.device,
            vector=args.twin == "vector",
            tensorboard=args.tensorboard,
            notify=_note,
            scenario_overrides=list(args.override),
            init=Path(args.init) if args.init is not None else None,
        )
        if phases is not None:
            run_phases(base, phases, args.phase, args.joint_lr_scale)
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        elif seeds is not None:
            workers = args.workers or max(1, min(len(seeds), os.cpu_count() or 1))
            summary = run_seeds(
                base, seeds, workers=workers, executor=args.executor, context=pool_context()
            )
        else:
            summary = train_run(base)
    except KeyboardInterrupt:
        if out is None or not out.is_dir() or _discard(out, existed):
            raise  # nothing to continue: twin.cli says "interrupted"
        print(
            f"interrupted: continue the run in {out} with the same command and --resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except (TwinError, ValueError, FileExistsError) as exc:
        _discard(out, existed)
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(error_line(exc), file=sys.stderr)
        return 1
    if not args.quiet:
        _print_summary(summary)
    if "seeds" in summary:
        listed = ", ".join(map(str, summary["seeds"]))
        print(f"policies: {out / 'seed-<k>' / 'policy.pt'} for seeds {listed}")
    else:
        print(f"policy: {out / 'policy.pt'}")
    return 0


def _note(text: str) -> None:
    """A note the run makes once (e.g. why it falls back to the event twin), on stderr."""
    print(f"note: {' '.join(text.split())}", file=sys.stderr)


def _discard(out: Path | None, existed: bool) -> bool:
    """Remove the run folder this command created, unless it already holds a policy or a saved
    trainer state (kept for --resume); True if it was removed."""
    if out is None or existed or not out.is_dir():
        return False
    if any(out.rglob("policy.pt")) or any(out.rglob("trainer_state.pt")):
        return False
    shutil.rmtree(out, ignore_errors=True)
    return True


def _print_summary(summary: Mapping[str, Any]) -> None:
    if "seeds" in summary:
        for key in ("untrained", "best", "deployed"):
            part = summary.get(key, {}).get("eval_cost")
            if part:
                values = ", ".join(f"{v:.2f}" for v in part["values"])
                print(
                    f"{key}: evaluation cost per period {part['mean']:.2f} +- {part['sd']:.2f} "
                    f"(sd over seeds {summary['seeds']}: {values})"
                )
        return
    runs = summary.get("phases", {"run": summary})
    for name, s in runs.items():
        un, best = s.get("untrained", {}), s.get("best", {})
        dep = s.get("deployed", {})
        print(
            f"{name}: evaluation cost per period untrained {un.get('eval_cost', math.nan):.2f}"
            f" -> best {best.get('eval_cost', math.nan):.2f} +- "
            f"{best.get('eval_cost_se', math.nan):.2f} (fill rate "
            f"{best.get('eval_fill_rate', math.nan):.3f}; as a twin run "
            f"{dep.get('eval_cost', math.nan):.2f}), {s.get('timesteps')} epochs in "
            f"{s.get('seconds', 0.0):.0f} s"
        )


if __name__ == "__main__":
    sys.exit(run_command(main))
