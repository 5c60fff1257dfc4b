"""Scenario errors with YAML paths: one line naming the file, the path and the value.

:class:`PathError` carries a YAML path (``lanes[3].to``) and a message; the loader prefixes the file
and turns it into a :class:`~entities.errors.ScenarioError`. :func:`suggest` adds "did you mean"
(``difflib``), :func:`first_error` turns a pydantic ``ValidationError`` into the same one-line form.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError


class PathError(Exception):
    """A mistake at a YAML path of the scenario (the file is added by the loader)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def known(value: str, choices: list[str], path: str, what: str) -> None:
    if value not in choices:
        raise PathError(
            path, f"{value!r} is not {what}{suggest(value, choices)} (choices: {', '.join(choices)})"
        )


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-")) or part in {"dict[str,any]"}:
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    e = errors[0]
    loc = format_loc(tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p)))
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
        return f"{loc}: {msg}" + (f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else "")
    if e["type"] == "missing":
        return f"{loc}: required field is missing" + (
            f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        )
    text = f"{loc}: {msg}"
    if "input" in e and not isinstance(e["input"], dict | list):
        text += f" (got {short(e['input'])})"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more errors)"
    return text
