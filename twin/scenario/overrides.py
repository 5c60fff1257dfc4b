"""The override grammar: what an edit of a scenario says, parsed (:mod:`twin.scenario.edit` applies it).

An override is ``PATH=VALUE`` (:func:`parse_override`). Values are YAML (``3``, ``0.5``, ``lost``,
``null``, ``{dist: poisson, mean: 3}``); agent kinds, distributions and their parameters are
written ``NAME:key=value,...`` (:mod:`agents.named`, the one parser of that form). Paths::

    periods=200                             a top-level key (also costs.in_transit_holding=sender,
                                            reward.weights.fill_rate=5, ...)
    nodes.S1.capacity=400                   a node field (nodes[S1].capacity for ids with dots)
    nodes.R2.demand.mean=60                 a field of a node's distribution (its YAML name)
    nodes.R2.demand={dist: poisson, mean: 60}    a whole distribution, or as text:
    nodes.R2.demand=poisson:mean=60
    lanes[W1->S2].lead_time.mean=3          a lane, addressed FROM->TO (also lanes.W1->S2.unit_cost)
    agents.W1=s_S:s=600,S=1500              decide for a node, a tier or a stock point (W/P) with
    agents[S1,S2]=base_stock:base_stock_level={S1: 40, S2: 60}    another agent; several in one entry
    agents.W1.s=550                         one parameter of the agent deciding for W1
    agents.store.base_stock_level.store_1=140   one node's entry of a per-node parameter
    scenario=OTHER.yaml                     swap the whole scenario file (applied first)

``--agent TARGET=KIND[:k=v,...]`` of ``twin.run`` is ``agents[TARGET]=KIND[:k=v,...]``
(:func:`agent_option`). From Python: :func:`assign` (an agent entry with Python params) and
:func:`setting` (a path and a Python value). Equivalent spellings parse to equal overrides
(``nodes.S1.x`` and ``nodes[S1].x``; ``lanes.A->B`` and ``lanes[A -> B]``), and the text of an
override made from Python parses back to it.

Several overrides in one text (``--variant NAME=...``) are separated by ``,`` or ``;``
(:func:`split_overrides`): a piece that does not begin with a scenario path continues the previous
override, so agent parameters keep their commas (``agents.W1=s_S:s=600,S=1500,periods=90`` is two
overrides).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.named import format_named, format_value, named, read_value, split_top
from entities.errors import ScenarioError
from twin.scenario.schema import Scenario

SWAP = "scenario"
AGENTS = "agents"
COLLECTIONS = ("nodes", "lanes", AGENTS)
HEADS: tuple[str, ...] = (*Scenario.model_fields, SWAP)
"""Names an override path may begin with: the scenario's top-level keys and ``scenario``."""
AGENT_SPEC = "KIND[:key=value,...]"
_HEAD = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\[|\.|=)")


@dataclass(frozen=True)
class Component:
    """One step of a path: ``name`` and, for ``name[key]``, the ``key``."""

    name: str
    key: str | None = None


@dataclass(frozen=True)
class Assignment:
    """The value of ``agents.TARGET=KIND[:key=value,...]``: an agent kind and its params."""

    kind: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Override:
    """A parsed ``PATH=VALUE``. A node, lane or agent target is the key of the first component
    (``nodes.S1.capacity`` and ``nodes[S1].capacity`` parse the same); an agent assignment's value
    is an :class:`Assignment`. ``text`` and ``label`` (how messages name it) do not count in
    equality."""

    path: tuple[Component, ...]
    value: Any
    text: str = field(default="", compare=False)
    label: str = field(default="", compare=False)

    @property
    def head(self) -> str:
        return self.path[0].name

    def where(self, source: str | None) -> str:
        label = self.label or f"override {self.text!r}"
        return f"{source}: {label}" if source else label


def starts_path(text: str) -> bool:
    """True when ``text`` begins with an override path (``nodes.``, ``lanes[``, ``periods=``...)."""
    match = _HEAD.match(text)
    return match is not None and match.group(1) in HEADS


