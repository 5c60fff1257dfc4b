"""``python -m twin.compare``: what-if studies with common random numbers and paired intervals.

::

    python -m twin.compare SCENARIO.yaml [--variant NAME=OVERRIDE[,OVERRIDE...]]...
        [--sweep PATH=v1,v2,...]... [--replications N] [--periods N] [--warmup N] [--seed N]
        [--workers N] [--executor local|ray] [--address ADDR] [--out DIR] [--no-plots] [--quiet]
    python -m twin.compare STUDY.yaml [same options]
    python -m twin.compare --resume DIR [--replications N] [--workers N] [--executor ...]

The **baseline** is the unmodified scenario; each ``--variant`` is the baseline with overrides
addressed by path (:mod:`twin.overrides`: ``agents.W1=s_S:s=600,S=1500``,
``lanes[W1->S2].lead_time.high=3``, ``nodes.S1.capacity=400``, ``periods=90``,
``scenario=OTHER.yaml``). Overrides in one ``--variant`` are separated by ``,`` or ``;``; a piece
that does not begin with a scenario path continues the previous override, so agent parameters
keep their commas. Repeating ``--variant NAME=...`` adds overrides to the same variant (one per
flag is always unambiguous). ``--sweep PATH=v1,v2,...`` (repeatable) runs the full grid of the
swept values on the baseline and on every variant. A study file (:mod:`twin.study`) says the same
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

from reconciliation import whatif, whatif_report
from reconciliation.report import versions
from twin.config import read_yaml
from twin.errors import TwinError
from twin.executors import (
    EXECUTORS,
    ExecutorError,
    Outcome,
    Task,
    check_executor,
    outcomes,
    plugin_kinds,
)
from twin.paired import compare as paired_comparison
from twin.study import (
    Case,
    Study,
    StudySpec,
    build_study,
    is_study_data,
    parse_sweep,
    parse_variant,
    read_study_file,
    study_from_definition,
)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
STUDY_FILE = "study.json"
TRAJECTORY_REPLICATION = 0


class UsageError(TwinError):
    """A mistake in the command line (reported in one line, exit status 2)."""


# --------------------------------------------------------------------------------------------------
# The study folder.


class StudyFolder:
    """``study.json``, one small file per finished replication, replication 0's ledgers, outputs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def record_path(self, case: Case, replication: int) -> Path:
        return self.path / "replications" / case.key / f"r{replication:04d}.json"

    def trajectory_path(self, case: Case) -> Path:
        return self.path / "trajectories" / f"{case.key}.parquet"

    def write_definition(self, study: Study) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(study.definition(), indent=1, allow_nan=False) + "\n"
        whatif.atomic_write(self.path / STUDY_FILE, lambda p: p.write_text(text, "utf-8"))

    def read_definition(self) -> dict[str, Any]:
        file = self.path / STUDY_FILE
        if not file.is_file():
            raise UsageError(f"--resume {str(self.path)!r}: no {STUDY_FILE} there; not a study folder")
        try:
            return json.loads(file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{file}: unreadable ({exc})") from None

    def save(self, case: Case, outcome: Outcome) -> None:
        """Persist a finished replication: its ledger (replication 0) first, then its record."""
        if outcome.rows is not None:
            path = self.trajectory_path(case)
            path.parent.mkdir(parents=True, exist_ok=True)
            whatif.write_ledger(outcome.rows, outcome.replication, path)
        record = {
            "case": case.name,
            "replication": outcome.replication,
            "seed": outcome.seed,
            "seconds": round(outcome.seconds, 6),
            "kpis": outcome.kpis,
        }
        path = self.record_path(case, outcome.replication)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, allow_nan=False) + "\n"
        whatif.atomic_write(path, lambda p: p.write_text(text, "utf-8"))

    def load(self, study: Study) -> dict[int, dict[int, dict[str, Any]]]:
        """Records of the study's cases and replications found on disk (leftovers removed)."""
        out: dict[int, dict[int, dict[str, Any]]] = {}
        for case in study.cases:
            folder = self.path / "replications" / case.key
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                if ".tmp-" in file.name:  # a write cut short by a kill
                    file.unlink(missing_ok=True)
                    continue
                try:
                    replication = int(file.stem.removeprefix("r"))
                    record = json.loads(file.read_text("utf-8"))
                except (ValueError, OSError):
                    continue
                if replication < study.replications and record.get("case") == case.name:
                    out.setdefault(case.index, {})[replication] = record
        return out


