"""Hostile scenarios: hypothesis mutates the shipped ones, and every command answers cleanly.

Each example takes a shipped scenario and breaks it: a value replaced by a wrong type, a huge,
negative, infinite or not-a-number value or a unicode string; a key deleted, added or given twice;
a lane that closes a cycle. The law: ``python -m twin.validate`` (in process, through the same
wrapper as on the command line) exits 0 with one ``ok`` line or 2 with one ``error:`` line of at
most a few hundred characters, never anything else; and a scenario it accepts runs a few periods
in the twin (audited every period) without raising anything but a
:class:`~entities.errors.TwinError` (a one-line exit 2 on the command line).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from entities.errors import TwinError
from twin.cli import MESSAGE_WIDTH, run_command
from twin.engine import Simulation
from twin.scenario import read_yaml, scenario_from_dict
from twin.validate import main as validate_main

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (REPO / "scenarios").glob("*.yaml") if p.stem != "retail_1000")
DATA = {p.stem: read_yaml(p) for p in SHIPPED}
RUN_PERIODS = 4

HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [None, True, "", "abc", "ünïcødé ☃", "∞", [], {}, [1, "x"], {"x": 1}, 1e308, -1e308, 10**18]
    ),
    st.sampled_from([math.inf, -math.inf, math.nan, -1, -1e9, 0, 1e-300, 10**12, 2**63]),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indices) inside ``data``."""
    out: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """(scenario name, YAML text) of a shipped scenario with one or two mutations."""
    name = draw(st.sampled_from(sorted(DATA)))
    data = yaml.safe_load(yaml.safe_dump(DATA[name]))  # a deep copy
    duplicate = None
    for _ in range(draw(st.integers(1, 2))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        action = draw(st.sampled_from(["replace", "replace", "delete", "extra", "duplicate", "cycle"]))
        if action == "replace":
            parent[path[-1]] = draw(HOSTILE_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(HOSTILE_VALUES)
        elif action == "duplicate" and isinstance(parent, dict) and not isinstance(path[-1], int):
            duplicate = str(path[-1])
        elif action == "cycle" and isinstance(data.get("lanes"), list) and data["lanes"]:
            lane = data["lanes"][0]
            if isinstance(lane, dict):
                data["lanes"].append({**lane, "from": lane.get("to"), "to": lane.get("from")})
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if duplicate is not None:
        top = [line for line in text.splitlines() if line.startswith(f"{duplicate}:")]
        if top:  # repeat a top-level key with another value
            text += f"{duplicate}: 1\n"
    return name, text


def _edited(name: str, node: int, demand: Any) -> tuple[str, str]:
    """A shipped scenario with ``nodes[node].demand`` replaced (explicit regression cases)."""
    data = yaml.safe_load(yaml.safe_dump(DATA[name]))
    data["nodes"][node]["demand"] = demand
    return name, yaml.safe_dump(data, sort_keys=False)


# Failures the search found once, checked on every run from now on.
REGRESSIONS = [
    _edited("serial_3stage", 0, {"dist": [], "mean": 5, "sd": 1}),  # unhashable dist: TypeError
    _edited("serial_3stage", 0, {"dist": "normal", "mean": [1, 2], "sd": 1}),  # a list for a number
    _edited("seasonal_goodwill", 3, {"dist": "merton", "base": 10, "maximum": 1}),  # never drawable
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder beside which the shipped demand files are found (``data/``)."""
    out = tmp_path_factory.mktemp("fuzz")
    os.symlink(REPO / "scenarios" / "data", out / "data")
    return out


def _validate(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_command(validate_main, [str(path)])
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=max(500, settings.default.max_examples))  # >= 500 on every run
@given(case=mutated())
@example(case=REGRESSIONS[0])
@example(case=REGRESSIONS[1])
@example(case=REGRESSIONS[2])
def test_mutated_scenarios_exit_cleanly_or_run(folder: Path, case: tuple[str, str]) -> None:
    name, text = case
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = _validate(path)
    assert code in (0, 2), (code, out, err)
    if code == 2:
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1, err
        assert len(err) <= len("error: ") + MESSAGE_WIDTH + 1, err
        return
    event("valid")
    assert out.startswith(f"ok {path}: ") and out.count("\n") == 1 and err == "", (out, err)
    data = read_yaml(path)
    short = {**data, "periods": RUN_PERIODS, "warmup_periods": 0, "replications": 1}
    try:
        scenario = scenario_from_dict(short, source=str(path))
        Simulation(scenario, replication=0).run()
    except TwinError:
        pass  # a one-line exit 2 on the command line