def split_overrides(text: str) -> list[str]:
    """Split ``OVERRIDE[,OVERRIDE...]`` (``,`` or ``;``) where a new override path begins.

    >>> split_overrides("agents.W1=s_S:s=600,S=1500;lanes[SUP->W1].lead_time=3,periods=90")
    ['agents.W1=s_S:s=600,S=1500', 'lanes[SUP->W1].lead_time=3', 'periods=90']
    """
    pieces: list[str] = []
    for piece, sep in split_top(text, ",;"):
        if pieces and not starts_path(piece):
            pieces[-1] += sep + piece
        else:
            pieces.append(piece)
    return [p.strip() for p in pieces if p.strip()]


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at commas outside brackets (``{dist: poisson, mean: 3}`` is one)."""
    return [p.strip() for p, _ in split_top(text, ",")]


def parse_value(text: str, *, where: str = "value") -> Any:
    """A YAML scalar or flow collection (:func:`agents.named.read_value`); ScenarioError when it
    opens a bracket or quote that is not valid YAML."""
    try:
        return read_value(text)
    except ValueError as exc:
        raise ScenarioError(f"{where}: value {exc}") from None


def _parse_path(text: str, where: str) -> tuple[Component, ...]:
    components: list[Component] = []
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and text[j] not in ".[":
            j += 1
        name, key = text[i:j].strip(), None
        if j < n and text[j] == "[":
            close = text.find("]", j)
            if close < 0:
                raise ScenarioError(f"{where}: unclosed '[' in path {text!r}")
            key = text[j + 1 : close].strip()
            j = close + 1
            if not key:
                raise ScenarioError(f"{where}: empty [] in path {text!r}")
        if not name:
            raise ScenarioError(f"{where}: empty name in path {text!r}")
        components.append(Component(name, key))
        if j < n and text[j] != ".":
            raise ScenarioError(f"{where}: expected '.' after {text[i:j]!r} in path {text!r}")
        i = j + 1
        if j == n - 1:
            raise ScenarioError(f"{where}: path {text!r} ends with '.'")
    if not components:
        raise ScenarioError(f"{where}: empty path")
    return _canonical(tuple(components))


def _canonical(path: tuple[Component, ...]) -> tuple[Component, ...]:
    """``nodes.S1.x`` -> ``nodes[S1].x``; lane keys without spaces around ``->``."""
    first, rest = path[0], path[1:]
    if first.name in COLLECTIONS and first.key is None and rest and rest[0].key is None:
        first, rest = Component(first.name, rest[0].name), rest[1:]
    if first.name == "lanes" and first.key is not None:
        first = Component(first.name, "->".join(p.strip() for p in first.key.split("->")))
    return (first, *rest)


def _assignment(spec: Any, where: str) -> Assignment:
    try:
        kind, params = named(spec, what="agent")
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    return Assignment(kind, params)


def _value(path: tuple[Component, ...], value: Any, where: str) -> Any:
    """The value of an override at ``path``: an Assignment for ``agents.TARGET``, else as given."""
    if path[0].name == AGENTS and len(path) == 1 and path[0].key is not None:
        if value is None or value == "":
            raise ScenarioError(f"{where}: expected agents.{path[0].key}={AGENT_SPEC}")
        return value if isinstance(value, Assignment) else _assignment(value, where)
    return value


def parse_override(text: str, *, source: str | None = None, label: str | None = None) -> Override:
    """Parse ``PATH=VALUE`` (see the module docstring); errors name ``source`` and ``label``
    (default ``override 'TEXT'``).

    >>> parse_override("lanes.W1->S1.lead_time=poisson:mean=3") == parse_override(
    ...     "lanes[W1 -> S1].lead_time=poisson:mean=3")
    True
    >>> parse_override("agents.W1=s_S:s=600,S=1500").value
    Assignment(kind='s_S', params={'s': 600, 'S': 1500})
    """
    label = label or f"override {text!r}"
    where = f"{source}: {label}" if source else label
    pieces = split_top(text, "=")
    if len(pieces) < 2 or not pieces[0][0].strip():
        raise ScenarioError(f"{where}: expected PATH=VALUE, e.g. nodes.S1.capacity=400")
    path_text = pieces[0][0].strip()
    value_text = text[len(pieces[0][0]) + 1 :].strip()
    path = _parse_path(path_text, where)
    if path[0].name == SWAP:
        value: Any = value_text
    elif path[0].name == AGENTS and len(path) == 1:
        value = _value(path, value_text, where)
    else:
        value = parse_value(value_text, where=where)
    return Override(path, value, text, label)


def agent_option(text: str, *, source: str | None = None) -> Override:
    """``TARGET=KIND[:k=v,...]`` (``twin.run --agent``): ``agents[TARGET]=KIND[:k=v,...]``.

    >>> agent_option("W1=s_S:s=600,S=1500") == parse_override("agents.W1=s_S:s=600,S=1500")
    True
    """
    label = f"--agent {text!r}"
    where = f"{source}: {label}" if source else label
    target, sep, spec = text.partition("=")
    if not sep or not target.strip() or not spec.strip():
        raise ScenarioError(f"{where}: expected TARGET={AGENT_SPEC}")
    path = (Component(AGENTS, target.strip()),)
    return Override(path, _value(path, spec, where), f"agents[{target.strip()}]={spec}", label)


def assign(targets: str | Sequence[str], kind: str, params: Mapping[str, Any] | None = None) -> Override:
    """Decide for ``targets`` (node ids, tiers or stock points) with one new agent entry.

    ``params`` are Python values (a per-node parameter is a ``{node: value}`` mapping).

    >>> assign(["S1", "S2"], "base_stock", {"base_stock_level": {"S1": 40, "S2": 60}}).text
    'agents[S1,S2]=base_stock:base_stock_level={S1: 40, S2: 60}'
    """
    names = [targets] if isinstance(targets, str) else list(targets)
    if not names or any(not isinstance(t, str) or not t for t in names):
        raise ScenarioError(f"assign: targets must be node ids or tiers, got {targets!r}")
    key = ",".join(names)
    value = Assignment(kind, dict(params or {}))
    text = f"{AGENTS}[{key}]={format_named(kind, value.params)}"
    return Override((Component(AGENTS, key),), value, text, f"override {text!r}")


def setting(path: str, value: Any) -> Override:
    """Set ``path`` (override syntax) to the Python ``value``: ``setting("periods", 90)``.

    >>> setting("nodes.S1.demand", {"dist": "poisson", "mean": 3}).text
    'nodes[S1].demand={dist: poisson, mean: 3}'
    """
    where = f"override {path}={value!r}"
    parsed = _parse_path(path, where)
    value = _value(parsed, value, where)
    text = (
        _path_text(parsed)
        + "="
        + (
            format_named(value.kind, value.params)
            if isinstance(value, Assignment)
            else format_value(value)
        )
    )
    return Override(parsed, value, text, f"override {text!r}")


def _path_text(path: Sequence[Component]) -> str:
    return ".".join(c.name + (f"[{c.key}]" if c.key is not None else "") for c in path)


def parse_all(overrides: Sequence[str | Override], source: str | None) -> list[Override]:
    """Overrides given as text or as :class:`Override` objects, parsed."""
    return [o if isinstance(o, Override) else parse_override(o, source=source) for o in overrides]