# --------------------------------------------------------------------------------------------------
# Command line.


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        print(f"error: {message} (see python -m twin.compare --help)", file=sys.stderr)
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
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.address and args.executor != "ray":
        raise UsageError("--address is for --executor ray")
    if args.resume:
        if args.out and Path(args.out) != Path(args.resume):
            raise UsageError("give either --out or --resume (the study folder), not both")
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
        study = study_from_definition(stored, str(folder.path / STUDY_FILE))
        return study, folder, True
    if not args.spec:
        raise UsageError("give a scenario or study file, or --resume DIR")
    study = build_study(_spec_from_args(args))
    out = Path(args.out) if args.out else _default_out(study)
    if out.exists():
        raise UsageError(
            f"output folder {str(out)!r} already exists; continue it with --resume "
            f"{out} or choose another --out"
        )
    return study, StudyFolder(out), False


# --------------------------------------------------------------------------------------------------
# Running and reporting.


def run_pending(
    study: Study,
    folder: StudyFolder,
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool = False,
) -> list[Outcome]:
    """Run the replications without a record in ``folder``; return the failed outcomes."""
    done = folder.load(study)
    plugins = plugin_kinds(c.scenario for c in study.cases)
    tasks = [
        Task(c.index, c.name, c.scenario, r, r == TRAJECTORY_REPLICATION, plugins)
        for r in range(study.replications)
        for c in study.cases
        if r not in done.get(c.index, {})
    ]
    bar = None
    if progress and tasks:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="replications", unit="rep", file=sys.stderr)
    failures: list[Outcome] = []
    try:
        for outcome in outcomes(tasks, executor=executor, workers=workers, address=address):
            case = study.cases[outcome.case]
            if outcome.ok:
                folder.save(case, outcome)
            else:
                failures.append(outcome)
                if bar is not None:
                    bar.write(
                        f"failed: {case.name} replication {outcome.replication} "
                        f"(seed {outcome.seed}): {outcome.error}",
                        file=sys.stderr,
                    )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return sorted(failures, key=lambda o: (o.case, o.replication))


def _sweep_summary(study: Study, frame: Any) -> Any:
    """The comparison rows of sweep cases with their coordinates (for the sweep plot)."""
    import pandas as pd

    points = {c.name: dict(c.point) for c in study.cases if c.point}
    rows = frame[frame["case"].isin(points)].copy()
    for p in study.sweep_paths:
        rows[p] = [points[c][p] for c in rows["case"]]
    return pd.DataFrame(rows)


