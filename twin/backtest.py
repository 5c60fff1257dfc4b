"""``python -m twin.backtest SCENARIO.yaml --history URL``: replay the recorded past in the twin.

::

    python -m twin.backtest SCENARIO.yaml --history URL [--as-of DATE] [--periods N]
        [--policy] [--agent TARGET=KIND[:k=v,...]]... [--out DIR] [--overwrite] [--quiet]

Starts the twin from the state stored as of ``--as-of`` (default: the earliest snapshot) and
replays the recorded demand, lead times and orders (:mod:`twin.live.backtest`). Where the records
are consistent the twin reproduces the recorded on hand, sales and backorders exactly; every
period, node and column where it does not is reported (a data-quality report). With ``--policy``
(the scenario's own agents) or ``--agent`` (agents swapped as in ``twin.run``) it also replays the
same demand and lead times under that policy and compares what it would have done with what
happened.

Writes ``DIR`` (default ``runs/backtest-<scenario>-<timestamp>``, atomically; an existing folder
is refused unless ``--overwrite``): ``discrepancies.csv``, ``replay.parquet`` (the replay's
ledger), ``policy.parquet`` and ``comparison.csv`` (with a policy) and ``summary.json``. Exit
status 0 (whether or not there are discrepancies); 2 bad input (one line ``error: ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from entities.errors import TwinError
from reconciliation.kpis import ledger_frame
from reconciliation.report import check_target
from twin.cli import check_writable, run_command
from twin.scenario import Scenario, read_yaml, scenario_from_dict
from twin.scenario.edit import edit_data
from twin.scenario.overrides import agent_option

EXIT_USAGE = 2
INSTALL = 'pip install -e ".[live]"'
SHOWN = 10


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see python -m twin.backtest --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m twin.backtest",
        description="Replay the recorded past in the twin: check the records, and try a policy on them.",
    )
    p.add_argument("scenario", help="scenario YAML file (the network)")
    p.add_argument(
        "--history", required=True, metavar="URL", help="database URL, SQLite file or Parquet folder"
    )
    p.add_argument(
        "--as-of", metavar="DATE", help="start from the state as of this date (default: the earliest)"
    )
    p.add_argument("--periods", type=int, help="periods to replay (default: to the end of the history)")
    p.add_argument("--policy", action="store_true", help="also replay under the scenario's own agents")
    p.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="TARGET=KIND[:k=v,...]",
        help="the policy to try: swap a node's or tier's agent (repeatable; implies --policy)",
    )
    p.add_argument("--out", help="output folder (default runs/backtest-<scenario>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="print only the summary line and the folder")
    return p


def _with_agents(path: str, data: Any, agents: Sequence[str]) -> Scenario:
    """The scenario with ``--agent`` swaps, through the one editor (as ``twin.run --agent``)."""
    if isinstance(data, dict) and agents:
        data, _ = edit_data(data, [agent_option(text, source=path) for text in agents], source=path)
    return scenario_from_dict(data, source=path)


def _write(folder: Path, result: Any) -> None:
    from twin.live.backtest import compare, discrepancy_rows

    pd.DataFrame(
        discrepancy_rows(result.discrepancies),
        columns=["period", "date", "node", "sku", "column", "recorded", "twin", "difference"],
    ).to_csv(folder / "discrepancies.csv", index=False)
    ledger_frame([result.replay]).to_parquet(folder / "replay.parquet", index=False)
    comparison = compare(result)
    if result.policy is not None:
        ledger_frame([result.policy]).to_parquet(folder / "policy.parquet", index=False)
        pd.DataFrame(comparison).to_csv(folder / "comparison.csv", index=False)
    first = result.first_discrepancies()
    summary = {
        "scenario": result.scenario.source,
        "history": result.history.source,
        "as_of": result.as_of.isoformat(),
        "periods": result.scenario.periods,
        "checked": result.checked,
        "discrepancies": len(result.discrepancies),
        "first_discrepancy": {
            f"{node}/{sku}" if sku != "default" else node: d.as_row() for (node, sku), d in first.items()
        },
        "state": result.state.totals(),
        "comparison": comparison if result.policy is not None else None,
        "notes": result.notes,
    }
    text = json.dumps(summary, indent=1, allow_nan=False, default=str) + "\n"
    (folder / "summary.json").write_text(text, encoding="utf-8")


def _write_folder(out: Path, overwrite: bool, result: Any) -> None:
    target = check_target(out, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        _write(tmp, result)
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:  # the live extra (SQLAlchemy, a PostgreSQL driver)
        from twin.live.backtest import backtest, compare
        from twin.live.state import parse_date
        from twin.live.store import open_store
    except ImportError as exc:
        print(f"error: python -m twin.backtest needs the live extra ({exc}): {INSTALL}", file=sys.stderr)
        return EXIT_USAGE
    try:
        data = read_yaml(args.scenario)
        scenario = scenario_from_dict(data, source=args.scenario)
        policy = _with_agents(args.scenario, data, args.agent) if (args.policy or args.agent) else None
        as_of = parse_date(args.as_of) if args.as_of else None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path("runs") / f"backtest-{scenario.name}-{stamp}"
        check_writable(out, "--out")
        check_target(out, overwrite=args.overwrite)
        with open_store(args.history) as store:
            result = backtest(scenario, store, as_of=as_of, periods=args.periods, policy=policy)
        _write_folder(out, args.overwrite, result)
    except (TwinError, FileExistsError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    h = result.history
    print(
        f"replayed {result.scenario.periods} periods ({h.date(h.first)} .. {h.date(h.last)}) from the "
        f"state as of {result.as_of}: {result.checked} recorded values checked, "
        f"{len(result.discrepancies)} discrepancies"
    )
    if not args.quiet:
        first = sorted(result.first_discrepancies().values(), key=lambda d: (d.period, d.node))
        if first:
            print(f"\nfirst discrepancy per node ({len(first)} node(s); all in discrepancies.csv):")
            print(
                f"{'date':<11} {'period':>6}  {'node':<14} {'column':<11} {'recorded':>12} {'twin':>12}"
            )
            for d in first[:SHOWN]:
                print(
                    f"{d.date.isoformat():<11} {d.period:>6}  {d.node:<14} {d.column:<11} "
                    f"{_cell(d.recorded, ',.2f'):>12} {_cell(d.twin, ',.2f'):>12}"
                )
            if len(first) > SHOWN:
                print(f"... and {len(first) - SHOWN} more node(s)")
        for note in result.notes:
            print(f"note: {note}")
        if result.policy is not None:
            print(f"\n{'KPI':<34} {'recorded':>12} {'policy':>12} {'difference':>12}")
            for row in compare(result):
                fmt = ".4f" if row["kpi"].endswith("fill_rate") else ",.2f"
                recorded, tried = _cell(row["recorded"], fmt), _cell(row["policy"], fmt)
                difference = _cell(row["difference"], "+" + fmt)
                print(f"{row['label']:<34} {recorded:>12} {tried:>12} {difference:>12}")
    print(f"backtest folder: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
