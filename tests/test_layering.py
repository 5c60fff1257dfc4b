"""DESIGN.md's layers: the import-linter contracts in ``pyproject.toml`` hold, and torch stays lazy.

The contracts (``lint-imports``, also run by CI on its own) say who may import whom: commands ->
studies / rl -> engine -> scenario inside ``twin``; ``twin`` over ``agents`` and ``reconciliation``
over ``entities`` and ``heuristics``; no circles inside a package; torch imported directly only
under ``agents.ppo``, ``agents.happo`` and ``twin.rl``. What a static check cannot see is checked
here by running the code: ``import twin`` and a whole run of rule agents never load torch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_the_import_contracts_hold() -> None:
    out = subprocess.run(
        ["lint-imports", "--no-cache"], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


_NO_TORCH = """
import sys
import twin, twin.engine, twin.scenario, twin.studies, twin.run, twin.compare, twin.tune
import entities, agents, agents.rules, agents.registry, reconciliation, heuristics
from twin import Simulation, load_scenario
for name in ("serial_3stage", "hmarl_3store"):
    scenario = load_scenario(f"scenarios/{name}.yaml", {"periods": 5, "warmup_periods": 0})
    Simulation(scenario).run()
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not loaded, f"torch was imported: {loaded[:5]}"
print("ok")
"""


def test_import_twin_and_a_run_do_not_import_torch() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH], cwd=ROOT, env=_env(), capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
