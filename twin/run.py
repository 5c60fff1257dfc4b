"""``python -m twin.run SCENARIO.yaml``: run the replications, print KPIs, write a run folder.

::

    python -m twin.run scenarios/hmarl_3store.yaml --periods 120 --replications 3 \\
        --agent warehouse_1=s_S:s=600,S=1500 --out runs/demo

The scenario is read, overridden (``--seed``, ``--periods``, ``--warmup``, ``--replications``,
each ``--agent TARGET=KIND[:k=v,...]``, where TARGET is a node id or a tier) and validated before
anything runs or is written. Replication ``r`` uses random streams ``(seed, r)``; replication 0
also records the order/shipment trace. The run folder (default
``runs/<scenario>-<YYYYmmdd-HHMMSS>``) is written atomically by
:func:`reconciliation.report.write_run`; an existing folder is refused unless ``--overwrite``. Its
tables (the ledger, the trace) are Parquet, with CSV copies under ``--csv``; its figures are SVG
and ``report.html`` shows the KPIs and the figures in one self-contained page; ``--no-plots``
leaves the figures out. KPIs come from the ledger's columns in NumPy: a plain run never imports
pandas, nor matplotlib. Mistakes (a bad scenario or override, an unknown agent, a failed ledger
identity, an existing folder, an ``--out`` that cannot be written) print one line ``error: ...``
to stderr and exit with status 2, all found before the simulation starts but a failed identity.
With several replications a progress bar is drawn on stderr when it is a terminal, never into a
pipe or a file and not with ``--quiet`` (:func:`twin.cli.show_progress`).

``--state URL [--as-of DATE]`` starts every replication from the state stored at ``URL`` as of the
date (:mod:`twin.live.start`: period 0 is the as-of date); ``--write-back URL`` also stores the
KPIs, the ledger and the first period's orders in that database, in one transaction.

As a library: :func:`twin.engine.run_scenario` runs the replications and returns their results.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from entities.errors import ScenarioError, TwinError
from reconciliation.kpis import compute_kpis, kpi_table
from reconciliation.report import check_target, customer_nodes, write_run
from twin.cli import check_writable, show_progress
from twin.engine import run_scenario
from twin.live.start import check_write_back, start_from_store, write_run_back
from twin.scenario import Scenario, read_yaml, scenario_from_dict
from twin.scenario.edit import agent_option, edit_data, setting

EXIT_USAGE = 2


def resolve_scenario(
    path: str | Path, *, overrides: dict[str, Any] | None = None, agents: Sequence[str] = ()
) -> Scenario:
    """Read ``path``, apply top-level ``overrides`` and ``--agent`` texts, validate.

    The changes go through the one editor (:func:`twin.scenario.edit.edit_data`); every mistake is
    a ScenarioError naming the file (and the YAML path or the ``--agent`` text).
    """
    source = str(path)
    data = read_yaml(path)
    if isinstance(data, dict):
        changes = [setting(key, value) for key, value in (overrides or {}).items()]
        changes += [agent_option(text, source=source) for text in agents]
        data, _ = edit_data(data, changes, source=source)
    return scenario_from_dict(data, source=source)


def default_out(scenario: Scenario, root: Path = Path("runs")) -> Path:
    """``runs/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``, ... if that folder already exists)."""
    base = root / f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = base.with_name(f"{base.name}-{k}")
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m twin.run",
        description="Run a supply-chain twin scenario: print KPIs per tier, write a run folder.",
    )
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--out", help="run folder to write (default: runs/<scenario>-<timestamp>)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing run folder (only once the new one is complete)",
    )
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--periods", type=int, help="override the number of periods")
    p.add_argument("--warmup", type=int, help="override warmup_periods (excluded from KPIs)")
    p.add_argument("--replications", type=int, help="override the number of replications")
    p.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="TARGET=KIND[:k=v,...]",
        help="decide for a node or tier with another agent, e.g. W1=s_S:s=600,S=1500 (repeatable)",
    )
    p.add_argument(
        "--csv",
        action="store_true",
        help="also write the ledger and the events as CSV (ledger.csv, events.csv)",
    )
    p.add_argument("--no-plots", action="store_true", help="write no figures (PNG plots)")
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar and no table; print only the run folder"
    )
    p.add_argument(
        "--state",
        metavar="URL",
        help="start from the state stored at URL (database URL, SQLite file or Parquet folder)",
    )
    p.add_argument("--as-of", metavar="DATE", help="the stored state's date (default: the latest)")
    p.add_argument(
        "--write-back",
        metavar="URL",
        help="also store the KPIs, ledger and next orders in this database (one transaction)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {
        key: value
        for key, value in (
            ("seed", args.seed),
            ("periods", args.periods),
            ("warmup_periods", args.warmup),
            ("replications", args.replications),
        )
        if value is not None
    }
    try:
        scenario = resolve_scenario(args.scenario, overrides=overrides, agents=args.agent)
        if args.as_of and not args.state:
            raise ScenarioError(f"--as-of {args.as_of}: give the stored state with --state URL")
        start = start_from_store(scenario, args.state, args.as_of) if args.state else None
        scenario = scenario if start is None else start.scenario
        out = Path(args.out) if args.out else default_out(scenario)
        # Refuse before minutes of simulation: an existing folder, a place that cannot be written.
        check_target(out, overwrite=args.overwrite)
        check_writable(out, "--out" if args.out else "the default run folder")
        if args.write_back:
            check_write_back(args.write_back)
        progress = scenario.replications > 1 and show_progress(args.quiet)
        results = run_scenario(scenario, progress=progress, setup=None if start is None else start.setup)
        customers = customer_nodes(scenario)
        kpis = compute_kpis(results, scenario.warmup_periods, customer_nodes=customers)
        write_run(
            out,
            scenario,
            results,
            overwrite=args.overwrite,
            kpis=kpis,
            csv=args.csv,
            plots=not args.no_plots,
            customers=customers,
        )
        run_id = (
            write_run_back(args.write_back, scenario, results, kpis, start) if args.write_back else None
        )
    except (TwinError, FileExistsError) as exc:
        message = " ".join(str(exc).split("\n"))
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if not args.quiet:
        n = kpis["replications"]
        print(
            f"{scenario.name}: {n} replication(s) x {scenario.periods} periods, KPIs over "
            f"periods {scenario.warmup_periods}..{scenario.periods - 1}"
        )
        print()
        print(kpi_table(kpis))
        print()
        cost = kpis["network"]["cost_per_period"]
        se = f"{cost['se']:,.2f}" if cost["se"] is not None else "n/a (one replication)"
        print(
            f"network cost per period: {cost['mean']:,.2f} ± {se} "
            f"(mean ± standard error over {n} replication(s))"
        )
    print(f"run folder: {out}")
    if run_id is not None:
        print(f"written back to {args.write_back} as run {run_id}")
    return 0


if __name__ == "__main__":
    from twin.cli import run_command

    sys.exit(run_command(main))
