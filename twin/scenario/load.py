"""Loading: YAML in, a validated, frozen :class:`~twin.scenario.schema.Scenario` out.

Everything is checked here, once, before any simulation object exists (the Ciw habit): the models'
own fields (:mod:`twin.scenario.schema`), then the checks across them
(:mod:`twin.scenario.validate`). Every error is a :class:`~entities.errors.ScenarioError` whose
message names the file, the YAML path and the value: ``hmarl.yaml: lanes[3].to: 'WH-2' is not a
node; did you mean 'WH2'?``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from entities.errors import ScenarioError
from twin.scenario import validate
from twin.scenario.errors import PathError, first_error, short
from twin.scenario.schema import Scenario


def scenario_from_dict(data: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate plain data (as parsed from YAML) into a :class:`Scenario`."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping, got {short(data)}")
    try:
        scenario = validate.check(Scenario.model_validate(dict(data)), source)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: {first_error(exc)}") from None
    except PathError as exc:
        raise ScenarioError(f"{source}: {exc}") from None
    scenario._source, scenario._data = source, copy.deepcopy(dict(data))
    scenario._data_fields = dict(scenario.__dict__)
    return scenario


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file or a syntax error is a ScenarioError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: no such scenario file")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{p}: YAML syntax error at {where}{problem}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{p}: not a UTF-8 text file ({exc.reason})") from None


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, override (top-level keys such as ``seed``, ``periods``) and validate a scenario file."""
    data = read_yaml(path)
    if isinstance(data, dict) and overrides:
        data = {**data, **overrides}
    return scenario_from_dict(data, source=str(path))
