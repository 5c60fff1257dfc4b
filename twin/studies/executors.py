"""Where a study's replications run: in this process, in a local process pool, or on Ray.

A :class:`Task` is one replication of one case; :func:`run_task` runs it and returns an
:class:`Outcome` (the replication's KPIs, or the error it raised: a failing replication never
stops the others). :func:`outcomes` yields outcomes in completion order; which worker ran a task
never changes its result, because the random streams are keyed by (seed, replication, entity,
purpose) only (:mod:`twin.rng`).

* ``local`` with ``workers=1``: in this process, one task after another;
* ``local`` with ``workers>1``: a :class:`concurrent.futures.ProcessPoolExecutor` whose workers
  are forked from a clean ``forkserver`` process (``spawn`` where there is none), never from this
  process: a process that has used torch (a ``ppo`` agent checked at validation) holds OpenMP
  threads, and a child forked from it waits forever on their barrier inside its first torch
  operation. Workers run one OpenMP/MKL thread each, ignore Ctrl-C (the parent stops them) and, on
  Linux, die with their parent (``PR_SET_PDEATHSIG``): an interrupted study leaves no process
  behind, and what was finished is on disk for ``--resume``;
* ``ray``: the same :func:`run_task` as a Ray remote function, on the cluster at ``address``
  (``ray.init(address=...)``; its nodes need this project installed) or, without an address, on a
  local Ray instance started on demand with ``workers`` CPUs and shut down afterwards. Ray is an
  optional extra: ``pip install -e ".[ray]"``.

Agent kinds registered in this process at run time (``twin.registry.register``) are sent with each
task and registered in the worker if it lacks them, so plugins work with any start method.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from agents import registry
from entities.errors import TwinError
from reconciliation.report import customer_nodes
from reconciliation.whatif import replication_kpis
from twin.engine import Simulation
from twin.engine.state import StartFrom
from twin.scenario import Scenario
from twin.scenario.state import StartingState

EXECUTORS = ("local", "ray")
RAY_INSTALL = 'pip install -e ".[ray]"'


class ExecutorError(TwinError):
    """The executor cannot be used (Ray missing, cannot connect)."""


@dataclass(frozen=True)
class Task:
    """Replication ``replication`` of case ``case`` (its scenario carries the study's seed)."""

    case: int
    name: str
    scenario: Scenario
    replication: int
    keep_ledger: bool = False
    plugins: tuple[tuple[str, Any], ...] = ()
    state: StartingState | None = None
    """A stored state to start from (the scenario prepared for it: twin.scenario.state)."""

    @property
    def seed(self) -> int:
        return self.scenario.seed


@dataclass
class Outcome:
    """What a task produced: flat KPIs (and the ledger rows if asked), or an error."""

    case: int
    name: str
    replication: int
    seed: int
    kpis: dict[str, float | None] | None = None
    rows: list[Any] | None = None
    error: str | None = None
    details: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def plugin_kinds(scenarios: Iterable[Scenario]) -> tuple[tuple[str, Any], ...]:
    """(kind, factory) of the agent kinds the scenarios use that are not built in."""
    kinds = sorted({a.kind for s in scenarios for a in s.agents} - set(registry.BUILTIN))
    return tuple((kind, registry.resolve(kind)) for kind in kinds)


def run_task(task: Task) -> Outcome:
    """Run one replication and compute its KPIs; an exception becomes a failed Outcome."""
    start = time.perf_counter()
    outcome = Outcome(task.case, task.name, task.replication, task.seed)
    try:
        if task.plugins:
            known = set(registry.available())
            for kind, factory in task.plugins:
                if kind not in known:
                    registry.register(kind, factory)
        setup = None if task.state is None else StartFrom(task.state)
        result = Simulation(task.scenario, replication=task.replication, setup=setup).run()
        outcome.kpis = replication_kpis(
            result, task.scenario.warmup_periods, customer_nodes(task.scenario)
        )
        if task.keep_ledger:
            outcome.rows = list(result.rows)
    except Exception as exc:  # reported per replication; the study carries on
        outcome.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        outcome.details = traceback.format_exc()
    outcome.seconds = time.perf_counter() - start
    return outcome


def _failed(task: Task, exc: BaseException) -> Outcome:
    return Outcome(
        task.case,
        task.name,
        task.replication,
        task.seed,
        error=f"{type(exc).__name__}: {' '.join(str(exc).split())}",
        details="".join(traceback.format_exception(exc)),
    )


def check_executor(executor: str) -> None:
    """Raise ExecutorError (before anything runs) if ``executor`` cannot be used here."""
    if executor not in EXECUTORS:
        raise ExecutorError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ExecutorError(f"--executor ray needs Ray, an optional extra: {RAY_INSTALL}") from None


def outcomes(
    tasks: Sequence[Task], *, executor: str = "local", workers: int = 1, address: str | None = None
) -> Generator[Outcome, None, None]:
    """Run ``tasks`` and yield their outcomes as they complete (see the module docstring).

    Close the generator (``contextlib.closing``) when you stop early: a pool's workers are
    stopped then, not when the generator is garbage-collected."""
    check_executor(executor)
    if workers < 1:
        raise ExecutorError(f"--workers must be >= 1, got {workers}")
    if not tasks:
        return (run_task(t) for t in tasks)
    if executor == "ray":
        return _ray(tasks, workers, address)
    if workers == 1:
        return (run_task(t) for t in tasks)
    return _pool(tasks, workers)


WORKER_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""Threads of the numerical libraries in a worker: each worker is one CPU's share of the study."""


def pool_context() -> BaseContext:
    """The start method of the pool's workers: ``forkserver`` (preloaded with this module, so a
    worker starts in milliseconds), else ``spawn``; never a plain ``fork`` of this process."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        return context
    return multiprocessing.get_context("spawn")


def _die_with_parent() -> None:
    """Linux: ask the kernel to send SIGTERM to this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: the parent still stops its workers itself
        return
    if os.getppid() == 1:  # the parent is already gone
        os._exit(1)


def _worker_init() -> None:
    """Run in each pool worker before its first task."""
    for name, value in WORKER_THREADS.items():
        os.environ.setdefault(name, value)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()


def _pool(tasks: Sequence[Task], workers: int) -> Generator[Outcome, None, None]:
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=pool_context(), initializer=_worker_init
    )
    finished = False
    try:
        pending: dict[Future[Outcome], Task] = {pool.submit(run_task, t): t for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                exc = future.exception()
                yield _failed(task, exc) if exc is not None else future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # interrupted or closed early: stop the workers now, not after their current task
            workers_started = [p for p in multiprocessing.active_children() if p not in before]
            pool.shutdown(wait=False, cancel_futures=True)
            _stop(workers_started)


def _stop(processes: Sequence[multiprocessing.process.BaseProcess], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL whatever is still alive after ``grace`` seconds."""
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + grace
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join(1.0)


def _project_root() -> str:
    return str(Path(__file__).resolve().parents[1])


def _ray(tasks: Sequence[Task], workers: int, address: str | None) -> Generator[Outcome, None, None]:
    import ray

    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": "warning",
        }
        try:
            if address:
                ray.init(address=address, **options)
            else:  # a local instance; its workers import the project from this checkout
                path = os.pathsep.join(filter(None, [_project_root(), os.environ.get("PYTHONPATH")]))
                ray.init(num_cpus=workers, runtime_env={"env_vars": {"PYTHONPATH": path}}, **options)
        except Exception as exc:
            where = f"at {address!r}" if address else "locally"
            raise ExecutorError(
                f"cannot start or reach Ray {where}: {' '.join(str(exc).split())}"
            ) from None
        started = True
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    pending: dict[Any, Task] = {}
    try:
        pending = {remote.remote(t): t for t in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # a worker died or the task could not be shipped
                    yield _failed(task, exc)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
