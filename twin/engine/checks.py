"""Conformance check for agents (in the spirit of Gymnasium's ``check_env``).

``check_agent(agent)`` drives an agent through a small, varied set of observations, the way the twin
does, and raises ``AssertionError`` with the reason on the first breach of the protocol in
:mod:`agents.base`: ``reset`` takes a keyword-only ``seed``; ``act`` returns a mapping with one
decision per observed node, each an ``OrderDecision`` on the node's own lanes (or a number), every
quantity finite and ``>= 0``; the same seed gives the same decisions; ``act`` does not depend on
the order of the observations in the mapping.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.base import Observation, OrderDecision
from entities.messages import LaneId, NodeId


def sample_observations(
    nodes: Sequence[str],
    *,
    seed: int = 0,
    periods: int = 12,
) -> list[dict[NodeId, Observation]]:
    """``periods`` rounds of plausible observations of ``nodes`` (stock-outs, surpluses, zeros)."""
    rng = np.random.default_rng(seed)
    rounds = []
    for t in range(periods):
        batch: dict[NodeId, Observation] = {}
        for node in nodes:
            demand = float(rng.poisson(20)) if t % 5 else 0.0
            on_hand = float(rng.choice([0.0, rng.uniform(0, 200)]))
            backorders = 0.0 if on_hand > 0 else float(rng.uniform(0, 30))
            in_transit = float(rng.uniform(0, 60))
            on_order = in_transit + float(rng.choice([0.0, rng.uniform(0, 20)]))
            ip = on_hand + on_order - backorders
            pipeline = tuple(float(x) for x in rng.uniform(0, 20, size=int(rng.integers(0, 4))))
            batch[NodeId(node)] = Observation(
                node=NodeId(node),
                tier="tier",
                period=t,
                on_hand=on_hand,
                backorders=backorders,
                on_order=on_order,
                in_transit=in_transit,
                inventory_position=ip,
                echelon_inventory_position=ip + float(rng.uniform(0, 100)),
                last_demand=demand,
                forecast=float(rng.choice([0.0, rng.uniform(5, 40)])),
                pipeline=pipeline,
                lanes=(LaneId(f"up->{node}"),),
            )
        rounds.append(batch)
    return rounds


def _quantities(agent: Any, node: str, decision: Any, obs: Observation) -> dict[str, float]:
    name = type(agent).__name__
    if isinstance(decision, OrderDecision):
        items = dict(decision.quantities)
    elif isinstance(decision, int | float | np.integer | np.floating) and not isinstance(decision, bool):
        items = {obs.lanes[0]: float(decision)}
    else:
        raise AssertionError(
            f"{name}.act returned {decision!r} for node {node!r}; expected an OrderDecision or a number"
        )
    for lane, q in items.items():
        assert lane in obs.lanes, f"{name} ordered on lane {lane!r}, not one of {obs.lanes}"
        assert isinstance(q, int | float | np.integer | np.floating) and not isinstance(q, bool), (
            f"{name} ordered {q!r} (not a number) on {lane!r}"
        )
        assert math.isfinite(q) and q >= 0, f"{name} ordered {q!r} on {lane!r}: must be >= 0"
    return {k: float(v) for k, v in items.items()}


def _run(agent: Any, rounds: list[dict[NodeId, Observation]], seed: int) -> list[dict]:
    agent.reset(seed=seed)
    out = []
    for batch in rounds:
        decisions = agent.act(batch)
        name = type(agent).__name__
        assert isinstance(decisions, Mapping), (
            f"{name}.act returned {type(decisions).__name__}, expected a mapping"
        )
        assert set(decisions) == set(batch), (
            f"{name}.act answered for {sorted(decisions)}, was asked for {sorted(batch)}"
        )
        out.append({n: _quantities(agent, n, d, batch[n]) for n, d in decisions.items()})
    return out


def check_agent(agent: Any, nodes: Sequence[str] = ("n1", "n2", "n3"), *, seed: int = 0) -> None:
    """Raise ``AssertionError`` if ``agent`` breaks the agent protocol (see module docstring)."""
    name = type(agent).__name__
    for method in ("reset", "act"):
        assert callable(getattr(agent, method, None)), f"{name} has no method {method}()"
    params = inspect.signature(agent.reset).parameters
    assert "seed" in params and params["seed"].kind is inspect.Parameter.KEYWORD_ONLY, (
        f"{name}.reset must take a keyword-only 'seed' argument"
    )
    rounds = sample_observations(nodes, seed=seed)
    first = _run(agent, rounds, seed)
    again = _run(agent, rounds, seed)
    assert first == again, f"{name} is not reproducible: same seed, different decisions"
    reversed_rounds = [dict(reversed(list(b.items()))) for b in rounds]
    assert _run(agent, reversed_rounds, seed) == first, (
        f"{name}'s decisions depend on the order of the observations"
    )
