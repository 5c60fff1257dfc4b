"""``python -m twin.validate SCENARIO.yaml...``: check scenarios without simulating them.

::

    $ python -m twin.validate scenarios/hmarl_3store.yaml scenarios/serial_3stage.yaml
    ok scenarios/hmarl_3store.yaml: 5 nodes (1 supplier, 1 warehouse, 3 store), 4 lanes,
       3 agents (base_stock, hmarl_warehouse, hmarl_supplier), 365 periods x 5 replications, 1 SKU
    ok scenarios/serial_3stage.yaml: 4 nodes (1 supplier, 2 warehouse, 1 store), 3 lanes, ...

(one line per file; wrapped here).

Each file gets the checks of every command (the schema, the checks across fields, each agent's
parameters, demand files and the size limits of :mod:`twin.scenario.limits`) and one line: ``ok``
with a summary of its network, or the usual ``error: FILE: YAML.PATH: ...``. Exit status 0 when
every file is valid, 2 otherwise (every file is checked). Nothing is simulated or written.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

from entities.errors import TwinError
from twin.cli import error_line, run_command
from twin.scenario import Scenario, load_scenario

EXIT_OK, EXIT_USAGE = 0, 2


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def summary(scenario: Scenario) -> str:
    """One line about the network: nodes by kind, lanes, agents, horizon, SKUs."""
    kinds: Counter[str] = Counter(n.kind for n in scenario.nodes)
    order = ("supplier", "factory", "warehouse", "store")
    nodes = ", ".join(f"{kinds[k]:,} {k}" for k in order if kinds[k])
    agents = ", ".join(dict.fromkeys(a.kind for a in scenario.agents)) or "none"
    return (
        f"{_count(len(scenario.nodes), 'node')} ({nodes}), {_count(len(scenario.lanes), 'lane')}, "
        f"{_count(len(scenario.agents), 'agent')} ({agents}), "
        f"{_count(scenario.periods, 'period')} x {_count(scenario.replications, 'replication')}, "
        f"{_count(len(scenario.skus) or 1, 'SKU')}"
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m twin.validate",
        description="Check scenario files without simulating them: 'ok' and a summary, or one "
        "line 'error: ...' per file. Exit status 0: all valid; 2: some are not.",
    )
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO.yaml")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code = EXIT_OK
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except TwinError as exc:
            print(error_line(exc), file=sys.stderr)
            code = EXIT_USAGE
            continue
        print(f"ok {path}: {summary(scenario)}")
    return code


if __name__ == "__main__":
    sys.exit(run_command(main))
