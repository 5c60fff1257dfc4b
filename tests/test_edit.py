"""The one scenario editor and its grammar (twin.scenario.edit, twin.scenario.overrides): every README
example, equivalent spellings, round trips, errors with suggestions, and every caller going through
it (twin.run, twin.compare, twin.tune, the RL environments)."""

from __future__ import annotations

import doctest
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import twin.scenario.edit
import twin.scenario.overrides
from agents import registry
from agents.named import parse_named
from entities.errors import ScenarioError
from twin import Simulation
from twin.rl.env import parallel_env
from twin.run import resolve_scenario
from twin.scenario import load_scenario, read_yaml, scenario_from_dict
from twin.scenario.edit import (
    Assignment,
    agent_option,
    assign,
    edit,
    parse_override,
    setting,
    source_data,
)
from twin.studies.study import StudySpec, build_study
from twin.tune import main as tune_main

ROOT = Path(__file__).resolve().parents[1]
HMARL = ROOT / "scenarios" / "hmarl_3store.yaml"
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hmarl():
    return load_scenario(HMARL)


def one_line_error(fn, *args: Any) -> str:
    with pytest.raises(ScenarioError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --------------------------------------------------------------------------------------------------
# The grammar.


@pytest.mark.parametrize("module", [twin.scenario.overrides, twin.scenario.edit])
def test_docstring_examples(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def _readme_overrides() -> list[str]:
    section = README[README.index("### Overrides") :]
    section = section[: section.index("\n### ", 5)]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    texts = [t for line in table for t in re.findall(r"`([^`]+=[^`]+)`", line.split(" | ")[0])]
    return [t for t in texts if not t.startswith("scenario=")]


@pytest.mark.parametrize("text", _readme_overrides())
def test_every_override_of_the_readme_table_applies(text, hmarl):
    changed = edit(hmarl, text)
    assert changed != hmarl
    assert edit(hmarl, parse_override(text)) == changed


def test_the_readme_python_example_runs(monkeypatch):
    section = README[README.index("### Overrides") :]
    code = section[
        section.index("```python") + len("```python") : section.index(
            "```\n", section.index("```python")
        )
    ]
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {})


def _readme_agent_options() -> list[tuple[str, str]]:
    lot_sizing = (ROOT / "scenarios" / "lot_sizing.yaml").read_text(encoding="utf-8")
    commands = re.findall(r"python -m twin\.run (\S+\.yaml) --agent (\S+)", README + lot_sizing)
    return sorted(set(commands))


@pytest.mark.parametrize(("scenario", "text"), _readme_agent_options())
def test_every_agent_option_of_the_readme_and_scenarios_applies(scenario, text):
    assert len(_readme_agent_options()) >= 8
    target, _, spec = text.partition("=")
    kind, params = parse_named(spec)
    option = agent_option(text)
    assert option == assign(target, kind, params)
    if "checkpoint" in params:  # a trained policy: its file comes from twin.train
        return
    scenario = resolve_scenario(ROOT / scenario, agents=[text])
    new = scenario.agents[-1]
    assert (new.kind, new.params) == (kind, params)
    assert set(new.nodes or []) == set(_nodes_of(scenario, target))


def _nodes_of(scenario, target: str) -> list[str]:
    return [n.id for n in scenario.nodes if target in (n.id, n.tier_name)]


@pytest.mark.parametrize(
    "spellings",
    [
        [
            "lanes.supplier_1->warehouse_1.lead_time=poisson:mean=3",
            "lanes[supplier_1 -> warehouse_1].lead_time={dist: poisson, mean: 3}",
            setting("lanes[supplier_1->warehouse_1].lead_time", {"dist": "poisson", "mean": 3}),
        ],
        [
            "agents.warehouse_1=s_S:s=522,S=534",
            "agents[warehouse_1]=s_S:s=522,S=534",
            "agents.warehouse_1={kind: s_S, params: {s: 522, S: 534}}",
            agent_option("warehouse_1=s_S:s=522,S=534"),
            assign("warehouse_1", "s_S", {"s": 522, "S": 534}),
            setting("agents.warehouse_1", "s_S:s=522,S=534"),
        ],
        [
            "nodes.supplier_1.capacity=300",
            "nodes[supplier_1].capacity=300",
            setting("nodes.supplier_1.capacity", 300),
        ],
        [
            "nodes.store_2.demand.mean=65",
            "nodes.store_2.demand=poisson:mean=65",
            "nodes[store_2].demand={dist: poisson, mean: 65}",
        ],
    ],
)
def test_equivalent_spellings_make_the_same_scenario(spellings, hmarl):
    scenarios = [edit(hmarl, s) for s in spellings]
    assert all(s == scenarios[0] for s in scenarios) and scenarios[0] != hmarl


def test_several_targets_in_one_entry_take_their_per_node_params_along(hmarl):
    out = edit(hmarl, "agents[store_1,store_2]=base_stock:base_stock_level={store_1: 100, store_2: 150}")
    assert [(a.nodes, a.tier, a.kind, a.params) for a in out.agents] == [
        (["store_3"], None, "base_stock", {"base_stock_level": {"store_3": 250}}),
        *[(a.nodes, None, a.kind, a.params) for a in hmarl.agents[1:]],
        (
            ["store_1", "store_2"],
            None,
            "base_stock",
            {"base_stock_level": {"store_1": 100, "store_2": 150}},
        ),
    ]
    # A whole tier: the entry that held it goes.
    out = edit(hmarl, assign("store", "constant", {"quantity": 5}))
    assert out.agents[:-1] == hmarl.agents[1:]
    assert out.agents[-1].nodes == ["store_1", "store_2", "store_3"]


def test_a_parameter_of_part_of_an_entry_splits_it_off(hmarl):
    out = edit(hmarl, "agents.store_1.base_stock_level=140")
    assert [(a.nodes, a.params) for a in out.agents if a.kind == "base_stock"] == [
        (["store_2", "store_3"], {"base_stock_level": {"store_2": 190, "store_3": 250}}),
        (["store_1"], {"base_stock_level": 140}),
    ]


NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
PARAMS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=6,
)


