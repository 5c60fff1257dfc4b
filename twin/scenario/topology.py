"""The network's graph: predecessors, successors, echelon levels, descendants, cycle search.

Pure functions over node ids and ``(origin, destination)`` pairs, used by scenario validation and by
:mod:`twin.engine.build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Topology:
    """Adjacency of a supply network (material flows from ``origin`` to ``destination``).

    ``level[n]`` is 0 for nodes without successors and ``1 + max(level of successors)`` otherwise:
    nodes decide in increasing level, so every node decides after all of its customers (DESIGN.md,
    order of events). ``echelon = level + 1`` is the number printed in reports.
    """

    nodes: tuple[str, ...]
    predecessors: dict[str, tuple[str, ...]]
    successors: dict[str, tuple[str, ...]]
    level: dict[str, int]

    @classmethod
    def from_edges(cls, nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> Topology:
        preds: dict[str, list[str]] = {n: [] for n in nodes}
        succs: dict[str, list[str]] = {n: [] for n in nodes}
        for origin, destination in edges:
            succs[origin].append(destination)
            preds[destination].append(origin)
        cycle = find_cycle(nodes, succs)
        if cycle:
            raise ValueError("cycle " + " -> ".join(cycle))
        level: dict[str, int] = {}

        def visit(n: str) -> int:
            if n not in level:
                level[n] = 1 + max((visit(s) for s in succs[n]), default=-1)
            return level[n]

        for n in nodes:
            visit(n)
        return cls(
            nodes=tuple(nodes),
            predecessors={n: tuple(p) for n, p in preds.items()},
            successors={n: tuple(s) for n, s in succs.items()},
            level=level,
        )

    def descendants(self, node: str) -> tuple[str, ...]:
        """Nodes reachable downstream of ``node`` (not including it), each once."""
        seen: dict[str, None] = {}
        stack = list(self.successors[node])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen[n] = None
                stack.extend(self.successors[n])
        return tuple(seen)


def find_cycle(nodes: Sequence[str], successors: dict[str, list[str]]) -> list[str] | None:
    """A list ``[a, b, ..., a]`` of nodes on a directed cycle, or None (iterative DFS)."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(nodes, white)
    for root in nodes:
        if colour[root] != white:
            continue
        path: list[str] = [root]
        iters = [iter(successors[root])]
        colour[root] = grey
        while iters:
            for nxt in iters[-1]:
                if colour[nxt] == grey:
                    return path[path.index(nxt) :] + [nxt]
                if colour[nxt] == white:
                    colour[nxt] = grey
                    path.append(nxt)
                    iters.append(iter(successors[nxt]))
                    break
            else:
                colour[path.pop()] = black
                iters.pop()
    return None
