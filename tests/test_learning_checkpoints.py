"""Learning agents in scenarios: a ``ppo``/``happo`` entry runs a trained policy (``checkpoint``) or,
asked for on purpose, an untrained one (``untrained: true``); anything else is a validation error,
and a missing checkpoint file is reported without loading torch. RL environments and training
runs still take scenarios whose learning entries have no checkpoint (they name the learners).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from entities.errors import ScenarioError
from twin.scenario import read_yaml, scenario_from_dict

REPO = Path(__file__).resolve().parents[1]
HMARL = read_yaml(REPO / "scenarios" / "hmarl_3store.yaml")


def with_stores(params: dict[str, Any], kind: str = "ppo") -> dict[str, Any]:
    """hmarl_3store with its stores decided by one ``kind`` entry with ``params``."""
    data = copy.deepcopy(HMARL)
    data.update(periods=40, warmup_periods=5, replications=1)
    data["agents"] = [a for a in data["agents"] if a.get("tier") != "store"]
    data["agents"].insert(0, {"tier": "store", "kind": kind, "params": params})
    return data


@pytest.mark.parametrize("kind", ["ppo", "happo"])
def test_a_learning_agent_without_checkpoint_is_refused(kind):
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(with_stores({"observation": "hmarl"}, kind), source="h.yaml")
    assert str(info.value) == (
        f"h.yaml: agents[0].params: {kind}: no checkpoint: a {kind} agent needs a trained policy, "
        "checkpoint: PATH (a policy.pt or its folder), or untrained: true to run a random network "
        "on purpose"
    )


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"checkpoint": "x/policy.pt", "untrained": True}, "untrained: true contradicts checkpoint"),
        ({"untrained": "yes"}, "untrained must be true or false, got 'yes'"),
        ({"checkpoint": 3}, "checkpoint must be a file path, got 3"),
        (
            {"checkpoint": "nowhere"},
            "checkpoint 'nowhere/policy.pt' does not exist"
            if Path("nowhere").is_dir()
            else "checkpoint 'nowhere' does not exist",
        ),
    ],
)
def test_checkpoint_mistakes_name_the_fix(params, expected):
    with pytest.raises(ScenarioError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        scenario_from_dict(with_stores(params), source="h.yaml")


def test_a_hybrid_proposal_needs_a_checkpoint_too():
    data = copy.deepcopy(HMARL)
    hybrid = {"proposal": {"kind": "ppo"}, "setup_cost": 10, "holding_cost": 1, "horizon": 3}
    data["agents"] = [a for a in data["agents"] if a.get("tier") != "store"]
    data["agents"].insert(0, {"tier": "store", "kind": "hybrid", "params": hybrid})
    with pytest.raises(ScenarioError, match="agents\\[0\\].params: hybrid: no checkpoint"):
        scenario_from_dict(data, source="h.yaml")


def test_a_missing_checkpoint_is_reported_without_torch():
    code = (
        "import sys\n"
        "from entities.errors import ScenarioError\n"
        "from twin.scenario import read_yaml, scenario_from_dict\n"
        "d = read_yaml('scenarios/hmarl_3store.yaml')\n"
        "d['agents'] = [a if a.get('tier') != 'store' else "
        "{'tier': 'store', 'kind': 'ppo', 'params': {'checkpoint': 'nowhere/policy.pt'}} "
        "for a in d['agents']]\n"
        "try:\n    scenario_from_dict(d, source='h.yaml')\n"
        "except ScenarioError as e:\n    print(e)\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.splitlines() == [
        "h.yaml: agents[0].params: ppo: checkpoint 'nowhere/policy.pt' does not exist",
        "False",
    ]


def test_an_untrained_policy_asked_for_runs():
    pytest.importorskip("torch")
    from twin import Simulation

    params = {"untrained": True, "observation": "hmarl", "action": "hmarl_multiples"}
    scenario = scenario_from_dict(with_stores(params))
    rows = Simulation(scenario).run().rows
    assert {r.period for r in rows} == set(range(40))


def test_environments_take_learning_entries_without_checkpoint(tmp_path):
    pytest.importorskip("torch")
    from twin.rl.env import learners_untrained, parallel_env

    data = with_stores({"observation": "hmarl", "action": "hmarl_multiples"})
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(data))
    env = parallel_env(path)  # default targets: the ppo entry's nodes
    assert env.possible_agents == ["store_1", "store_2", "store_3"]
    env.reset(seed=0)
    env.step({a: 2 for a in env.agents})
    marked = learners_untrained(data)
    assert marked["agents"][0]["params"]["untrained"] is True
    assert data["agents"][0]["params"] == {"observation": "hmarl", "action": "hmarl_multiples"}