@given(
    st.lists(NAMES, min_size=1, max_size=3, unique=True),
    NAMES,
    st.dictionaries(NAMES, PARAMS, max_size=3),
)
def test_an_assignment_written_as_text_parses_back_to_itself(targets, kind, params):
    override = assign(targets, kind, params)
    assert parse_override(override.text) == override


# --------------------------------------------------------------------------------------------------
# Mistakes: one line naming the file, the override and the value, with the closest names.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "nodes.store_9.capacity=400",
            "override 'nodes.store_9.capacity=400': 'store_9' is not a node; did you mean 'store_3'?",
        ),
        ("lanes.supplier_1->warehouse1.lead_time=2", "did you mean 'supplier_1->warehouse_1'?"),
        ("nodes.store_1.holding_cst=1", "did you mean 'holding_cost'?"),
        (
            "nodes.store_1.demand=poison:mean=3",
            "nodes[2].demand: unknown dist 'poison'; did you mean 'poisson'?",
        ),
        ("nodes.store_1.demand=poisson:mean=3,mean=4", "'mean' is given twice"),
        ("nodes.store_1.holding_cost={a: 1", "is not valid YAML"),
        ("lanes[supplier_1->warehouse_1].lead_time.mean=3", "uniform_int has no parameter 'mean'"),
        ("agents.warehouse_1=s_SS:s=1,S=2", "unknown agent kind 's_SS'; did you mean 's_S'?"),
        ("agents.warehouse_1=s_S:s", "'s' is not key=value"),
        ("agents.warehouse_1=", "expected agents.warehouse_1=KIND[:key=value,...]"),
        ("agents[store_1,stor_2]=constant", "'stor_2' is not a node or tier; did you mean 'store_2'?"),
        (
            "agents.store.base_stock_level.store_9=1",
            "'store_9' is not decided through 'store'; did you mean 'store_3'?",
        ),
        ("agents.warehouse_1=s_S:s=600,S=100", "agents[2].params: s_S: S must be >= s"),
        ("periods=0", "periods: Input should be greater than 0"),
        ("perods=30", "did you mean 'periods'?"),
    ],
)
def test_mistakes_are_one_line_with_the_file_and_the_value(text, expected, hmarl):
    message = one_line_error(edit, hmarl, text)
    assert message.startswith(f"{HMARL}: ") and expected in message


# --------------------------------------------------------------------------------------------------
# What the editor edits: the user's data, with the scenario's source.


