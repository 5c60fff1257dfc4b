"""``python -m twin.compare``: what-if studies with common random numbers and paired intervals.

::

    python -m twin.compare SCENARIO.yaml [--variant NAME=OVERRIDE[,OVERRIDE...]]...
        [--sweep PATH=v1,v2,...]... [--replications N] [--periods N] [--warmup N] [--seed N]
        [--workers N] [--executor local|ray] [--address ADDR] [--out DIR] [--no-plots] [--quiet]
    python -m twin.compare STUDY.yaml [same options]
    python -m twin.compare --resume DIR [--replications N] [--workers N] [--executor ...]

The **baseline** is the unmodified scenario; each ``--variant`` is the baseline with overrides
addressed by path (:mod:`twin.scenario.edit`: ``agents.W1=s_S:s=600,S=1500``,
``lanes[W1->S2].lead_time.high=3``, ``nodes.S1.capacity=400``, ``periods=90``,
``scenario=OTHER.yaml``). Overrides in one ``--variant`` are separated by ``,`` or ``;``; a piece
that does not begin with a scenario path continues the previous override, so agent parameters
keep their commas. Repeating ``--variant NAME=...`` adds overrides to the same variant (one per
flag is always unambiguous). ``--sweep PATH=v1,v2,...`` (repeatable) runs the full grid of the
swept values on the baseline and on every variant. A study file (:mod:`twin.studies.study`) says the same
in YAML; command-line options add to it or override it.

Every case runs replications ``0 .. N-1`` with the study's seed (``--seed``, default the
scenario's): replication ``r`` of every case draws the same demand and lead times (common random
numbers), on whichever worker or executor it runs, so results do not depend on ``--workers`` or
``--executor``. ``--workers 1`` runs in this process; more use a local process pool (default
``min(2, CPUs)``); ``--executor ray`` runs the same tasks on Ray (``--address`` of a cluster, or a
local instance started on demand; ``pip install -e ".[ray]"``).

The study folder (``--out``, default ``runs/compare-<scenario>-<timestamp>``) is created once the
whole study has been validated. As each replication finishes its KPIs are saved in
``replications/<case>/rNNNN.json`` (and replication 0's ledger in ``trajectories/``), each file
written atomically; ``--resume DIR`` runs only what is missing and gives the same tables as an
uninterrupted run (``--replications`` may be raised on resume). At the end it writes
``comparison.csv`` / ``.parquet`` (per KPI and case: mean and 95 % CI, paired difference to the
baseline with its 95 % CI, verdict), ``replications.csv``, ``sweep.csv`` (with sweeps),
``failures.csv`` and ``failures.log`` (if any), the plots (``kpi_bars.png``,
``cost_by_tier.png``, ``trajectories.png``, ``sweep.png``; not with ``--no-plots``),
``report.html`` (self-contained) and, last, ``summary.json``.

``--state URL [--as-of DATE]`` runs every case from the state stored at ``URL`` as of the date
(:mod:`twin.live.start`; a rolling what-if: from where the network stands today, over the next
``--periods``), all cases on the same random numbers.

Exit status: 0 done; 2 bad input (one line ``error: ...``, nothing written); 3 done, but some
replications raised (each is reported with case, replication, seed and error; the others are in
the tables; ``--resume`` retries them); 130 interrupted (resume with ``--resume DIR``); 1 an
operating-system error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from entities.errors import TwinError
from reconciliation import whatif
from twin.cli import check_writable, error_line, run_command, show_progress
from twin.live.start import start_from_store
from twin.scenario import read_yaml
from twin.studies.executors import EXECUTORS, ExecutorError, check_executor
from twin.studies.runner import STUDY_FILE, StudyFolder, UsageError, finish, run_pending
from twin.studies.study import (
    Study,
    StudySpec,
    build_study,
    is_study_data,
    parse_sweep,
    parse_variant,
    read_study_file,
    study_from_definition,
    with_state,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


# --------------------------------------------------------------------------------------------------
# Command line.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        print(error_line(f"{message} (see python -m twin.compare --help)"), file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m twin.compare",
        description="What-if studies: a baseline scenario and variants, compared with "
        "common random numbers and paired 95 % confidence intervals. Exit "
        "status 2: bad input; 3: some replications failed (see "
        "failures.csv); 130: interrupted (continue with --resume DIR).",
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SCENARIO_OR_STUDY.yaml",
        help="a scenario (the baseline) or a study file",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=OVERRIDE[,...]",
        help="a variant: overrides of the baseline, e.g. "
        "sS=agents.warehouse_1=s_S:s=522,S=534 (repeatable; a repeated NAME "
        "adds overrides)",
    )
    p.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="PATH=v1,v2,...",
        help="sweep a path over values (repeatable: full grid)",
    )
    p.add_argument("--replications", type=int, help="replications per case")
    p.add_argument("--periods", type=int, help="periods of every case")
    p.add_argument("--warmup", type=int, help="warm-up periods of every case")
    p.add_argument("--seed", type=int, help="the study seed (default: the scenario's)")
    p.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="parallel workers (1: in this process; default min(2, CPUs))",
    )
    p.add_argument("--executor", choices=EXECUTORS, default="local")
    p.add_argument("--address", help="Ray cluster address (with --executor ray)")
    p.add_argument("--out", help="study folder (default runs/compare-<scenario>-<timestamp>)")
    p.add_argument("--resume", metavar="DIR", help="continue the study in DIR")
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="tables, summary and report only (plots take a few seconds)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument(
        "--state",
        metavar="URL",
        help="run every case from the state stored at URL (database URL, SQLite file or Parquet folder)",
    )
    p.add_argument("--as-of", metavar="DATE", help="the stored state's date (default: the latest)")
    return p


def _spec_from_args(args: argparse.Namespace) -> StudySpec:
    path = args.spec
    data = read_yaml(path)
    if is_study_data(data):
        spec = read_study_file(path, data)
    else:
        spec = StudySpec(scenario_path=path)
    variants: dict[str, list[str]] = {name: list(o) for name, o in spec.variants}
    for text in args.variant:
        name, overrides = parse_variant(text)
        variants.setdefault(name, []).extend(overrides)
    sweeps = [*spec.sweeps, *((p, tuple(v)) for p, v in map(parse_sweep, args.sweep))]
    return StudySpec(
        spec.scenario_path,
        spec.base_dir,
        args.seed if args.seed is not None else spec.seed,
        args.replications if args.replications is not None else spec.replications,
        args.periods if args.periods is not None else spec.periods,
        args.warmup if args.warmup is not None else spec.warmup_periods,
        tuple((n, tuple(o)) for n, o in variants.items()),
        tuple(sweeps),
    )


def _default_out(study: Study) -> Path:
    base = Path("runs") / f"compare-{study.baseline.scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


def _without_replications(definition: dict[str, Any]) -> dict[str, Any]:
    out = dict(definition)
    out.pop("replications", None)
    out["cases"] = [
        {k: v for k, v in c.items() if k != "scenario"}
        | {"scenario": {k: v for k, v in c["scenario"].items() if k != "replications"}}
        for c in definition.get("cases", [])
    ]
    return out


def _prepare(args: argparse.Namespace) -> tuple[Study, StudyFolder, bool]:
    """Resolve and validate everything; nothing is written here."""
    _check_options(args)
    if args.resume:
        return _resumed(args)
    if not args.spec:
        raise UsageError("give a scenario or study file, or --resume DIR")
    study = build_study(_spec_from_args(args))
    if args.state:
        study = with_state(
            study, start_from_store(study.baseline.scenario, args.state, args.as_of).state
        )
    out = check_writable(args.out or _default_out(study), "--out")
    if out.exists():
        raise UsageError(
            f"output folder {str(out)!r} already exists; continue it with --resume "
            f"{out} or choose another --out"
        )
    return study, StudyFolder(out), False


def _check_options(args: argparse.Namespace) -> None:
    """Options that do not go together, or out of range."""
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.address and args.executor != "ray":
        raise UsageError("--address is for --executor ray")
    if args.as_of and not args.state:
        raise UsageError(f"--as-of {args.as_of}: give the stored state with --state URL")
    if args.resume and args.state:
        raise UsageError("--resume continues from the state stored in the study; leave out --state")
    if args.resume and args.out and Path(args.out) != Path(args.resume):
        raise UsageError("give either --out or --resume (the study folder), not both")


def _resumed(args: argparse.Namespace) -> tuple[Study, StudyFolder, bool]:
    """The study stored in the ``--resume`` folder: the one given again (it must be the same,
    but for its replications), or the stored one, with more replications if asked."""
    folder = StudyFolder(args.resume)
    stored = folder.read_definition()
    if args.spec:
        study = build_study(_spec_from_args(args))
        if _without_replications(study.definition()) != _without_replications(
            json.loads(json.dumps(stored))
        ):
            raise UsageError(
                f"--resume {args.resume!r}: the study given differs from the one "
                f"in {STUDY_FILE}; start a new --out instead"
            )
        if args.replications is None:  # keep the stored count (it may have been raised)
            study = dataclasses.replace(study, replications=int(stored["replications"]))
        return study, folder, True
    changed = [
        f"--{k}"
        for k in ("variant", "sweep", "periods", "warmup", "seed")
        if getattr(args, k) not in (None, [])
    ]
    if changed:
        raise UsageError(
            f"--resume without a scenario continues the stored study; "
            f"{', '.join(changed)} would change it (start a new --out)"
        )
    if args.replications is not None:
        if args.replications < 1:
            raise UsageError(f"--replications must be >= 1, got {args.replications}")
        stored = {**stored, "replications": args.replications}
    return study_from_definition(stored, str(folder.path / STUDY_FILE)), folder, True


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        study, folder, resuming = _prepare(args)
        check_executor(args.executor)
    except TwinError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    try:
        folder.write_definition(study)
        failures = run_pending(
            study,
            folder,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
            progress=show_progress(args.quiet),
        )
        frame = finish(study, folder, failures, plots=not args.no_plots)
    except KeyboardInterrupt:
        done = sum(len(v) for v in folder.load(study).values())
        total = len(study.cases) * study.replications
        print(
            f"interrupted: {done} of {total} replications are saved in {folder.path}; "
            f"continue with: python -m twin.compare --resume {folder.path}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ExecutorError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_ERROR

    if not args.quiet:
        base = study.baseline.scenario
        print(
            f"{base.name}: {len(study.cases)} case(s) x {study.replications} replication(s) x "
            f"{base.periods} periods (KPIs over periods {base.warmup_periods}..."
            f"{base.periods - 1}), seed {study.seed}; 95 % t-intervals, differences paired "
            "by replication"
        )
        print()
        print(whatif.comparison_text(frame))
        print()
    if args.quiet:  # otherwise each was reported as it happened, above the progress bar
        for f in failures:
            print(
                f"failed: {f.name} replication {f.replication} (seed {f.seed}): {f.error}",
                file=sys.stderr,
            )
    if failures:
        print(
            f"{len(failures)} replication(s) failed; see {folder.path / 'failures.log'}; "
            f"retry them with --resume {folder.path}",
            file=sys.stderr,
        )
    print(f"study folder: {folder.path}")
    return EXIT_FAILED if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
