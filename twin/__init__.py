"""The supply-chain twin: scenarios, the simulation engine, studies, RL and the commands.

Layers, top to bottom (DESIGN.md, Layout; the import-linter contracts in ``pyproject.toml``):
the commands (:mod:`twin.run`, :mod:`twin.compare`, :mod:`twin.tune`, :mod:`twin.train`,
:mod:`twin.calibrate`, :mod:`twin.backtest`) -> :mod:`twin.studies`, :mod:`twin.rl` and
:mod:`twin.live` -> :mod:`twin.engine` -> :mod:`twin.scenario`.

``import twin`` is light: it never imports torch (RL agents load it lazily when made).
"""

from entities.errors import ReconciliationError, ScenarioError, TwinError, UnknownAgentError
from twin.engine import Simulation, SimulationResult, simulate
from twin.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = [
    "ReconciliationError",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "SimulationResult",
    "TwinError",
    "UnknownAgentError",
    "load_scenario",
    "scenario_from_dict",
    "simulate",
]