def test_the_edited_data_stays_as_small_as_the_file(hmarl):
    out = edit(hmarl, "periods=90", "agents.warehouse_1=s_S:s=522,S=534")
    written = read_yaml(HMARL)
    assert set(out._data) == set(written)
    assert [set(n) for n in out._data["nodes"]] == [set(n) for n in written["nodes"]]
    assert hmarl.periods == 365 and source_data(hmarl) == written  # the input is not modified


def test_later_changes_to_the_callers_data_do_not_leak_into_edits():
    data = read_yaml(HMARL)
    scenario = scenario_from_dict(data, source=str(HMARL))
    data["nodes"][0]["capacity"] = 1.0
    assert edit(scenario, "periods=90").nodes[0].capacity == scenario.nodes[0].capacity == 250


def test_a_copy_with_other_fields_is_edited_from_its_own_fields(hmarl):
    short = hmarl.model_copy(update={"periods": 7})
    assert edit(short, "warmup_periods=1").periods == 7
    assert edit(hmarl, "warmup_periods=1").periods == 365


def test_relative_demand_files_keep_resolving_from_any_directory(tmp_path, monkeypatch):
    scenario = load_scenario(ROOT / "scenarios" / "demand_series.yaml")
    monkeypatch.chdir(tmp_path)
    shorter = edit(scenario, "periods=20")
    assert shorter.periods == 20 and shorter.nodes == scenario.nodes


# --------------------------------------------------------------------------------------------------
# Every caller goes through the one editor: the same change gives the same scenario.


def test_run_compare_and_tune_make_the_same_scenario_for_the_same_change(tmp_path, capsys):
    data = read_yaml(HMARL)
    data.update(periods=60, warmup_periods=10, replications=2)
    src = tmp_path / "h.yaml"
    src.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "tuned.yaml"
    args = [str(src), "--target", "warehouse_1", "--kind", "s_S", "--budget", "4", "--out", str(out)]
    assert tune_main([*args, "--quiet"]) == 0
    printed = capsys.readouterr().out
    written = read_yaml(out)
    assert set(written) == set(data)  # as small as the user's file
    levels = written["agents"][-1]["params"]
    s, big_s = levels["s"]["warehouse_1"], levels["S"]["warehouse_1"]
    text = f"warehouse_1=s_S:s={{warehouse_1: {s}}},S={{warehouse_1: {big_s}}}"

    by_run = resolve_scenario(src, agents=[text])
    variants = (("agent", (f"agents.{text}",)), ("file", (f"scenario={out}",)))
    study = build_study(StudySpec(str(src), variants=variants))
    by_tuner = load_scenario(out)
    assert by_run == study.cases[1].scenario == study.cases[2].scenario == by_tuner
    assert by_run != scenario_from_dict(data)

    # What the tuner reported is the cost of the scenario it wrote (same replications).
    reported = float(re.search(r"cost per period ([\d.]+)", printed).group(1))
    costs = []
    for r in range(by_tuner.replications):
        rows = Simulation(by_tuner, replication=r).run().rows
        costs.append(sum(x.total_cost for x in rows if x.period >= 10) / 50)
    assert math.isclose(reported, sum(costs) / len(costs), abs_tol=1e-4)


def test_the_rl_environment_splits_a_target_off_with_the_editor(hmarl):
    env = parallel_env(hmarl, targets="store_1")
    assert env.scenario == edit(hmarl, assign("store_1", "constant", {"quantity": 0.0}))


# --------------------------------------------------------------------------------------------------
# Options of agents and commands read with the same parser.


@pytest.mark.parametrize(
    "proposal",
    [
        "proposal=s_S:s=40;S=120",
        "proposal='s_S:s=40,S=120'",
        "proposal={kind: s_S, params: {s: 40, S: 120}}",
    ],
)
def test_every_form_of_a_hybrid_proposal_makes_the_same_proposal_agent(proposal):
    text = (
        f"store=hybrid:{proposal},setup_cost=200,holding_cost=1,horizon=6,forecast=mean,demand_mean=20"
    )
    scenario = resolve_scenario(ROOT / "scenarios" / "lot_sizing.yaml", agents=[text])
    entry = scenario.agents[-1]
    agent = registry.make(entry.kind, **entry.params)
    assert (type(agent.proposal).__name__, agent.proposal.s, agent.proposal.S) == ("SSPolicy", 40, 120)
    assert entry.params["setup_cost"] == 200


def test_an_assignment_is_kind_and_params():
    assert agent_option("W1=s_S:s=600,S=1500").value == Assignment("s_S", {"s": 600, "S": 1500})
