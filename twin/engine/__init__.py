"""The event twin: build the entities of one replication from a scenario and run the SimPy loop.

:mod:`twin.engine.build` (entities and agents from a validated scenario), :mod:`twin.engine.simulation`
(the clock, decision epochs and the period close), :mod:`twin.engine.rng` (one random stream per
entity and purpose) and :mod:`twin.engine.checks` (the agent conformance check).
"""

from twin.engine.simulation import (
    AgentError,
    ExternalAgent,
    Simulation,
    SimulationResult,
    run_scenario,
    simulate,
)

__all__ = [
    "AgentError",
    "ExternalAgent",
    "Simulation",
    "SimulationResult",
    "run_scenario",
    "simulate",
]
