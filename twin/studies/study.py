"""A what-if study: a baseline scenario, named variants and sweeps, resolved into validated cases.

A study is defined on the command line (``python -m twin.compare SCENARIO.yaml --variant ...
--sweep ...``) or in a study file::

    # study.yaml (paths are relative to this file)
    scenario: ../scenarios/hmarl_3store.yaml
    replications: 10          # default: the scenario's
    seed: 7                   # default: the scenario's
    periods: 180              # optional, for every case (also warmup_periods)
    variants:
      tuned_sS: [agents.warehouse_1=s_S:s=522,S=534]
      slow_supplier:
        - lanes[supplier_1->warehouse_1].lead_time={dist: uniform_int, low: 4, high: 6}
    sweeps:
      nodes.supplier_1.capacity: [200, 250, 300]

The **baseline** is the unmodified scenario. Every variant is the baseline with its overrides
(:mod:`twin.scenario.edit`) applied in order. Sweeps form the full grid of their values; every grid
point is applied on top of the baseline and of every variant (after the variant's own overrides),
giving cases named ``VARIANT | PATH=VALUE, ...``. Each case is validated like a scenario before
anything runs. Every case runs with the study's seed and replications ``0 .. n-1``: replication
``r`` of every case draws from the streams ``(seed, r, entity, purpose)``, so cases share their
demand and lead-time draws (common random numbers), whatever the order or place they run in. A
variant may therefore not override ``seed`` or ``replications``.

A study may start every case from a stored state (:func:`with_state`, ``twin.compare --state URL
--as-of DATE``): the cases then run from the as-of date on the streams of the study's seed and
that date, still all on the same ones; the state is kept in ``study.json``, so a resumed study
starts from the same state.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.named import split_top
from entities.errors import ScenarioError
from twin.scenario import Scenario, read_yaml, scenario_from_dict
from twin.scenario.edit import (
    Override,
    edit_data,
    parse_override,
    parse_value,
    split_overrides,
    split_values,
    starts_path,
)
from twin.scenario.errors import first_error
from twin.scenario.state import StartingState, check_state, scenario_at, state_from_dict

BASELINE = "baseline"
STUDY_KEYS = ("seed", "replications")
"""Top-level keys the study sets for every case (a variant overriding them would break CRN)."""
_NAME = re.compile(r"^[\w.+-]+$")


@dataclass(frozen=True)
class Case:
    """One scenario of the study: the baseline, a variant, or a sweep grid point of either."""

    index: int
    name: str
    variant: str
    overrides: tuple[str, ...]
    point: tuple[tuple[str, Any], ...]
    """Sweep coordinates ``((path, value), ...)``; empty for a case outside the grid."""
    scenario: Scenario
    source: str

    @property
    def key(self) -> str:
        """A file-name-safe id, unique within the study: ``007-slow_supplier``."""
        return f"{self.index:03d}-" + re.sub(r"[^\w.+-]+", "_", self.name)[:60].strip("_")


@dataclass(frozen=True)
class Study:
    scenario_path: str
    seed: int
    replications: int
    periods: int | None
    warmup_periods: int | None
    variants: dict[str, tuple[str, ...]]
    sweeps: dict[str, tuple[str, ...]]
    """Swept path -> value texts (as given, or YAML flow text of a study file's values)."""
    cases: tuple[Case, ...]
    state: StartingState | None = None
    """A stored state every case starts from (:func:`with_state`), or None."""

    @property
    def baseline(self) -> Case:
        return self.cases[0]

    @property
    def sweep_paths(self) -> list[str]:
        return list(self.sweeps)

    def definition(self) -> dict[str, Any]:
        """JSON-able description, including every case's resolved scenario (``study.json``)."""
        return {
            "scenario": self.scenario_path,
            "seed": self.seed,
            "replications": self.replications,
            "periods": self.periods,
            "warmup_periods": self.warmup_periods,
            "variants": {k: list(v) for k, v in self.variants.items()},
            "sweeps": {k: list(v) for k, v in self.sweeps.items()},
            "cases": [
                {
                    "name": c.name,
                    "variant": c.variant,
                    "overrides": list(c.overrides),
                    "point": [[p, v] for p, v in c.point],
                    "source": c.source,
                    "scenario": c.scenario.to_yaml_dict(),
                }
                for c in self.cases
            ],
        } | ({} if self.state is None else {"state": self.state.to_dict()})


# --------------------------------------------------------------------------------------------------
# Command-line pieces.


def check_name(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise ScenarioError(f"{where}: variant name {name!r} must be letters, digits, _ . + or -")
    if name == BASELINE:
        raise ScenarioError(
            f"{where}: {BASELINE!r} is the unmodified scenario; choose another variant name"
        )
    return name


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME=OVERRIDE[,OVERRIDE...]`` (``,`` or ``;`` between overrides) -> (name, overrides)."""
    name, sep, rest = text.partition("=")
    where = f"--variant {text!r}"
    if not sep or not name.strip() or not rest.strip():
        raise ScenarioError(
            f"{where}: expected NAME=OVERRIDE[,OVERRIDE...], e.g. fast=lanes[W1->S1].lead_time=1"
        )
    return check_name(name.strip(), where), split_overrides(rest)


def yaml_text(value: Any) -> str:
    """A value as one line of YAML flow text (parses back to ``value``)."""
    if isinstance(value, str):
        return value
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    return text[:-3].strip() if text.endswith("...") else text


def _check_sweep_path(path: str, where: str) -> str:
    parsed = parse_override(f"{path}=0", label=where)
    if parsed.head == "scenario" or parsed.head in STUDY_KEYS:
        raise ScenarioError(f"{where}: {parsed.head} cannot be swept (the study sets it)")
    return path


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """``PATH=v1,v2,...`` -> (path, value texts); commas inside ``{}``/``[]`` do not split."""
    where = f"--sweep {text!r}"
    pieces = split_top(text, "=")
    path, values = pieces[0][0].strip(), text[len(pieces[0][0]) + 1 :]
    if len(pieces) < 2 or not path or not values.strip():
        raise ScenarioError(f"{where}: expected PATH=v1,v2,..., e.g. nodes.S1.capacity=300,400")
    return _check_sweep_path(path, where), _sweep_values(split_values(values), where)


def _sweep_values(texts: Sequence[str], where: str) -> list[str]:
    if any(not t for t in texts):
        raise ScenarioError(f"{where}: empty value in the list")
    parsed = [yaml_text(parse_value(t, where=where)) for t in texts]
    dupes = sorted({t for t in parsed if parsed.count(t) > 1})
    if dupes:
        raise ScenarioError(f"{where}: value(s) {', '.join(dupes)} given more than once")
    return list(texts)


# --------------------------------------------------------------------------------------------------
# Study files.


class _StudyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    scenario: str = Field(min_length=1)
    seed: Annotated[int, Field(ge=0)] | None = None
    replications: Annotated[int, Field(ge=1)] | None = None
    periods: Annotated[int, Field(gt=0)] | None = None
    warmup_periods: Annotated[int, Field(ge=0)] | None = None
    variants: dict[str, list[str] | str] = Field(default_factory=dict)
    sweeps: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)


def _rejoin(items: Sequence[str]) -> list[str]:
    """Undo YAML's split of a flow list at an agent's commas: ``[agents.W1=s_S:s=5,S=9]``."""
    out: list[str] = []
    for item in items:
        if out and not starts_path(item):
            out[-1] += f",{item}"
        else:
            out.append(item)
    return out


def is_study_data(data: Any) -> bool:
    """True for a study file's data (has ``scenario``, no ``nodes``), False for a scenario's."""
    return isinstance(data, dict) and "scenario" in data and "nodes" not in data


@dataclass(frozen=True)
class StudySpec:
    """A study before resolution: what the command line or a study file says."""

    scenario_path: str
    base_dir: str = "."
    seed: int | None = None
    replications: int | None = None
    periods: int | None = None
    warmup_periods: int | None = None
    variants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sweeps: tuple[tuple[str, tuple[str, ...]], ...] = ()


def read_study_file(path: str | Path, data: Any = None) -> StudySpec:
    """Validate a study file (errors name the file and the key) into a :class:`StudySpec`."""
    source = str(path)
    if data is None:
        data = read_yaml(path)
    try:
        spec = _StudyFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {first_error(exc)}") from None
    variants = []
    for name, overrides in spec.variants.items():
        where = f"{source}: variants.{name}"
        texts = split_overrides(overrides) if isinstance(overrides, str) else _rejoin(overrides)
        if not texts:
            raise ScenarioError(f"{where}: no overrides")
        variants.append((check_name(str(name), where), tuple(texts)))
    sweeps = []
    for swept, values in spec.sweeps.items():
        where = f"{source}: sweeps.{swept}"
        texts = [yaml_text(v) for v in values]
        sweeps.append((_check_sweep_path(str(swept), where), tuple(_sweep_values(texts, where))))
    base_dir = Path(source).parent
    scenario = os.path.normpath(base_dir / spec.scenario)
    return StudySpec(
        scenario,
        str(base_dir),
        spec.seed,
        spec.replications,
        spec.periods,
        spec.warmup_periods,
        tuple(variants),
        tuple(sweeps),
    )


# --------------------------------------------------------------------------------------------------
# Resolution.


def _validate(data: dict[str, Any], seed: int, replications: int, source: str) -> Scenario:
    return scenario_from_dict({**data, "seed": seed, "replications": replications}, source=source)


def build_study(spec: StudySpec) -> Study:
    """Resolve and validate every case of ``spec`` (baseline, variants, sweep grid points)."""
    source = spec.scenario_path
    base = read_yaml(source)
    if not isinstance(base, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    defaults = {
        k: v
        for k, v in (("periods", spec.periods), ("warmup_periods", spec.warmup_periods))
        if v is not None
    }
    data, _ = edit_data(base, [], source=source, defaults=defaults)
    own = scenario_from_dict(data, source=source)
    seed = own.seed if spec.seed is None else spec.seed
    replications = own.replications if spec.replications is None else spec.replications
    if isinstance(replications, bool) or replications < 1:
        raise ScenarioError(f"--replications must be >= 1, got {replications}")
    if seed < 0:
        raise ScenarioError(f"--seed must be >= 0, got {seed}")

    names = [name for name, _ in spec.variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScenarioError(f"variant {dupes[0]!r} is defined twice")
    variants: list[tuple[str, tuple[str, ...]]] = [(BASELINE, ()), *spec.variants]
    paths = [p for p, _ in spec.sweeps]
    if len(set(paths)) != len(paths):
        raise ScenarioError(
            f"--sweep {sorted({p for p in paths if paths.count(p) > 1})[0]!r} is given twice"
        )
    grid = list(itertools.product(*(values for _, values in spec.sweeps))) if spec.sweeps else []

    cases: list[Case] = []

    def add(
        name: str, variant: str, overrides: Sequence[str | Override], point: tuple[tuple[str, Any], ...]
    ) -> None:
        texts = tuple(o if isinstance(o, str) else o.text for o in overrides)
        label = f"{source} (variant {name!r})" if name != BASELINE else source
        parsed = [o if isinstance(o, Override) else parse_override(o, source=label) for o in overrides]
        for o in parsed:
            if o.head in STUDY_KEYS:
                raise ScenarioError(
                    f"{o.where(label)}: the study sets {o.head} for every variant "
                    f"(common random numbers); use --{o.head}"
                )
        data, case_source = edit_data(
            base, parsed, source=label, base_dir=spec.base_dir, defaults=defaults
        )
        if case_source != label:
            label = f"{case_source} (variant {name!r})"
        scenario = _validate(data, seed, replications, label)
        cases.append(Case(len(cases), name, variant, texts, point, scenario, case_source))

    for name, overrides in variants:
        add(name, name, overrides, ())
    for name, overrides in variants:
        for values in grid:
            sweep = [f"{p}={v}" for p, v in zip(paths, values, strict=True)]
            point = tuple((p, parse_value(v)) for p, v in zip(paths, values, strict=True))
            add(f"{name} | {', '.join(sweep)}", name, [*overrides, *sweep], point)
    return Study(
        source,
        seed,
        replications,
        spec.periods,
        spec.warmup_periods,
        {n: tuple(o) for n, o in spec.variants},
        {p: tuple(v) for p, v in spec.sweeps},
        tuple(cases),
    )


def with_state(study: Study, state: StartingState) -> Study:
    """``study`` with every case starting from ``state``: each case's scenario prepared for it
    (:func:`twin.scenario.state.scenario_at`; the same seed for every case, so common random
    numbers still hold) and checked against it."""
    cases = []
    for c in study.cases:
        check_state(c.scenario, state)
        cases.append(dataclasses.replace(c, scenario=scenario_at(c.scenario, state)))
    return dataclasses.replace(study, cases=tuple(cases), state=state)


def study_from_definition(definition: Mapping[str, Any], source: str) -> Study:
    """Rebuild a study from :meth:`Study.definition` (``study.json`` of a study folder)."""
    try:
        cases = tuple(
            Case(
                i,
                c["name"],
                c["variant"],
                tuple(c["overrides"]),
                tuple((p, v) for p, v in c["point"]),
                scenario_from_dict(c["scenario"], source=f"{source}: cases[{i}]"),
                c["source"],
            )
            for i, c in enumerate(definition["cases"])
        )
        return Study(
            definition["scenario"],
            int(definition["seed"]),
            int(definition["replications"]),
            definition.get("periods"),
            definition.get("warmup_periods"),
            {k: tuple(v) for k, v in definition["variants"].items()},
            {k: tuple(v) for k, v in definition["sweeps"].items()},
            cases,
            None if definition.get("state") is None else state_from_dict(definition["state"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"{source}: not a study definition ({type(exc).__name__}: {exc})") from None
