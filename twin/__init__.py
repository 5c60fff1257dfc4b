"""The supply-chain twin: scenarios, the simulation kernel, the agent registry and the CLIs.

``import twin`` is light: it never imports torch (RL agents load it lazily when made).
"""

from twin.config import Scenario, load_scenario, scenario_from_dict
from twin.errors import ReconciliationError, ScenarioError, TwinError, UnknownAgentError
from twin.simulation import Simulation, SimulationResult, simulate

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