def finish(study: Study, folder: StudyFolder, failures: Sequence[Outcome], *, plots: bool = True) -> Any:
    """Write the tables, plots (unless ``plots=False``), report and summary; return the
    comparison table."""
    out = folder.path
    records = folder.load(study)
    cases = [(c.index, c.name, c.variant) for c in study.cases]
    results = {i: {r: rec["kpis"] for r, rec in reps.items()} for i, reps in records.items()}
    frame = whatif.comparison_frame(paired_comparison(results, cases, baseline=study.baseline.index))
    whatif.write_table(frame, out, "comparison")
    keys = list(dict.fromkeys(frame["kpi"]))
    flat = [
        {
            "case": c.name,
            "variant": c.variant,
            "point": c.point,
            "replication": r,
            "seed": rec["seed"],
            "kpis": rec["kpis"],
        }
        for c in study.cases
        for r, rec in sorted(records.get(c.index, {}).items())
    ]
    whatif.write_table(
        whatif.replications_frame(flat, keys, study.sweep_paths), out, "replications", parquet=False
    )
    images: list[Path] = []
    if plots and not frame.empty:
        images += [out / "kpi_bars.png", out / "cost_by_tier.png"]
        whatif_report.plot_kpi_bars(frame, images[0])
        whatif_report.plot_cost_by_tier(frame, images[1])
    ledgers = {
        c.name: whatif.read_ledger(folder.trajectory_path(c))
        for c in study.cases
        if plots and folder.trajectory_path(c).is_file()
    }
    if plots and ledgers:
        images.append(out / "trajectories.png")
        whatif_report.plot_trajectories(
            ledgers,
            images[-1],
            warmup=study.baseline.scenario.warmup_periods,
            replication=TRAJECTORY_REPLICATION,
        )
    if study.sweeps:
        grid = [r for r in flat if r["point"]]
        whatif.write_table(
            whatif.replications_frame(grid, keys, study.sweep_paths), out, "sweep", parquet=False
        )
        summary = _sweep_summary(study, frame)
        if plots and not summary.empty:
            images.append(out / "sweep.png")
            whatif_report.plot_sweep(summary, study.sweep_paths, images[-1])
    failure_rows = [
        {"case": f.name, "replication": f.replication, "seed": f.seed, "error": f.error}
        for f in failures
    ]
    _write_failures(out, failures)
    meta = {
        "scenario": study.scenario_path,
        "seed": study.seed,
        "replications per case": study.replications,
        "periods": study.baseline.scenario.periods,
        "warm-up periods": study.baseline.scenario.warmup_periods,
        "cases": ", ".join(c.name for c in study.cases),
        "failed replications": len(failures),
    }
    text = whatif_report.render_html(
        f"What-if study: {study.baseline.scenario.name}", meta, frame, images, failure_rows
    )
    whatif_report.write_html(out / "report.html", text)
    summary_json = {
        "study": {k: v for k, v in study.definition().items() if k != "cases"},
        "cases": [
            {
                "name": c.name,
                "variant": c.variant,
                "overrides": list(c.overrides),
                "point": dict(c.point),
                "source": c.source,
                "replications_done": len(records.get(c.index, {})),
            }
            for c in study.cases
        ],
        "confidence_level": 0.95,
        "kpis": _nested(frame),
        "failures": failure_rows,
        "files": sorted(p.name for p in out.iterdir() if p.is_file() and ".tmp-" not in p.name)
        + ["summary.json"],
        "versions": versions(),
    }
    text = json.dumps(summary_json, indent=2, allow_nan=False, default=str) + "\n"
    whatif.atomic_write(out / "summary.json", lambda p: p.write_text(text, "utf-8"))
    return frame


def _write_failures(out: Path, failures: Sequence[Outcome]) -> None:
    csv_path, log_path = out / "failures.csv", out / "failures.log"
    if not failures:
        csv_path.unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)
        return
    import pandas as pd

    frame = pd.DataFrame(
        [
            {"case": f.name, "replication": f.replication, "seed": f.seed, "error": f.error}
            for f in failures
        ]
    )
    whatif.atomic_write(csv_path, lambda p: frame.to_csv(p, index=False))
    log = "\n".join(
        f"== {f.name} replication {f.replication} (seed {f.seed})\n{f.details}" for f in failures
    )
    whatif.atomic_write(log_path, lambda p: p.write_text(log, "utf-8"))


def _nested(frame: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in frame.to_dict("records"):
        entry = {
            k: (None if isinstance(v, float) and v != v else v)
            for k, v in row.items()
            if k not in ("kpi", "label", "better", "case")
        }
        kpi = out.setdefault(row["kpi"], {"label": row["label"], "better": row["better"], "cases": {}})
        kpi["cases"][row["case"]] = entry
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        study, folder, resuming = _prepare(args)
        check_executor(args.executor)
    except TwinError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    try:
        folder.write_definition(study)
        failures = run_pending(
            study,
            folder,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
            progress=not args.quiet,
        )
        frame = finish(study, folder, failures, plots=not args.no_plots)
    except KeyboardInterrupt:
        done = sum(len(v) for v in folder.load(study).values())
        total = len(study.cases) * study.replications
        print(
            f"\ninterrupted: {done} of {total} replications are saved in {folder.path}; "
            f"continue with: python -m twin.compare --resume {folder.path}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ExecutorError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
    sys.exit(main())
