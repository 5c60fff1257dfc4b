"""The one text form of a name with parameters: ``NAME[:KEY=VALUE,...]``, and its only parser.

Everything a user names with parameters is written this way: an agent kind (``s_S:s=522,S=534``),
a distribution (``poisson:mean=3``), an observation builder or an action map (``hmarl:window=7``,
``integer:n=20``), the proposal agent of a ``hybrid`` (``base_stock:base_stock_level=26``), and,
without a name, the trainer's hyper-parameters (``learning_rate=1e-4``). It lives in ``agents``,
the lowest package that reads it, so that agents and ``twin`` read the same grammar::

    spec   := NAME [":" params]
    params := KEY "=" VALUE ("," KEY "=" VALUE)*

* ``VALUE`` is read as YAML (``yaml.safe_load``): ``3``, ``0.5``, ``true``, ``null``, ``lost``,
  ``[64, 64]``, ``{store_1: 140, store_2: 190}``; a number in exponent form is a number
  (``1e-4``, which YAML 1.1 reads as text). A value that is not valid YAML is kept as written,
  unless it opens a bracket or a quote (then it is a mistake).
* Separators inside brackets (``[]``, ``{}``, ``()``) and quotes do not split, so a value may be a
  YAML flow collection or a quoted text: ``base_stock:base_stock_level={store_1: 140, store_2: 190}``.
* A value that is itself a spec separates its own parameters with ``;``
  (``proposal=s_S:s=40;S=120``), or is a YAML mapping (``proposal={kind: s_S, params: {s: 40}}``):
  the outer parameters split at ``,`` only; a nested spec (``nested=True``) splits at ``,`` and ``;``.

:func:`named` also takes the mapping form ``{name: NAME, params: {...}}`` (or ``kind:`` for
``name:``; other keys join the params); :func:`format_named` writes a spec back as text that parses
to the same name and params. Mistakes raise ``ValueError`` naming the text and the piece.

>>> parse_named("s_S:s=40,S=120")
('s_S', {'s': 40, 'S': 120})
>>> parse_named("hybrid:proposal=s_S:s=40;S=120,setup_cost=200")
('hybrid', {'proposal': 's_S:s=40;S=120', 'setup_cost': 200})
>>> parse_named("s_S:s=40;S=120", nested=True)
('s_S', {'s': 40, 'S': 120})
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

_OPEN, _CLOSE = "[{(", "]})"
_QUOTES = "'\""
_QUOTE_AFTER = "=,;:[{( "
"""A quote opens a quoted text only at the start of a value (after one of these, or first)."""
_EXPONENT = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)[eE][-+]?\d+")
_BAD_NAME = re.compile(r"[\s=,;:\[\]{}()'\"]")


def split_top(text: str, separators: str) -> list[tuple[str, str]]:
    """Split ``text`` at ``separators`` outside brackets and quotes.

    Returns ``(piece, separator before it)`` pairs (the first separator is ``""``).

    >>> split_top("a=1,b={x: 1, y: 2};c='p,q'", ",;")
    [('a=1', ''), ('b={x: 1, y: 2}', ','), ("c='p,q'", ';')]
    """
    out: list[tuple[str, str]] = []
    depth, start, sep = 0, 0, ""
    quote, i, n = "", 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if quote == '"' and ch == "\\":
                i += 1  # an escape in a double-quoted text: the next character is part of it
            elif ch == quote:
                if quote == "'" and i + 1 < n and text[i + 1] == "'":
                    i += 1  # '' is a quote inside a single-quoted text
                else:
                    quote = ""
        elif ch in _QUOTES and (i == 0 or text[i - 1] in _QUOTE_AFTER):
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch in separators and depth == 0:
            out.append((text[start:i], sep))
            start, sep = i + 1, ch
        i += 1
    out.append((text[start:], sep))
    return out


def read_value(text: str) -> Any:
    """A value as YAML reads it (see the module docstring); ``ValueError`` on broken YAML in
    brackets or quotes.

    >>> read_value("1e-4"), read_value("{a: 1}"), read_value("lost"), read_value("'1e-4'")
    (0.0001, {'a': 1}, 'lost', '1e-4')
    """
    stripped = text.strip()
    try:
        value = yaml.safe_load(stripped)
    except yaml.YAMLError as exc:
        if stripped[:1] in _OPEN + _QUOTES:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"{stripped!r} is not valid YAML ({problem})") from None
        return stripped
    if isinstance(value, str) and value == stripped and _EXPONENT.fullmatch(stripped):
        return float(stripped)
    return value


def parse_params(text: str, *, what: str = "parameters", nested: bool = False) -> dict[str, Any]:
    """``KEY=VALUE,...`` (also ``;`` with ``nested``) -> ``{key: value}``; values by :func:`read_value`.

    >>> parse_params("learning_rate=1e-4,hidden_sizes=[64, 64]")
    {'learning_rate': 0.0001, 'hidden_sizes': [64, 64]}
    """
    params: dict[str, Any] = {}
    for piece, _ in split_top(text, ",;" if nested else ","):
        item = piece.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key or _BAD_NAME.search(key):
            raise ValueError(f"{what}: {item!r} is not key=value")
        if key in params:
            raise ValueError(f"{what}: {key!r} is given twice")
        try:
            params[key] = read_value(value)
        except ValueError as exc:
            raise ValueError(f"{what}: {key}: {exc}") from None
    return params


def parse_named(text: str, *, what: str = "spec", nested: bool = False) -> tuple[str, dict[str, Any]]:
    """``NAME[:KEY=VALUE,...]`` -> ``(name, params)`` (see the module docstring)."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if not name or _BAD_NAME.search(name):
        raise ValueError(f"{what} {text!r}: expected NAME[:key=value,...]")
    return name, parse_params(rest, what=f"{what} {text!r}", nested=nested)


