"""What a scenario is: the schema, its validation, loading, SKU expansion, demand series, the graph
and the one editor (:mod:`twin.scenario.edit`) that every command uses to change a scenario.

The lowest layer of ``twin``: it imports ``entities`` (distributions, messages, errors) and the agent
registry (to check each agent's parameters), never the engine or the commands.
"""

from twin.scenario.load import load_scenario, read_yaml, scenario_from_dict
from twin.scenario.schema import (
    AgentAssignment,
    LaneConfig,
    NodeConfig,
    Scenario,
)
from twin.scenario.skus import stock_view

__all__ = [
    "AgentAssignment",
    "LaneConfig",
    "NodeConfig",
    "Scenario",
    "load_scenario",
    "read_yaml",
    "scenario_from_dict",
    "stock_view",
]
