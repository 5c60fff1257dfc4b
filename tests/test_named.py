"""The one parser of ``NAME:key=value,...`` (agents.named): YAML values, nesting, round trips,
mistakes named; the trainer's ``--set`` and the hybrid's proposal read with it."""

from __future__ import annotations

import doctest
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import agents.named
from agents import registry
from agents.named import format_named, named, parse_named, parse_params, read_value
from twin.rl.options import read_hyper_parameters as _overrides


def test_docstring_examples():
    result = doctest.testmod(agents.named)
    assert result.attempted > 0 and result.failed == 0


PARAMS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=8,
)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@given(NAMES, st.dictionaries(NAMES, PARAMS, max_size=4))
@example("A", {"A": {"a": None, "_": '"]\xa0'}})  # an escaped quote inside double quotes
@example("A", {"B": ["("], "A": None})  # a bracket in a string inside a list
@example("A", {"A": "\x85", "B": "\x1f,x"})  # YAML line breaks and control characters
def test_a_spec_written_as_text_reads_back_the_same(name, params):
    assert parse_named(format_named(name, params)) == (name, params)


def test_values_are_yaml_and_exponents_are_numbers():
    assert parse_params("a=1e-4,b=2.5E3,c='1e-4',d=lost,e=null,f=[64, 64],g={x: 1, y: 2}") == {
        "a": 1e-4,
        "b": 2500.0,
        "c": "1e-4",
        "d": "lost",
        "e": None,
        "f": [64, 64],
        "g": {"x": 1, "y": 2},
    }
    assert read_value("@home") == "@home"  # not YAML: kept as written
    assert (
        named({"name": "integer", "params": {"n": 5}}) == named("integer:n=5") == ("integer", {"n": 5})
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s_S:s", "agent 's_S:s': 's' is not key=value"),
        ("s_S:s=1,s=2", "agent 's_S:s=1,s=2': 's' is given twice"),
        ("s_S:s={a: 1", "is not valid YAML"),
        ("=s_S", "expected NAME[:key=value,...]"),
    ],
)
def test_malformed_specs_are_named(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        named(text, what="agent")


def test_trainer_hyper_parameters_in_exponent_form_are_numbers():
    assert _overrides(["learning_rate=1e-4", "hidden_sizes=[64, 64]"]) == {
        "learning_rate": 1e-4,
        "hidden_sizes": (64, 64),
    }


@pytest.mark.parametrize(
    "proposal", ["s_S:s=40;S=120", "s_S:s=40,S=120", {"kind": "s_S", "params": {"s": 40, "S": 120}}]
)
def test_a_hybrid_proposal_is_read_by_the_same_parser(proposal):
    agent = registry.make("hybrid", proposal=proposal, setup_cost=200, holding_cost=1)
    assert (type(agent.proposal).__name__, agent.proposal.s, agent.proposal.S) == ("SSPolicy", 40, 120)
