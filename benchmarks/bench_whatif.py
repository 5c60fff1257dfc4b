"""Throughput of what-if studies: replications per second with 1 and 2 local workers, and on Ray.

Times :func:`twin.compare.run_pending` (simulate each replication, compute its KPIs, save its
record file: what ``python -m twin.compare`` does before the final tables and plots) on
``scenarios/hmarl_3store.yaml`` with the baseline and one variant (the tuned (s,S) warehouse).
Each setting runs ``--repeats`` times (the local ones interleaved) into a fresh folder; the
median is reported. Ray (if installed) runs afterwards on a local instance with ``--workers``
CPUs, started once before timing (its start-up time is reported separately). The comparison
tables of all settings are checked to be identical.

Run from the repository root: ``python benchmarks/bench_whatif.py [--replications 20]
[--periods 365] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.studies.runner import StudyFolder, finish, run_pending  # noqa: E402
from twin.studies.study import StudySpec, build_study  # noqa: E402

VARIANT = ("tuned_sS", ("agents.warehouse_1=s_S:s=522,S=534",))


def run_once(study, executor: str, workers: int) -> tuple[float, bytes]:
    """Seconds of run_pending into a fresh folder, and the comparison table it leads to."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = StudyFolder(Path(tmp) / "study")
        folder.write_definition(study)
        start = time.perf_counter()
        failures = run_pending(study, folder, executor=executor, workers=workers)
        seconds = time.perf_counter() - start
        assert not failures, failures[0].error
        finish(study, folder, failures, plots=False)
        return seconds, (folder.path / "comparison.csv").read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--periods", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="workers of the parallel runs")
    args = parser.parse_args()
    spec = StudySpec(
        str(ROOT / "scenarios" / "hmarl_3store.yaml"),
        replications=args.replications,
        periods=args.periods,
        variants=(VARIANT,),
    )
    study = build_study(spec)
    tasks = len(study.cases) * study.replications
    settings = [
        ("local, 1 worker (in process)", "local", 1),
        (f"local, {args.workers} workers (process pool)", "local", args.workers),
    ]
    seconds: dict[str, list[float]] = {}
    tables: dict[str, bytes] = {}

    def measure(chosen: list[tuple[str, str, int]]) -> None:
        for _ in range(args.repeats):  # interleaved, so drifting background load hits all alike
            for name, executor, workers in chosen:
                elapsed, tables[name] = run_once(study, executor, workers)
                seconds.setdefault(name, []).append(elapsed)

    measure(settings)
    try:
        import ray
    except ImportError:
        ray_note = 'Ray not installed (pip install -e ".[ray]"): no Ray row.'
    else:  # after the local runs: an idle Ray instance would slow them down
        start = time.perf_counter()
        ray.init(
            num_cpus=args.workers,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="warning",
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
        )
        ray_note = (
            f"Ray {ray.__version__}: local instance start-up "
            f"{time.perf_counter() - start:.1f} s (not in the timings)."
        )
        settings.append((f"Ray, local instance, {args.workers} CPUs", "ray", args.workers))
        measure(settings[-1:])
        ray.shutdown()
    reference = tables[settings[0][0]]
    base = statistics.median(seconds[settings[0][0]])
    rows = [(name, statistics.median(seconds[name]), tables[name]) for name, _, _ in settings]

    print(
        f"`python benchmarks/bench_whatif.py --replications {args.replications} --periods "
        f"{args.periods} --repeats {args.repeats} --workers {args.workers}`"
    )
    print()
    print(
        f"{study.baseline.scenario.name}: {len(study.cases)} cases x {study.replications} "
        f"replications = {tasks} replications of {args.periods} periods; "
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()}; median of "
        f"{args.repeats} runs"
    )
    print()
    print("| executor | seconds | replications / s | speed-up vs 1 worker | same table |")
    print("|---|---:|---:|---:|:---:|")
    for name, seconds, table in rows:
        print(
            f"| {name} | {seconds:.2f} | {tasks / seconds:.1f} | {base / seconds:.2f}x | "
            f"{'yes' if table == reference else 'NO'} |"
        )
    if ray_note:
        print()
        print(ray_note)


if __name__ == "__main__":
    main()
