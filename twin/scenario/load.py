"""Loading: YAML in, a validated, frozen :class:`~twin.scenario.schema.Scenario` out.

Everything is checked here, once, before any simulation object exists (the Ciw habit): the size of
the file and of the document (:mod:`twin.scenario.limits`), the models' own fields
(:mod:`twin.scenario.schema`), the checks across them (:mod:`twin.scenario.validate`), then the
limits on sizes and magnitudes the twin can handle. Every error is a
:class:`~entities.errors.ScenarioError` whose message names the file, the YAML path and the value,
in one short line: ``hmarl.yaml: lanes[3].to: 'WH-2' is not a node; did you mean 'WH2'?``.

YAML is read by a safe loader (libyaml's parser when it is installed) that refuses a key given twice
in one mapping (YAML's "last one wins" hides typos):
``s.yaml: line 12: key 'holding_cost' is given twice in this mapping (first at line 9)``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode

from entities.errors import ScenarioError
from twin.scenario import limits, validate
from twin.scenario.errors import PathError, clip, first_error, short
from twin.scenario.schema import Scenario

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    """A mapping gives the same key twice."""

    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(
            f"line {line}: key {short(key)} is given twice in this mapping (first at line {first})"
        )


class StrictSafeLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader (libyaml's when available) that refuses duplicate mapping keys."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:  # merged keys (<<) may be overridden, as YAML says
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first:
                        raise DuplicateKeyError(key, line, first[key])
                    first[key] = line
                except TypeError:  # an unhashable key: SafeConstructor says so below
                    continue
        return super().construct_mapping(node, deep=deep)


def scenario_from_dict(data: Mapping[str, Any], *, source: str = "<scenario>") -> Scenario:
    """Validate plain data (as parsed from YAML) into a :class:`Scenario`."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping, got {short(data)}")
    try:
        limits.check_counts(data)
        scenario = validate.check(Scenario.model_validate(dict(data)), source)
        limits.check_scenario(scenario)
    except ValidationError as exc:
        raise ScenarioError(clip(f"{source}: {first_error(exc)}")) from None
    except PathError as exc:
        raise ScenarioError(clip(f"{source}: {exc}")) from None
    scenario._source, scenario._data = source, copy.deepcopy(dict(data))
    scenario._data_fields = dict(scenario.__dict__)
    return scenario


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a missing file, a file too large, a syntax error or a duplicate key is
    a ScenarioError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ScenarioError(f"{p}: no such scenario file")
    try:
        limits.check_file_size(p)
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=StrictSafeLoader)  # noqa: S506
        limits.check_document(data)
    except PathError as exc:
        raise ScenarioError(clip(f"{p}: {exc}")) from None
    except DuplicateKeyError as exc:
        raise ScenarioError(clip(f"{p}: {exc}")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(clip(f"{p}: YAML syntax error at {where}{problem}")) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{p}: not a UTF-8 text file ({exc.reason})") from None
    except RecursionError:
        raise ScenarioError(f"{p}: YAML nested too deeply") from None
    return data


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, override (top-level keys such as ``seed``, ``periods``) and validate a scenario file."""
    data = read_yaml(path)
    if isinstance(data, dict) and overrides:
        data = {**data, **overrides}
    return scenario_from_dict(data, source=str(path))