def named(spec: Any, *, what: str = "spec", nested: bool = False) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` of a spec given as text (:func:`parse_named`) or as a mapping
    ``{name: NAME, params: {...}}``, in Python or as YAML flow text (``kind`` for ``name``; other
    keys join the params).

    >>> named({"kind": "s_S", "params": {"s": 4}, "S": 9}), named("{name: integer, n: 20}")
    (('s_S', {'s': 4, 'S': 9}), ('integer', {'n': 20}))
    """
    if isinstance(spec, str) and spec.strip().startswith("{"):
        spec = read_value(spec)
    if isinstance(spec, str):
        return parse_named(spec, what=what, nested=nested)
    if isinstance(spec, Mapping):
        rest = dict(spec)
        keys = [k for k in ("name", "kind") if k in rest]
        if len(keys) != 1 or not isinstance(rest[keys[0]], str):
            raise ValueError(f"{what} must name a {what} ('name' or 'kind'), got {spec!r}")
        name = rest.pop(keys[0])
        params = rest.pop("params", None) or {}
        if not isinstance(params, Mapping):
            raise ValueError(f"{what} {name!r}: params must be a mapping, got {params!r}")
        return name, {**params, **rest}
    raise ValueError(f"{what} must be a name, 'name:key=value,...' or a mapping, got {spec!r}")


class _Dumper(yaml.SafeDumper):
    """YAML flow text whose strings never hold an unquoted bracket, quote or separator, so that
    :func:`split_top` sees the structure YAML sees."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "'" if re.search(r"[,;=\[\]{}()'\"]", text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def format_value(value: Any) -> str:
    """``value`` as one piece of text that :func:`read_value` reads back (YAML flow style; a
    text that would not read back, or holds a separator, in single quotes).

    >>> format_value({"store_1": 140.0}), format_value("a,b"), format_value("1e-4")
    ('{store_1: 140.0}', "'a,b'", "'1e-4'")
    """
    if isinstance(value, str):
        if value and not re.search(r"[,;=\s'\"\[\]{}()]", value) and read_value(value) == value:
            return value
        quoted = "'" + value.replace("'", "''") + "'"
        try:
            if read_value(quoted) == value:
                return quoted
        except ValueError:
            pass
        # YAML's single quotes fold line breaks (NEL, LS, ...) and cannot hold control
        # characters; its double-quoted form escapes them.
        return yaml.safe_dump(value, default_style='"', width=10**9).strip().removesuffix("...").strip()
    text = yaml.dump(_plain(value), Dumper=_Dumper, default_flow_style=True, width=10**9).strip()
    return text.removesuffix("...").strip()


def format_params(params: Mapping[str, Any]) -> str:
    """``KEY=VALUE,...`` that :func:`parse_params` reads back to ``params``."""
    return ",".join(f"{k}={format_value(v)}" for k, v in params.items())


def format_named(name: str, params: Mapping[str, Any]) -> str:
    """``NAME[:KEY=VALUE,...]`` that :func:`parse_named` reads back to ``(name, params)``.

    >>> format_named("s_S", {"s": {"W1": 522.0}, "S": 534})
    's_S:s={W1: 522.0},S=534'
    """
    return f"{name}:{format_params(params)}" if params else name
