"""Scenario errors with YAML paths: one line naming the file, the path and the value.

:class:`PathError` carries a YAML path (``lanes[3].to``) and a message; the loader prefixes the file
and turns it into a :class:`~entities.errors.ScenarioError`. :func:`suggest` adds "did you mean"
(``difflib``), :func:`first_error` turns a pydantic ``ValidationError`` into the same one-line form.

Messages stay short whatever the input: a value is shown by :func:`short` (60 characters at most)
and a whole message by :func:`clip` (``MESSAGE_WIDTH``), which cuts a long value out of the middle
and keeps the file and YAML path at the start and the problem at the end. A 40 MB inline list is
never printed back.
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


MESSAGE_WIDTH = 300
"""Characters of a scenario error message at most (see :func:`clip`)."""


def short(value: Any, width: int = 60) -> str:
    """``repr(value)`` in at most ``width`` characters (a long list is not turned into text whole)."""
    if isinstance(value, list | tuple | dict | set) and len(value) > width:
        head = list(value)[:width] if not isinstance(value, dict) else list(value.items())[:width]
        text = f"{type(value).__name__} of {len(value)} items: {head!r}"
    else:
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def clip(message: str, width: int = MESSAGE_WIDTH) -> str:
    """``message`` on one line, at most ``width`` characters: a long middle becomes ``...``."""
    keep = width - 5
    head, tail = keep - keep // 3, keep // 3
    if len(message) > 4 * width:  # never split a huge message whole
        message = f"{message[: 2 * width]} ... {message[-2 * width :]}"
    text = " ".join(message.split())
    if len(text) <= width:
        return text
    return f"{text[:head]} ... {text[len(text) - tail :]}"


def first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    e = errors[0]
    loc = format_loc(tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p)))
    msg = clip(e["msg"].removeprefix("Value error, "))
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
