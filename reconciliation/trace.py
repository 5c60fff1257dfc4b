"""The event trace of a replication: every order and shipment, in the order they happened, as columns.

Lanes report each order (:meth:`Trace.order`) and shipment (:meth:`Trace.shipment`) as it happens;
the trace keeps them as numbers, not as message objects (a 1,000-store year has about 750,000 of
them: as Python objects they took 150 MB). Events wait in a small buffer and then go, in chunks of
compact columns (about 37 bytes an event), to an anonymous temporary file, so a trace of any length
holds a bounded amount of memory. Ids number the events 1, 2, ... in the order they happened.

Read it as a sequence of :class:`~entities.messages.Order` and :class:`~entities.messages.Shipment`
(materialised on demand), or chunk by chunk as arrays (:meth:`Trace.chunks`, what the run folder's
event table is written from).
"""

from __future__ import annotations

import tempfile
from array import array
from collections.abc import Iterator, Sequence
from typing import IO, Any, overload

import numpy as np

from entities.messages import LaneId, Order, Shipment

KINDS: tuple[str, ...] = ("order", "shipment")
"""Event kinds, by code."""
FIELDS: tuple[tuple[str, str], ...] = (
    ("kind", "<i1"),
    ("lane", "<i4"),
    ("period", "<i4"),
    ("due", "<i4"),
    ("lead_time", "<f8"),
    ("quantity", "<f8"),
    ("lost", "<f8"),
)
"""Columns of a chunk: ``period`` is when an order was placed or a shipment sent; ``due`` when the
order reaches its upstream node or the shipment arrives; ``lead_time`` is NaN for an order."""
_ORDER, _SHIPMENT = 0, 1
_NAN = float("nan")


class Trace(Sequence[Order | Shipment]):
    """Orders and shipments of one replication (see the module docstring)."""

    def __init__(self, *, buffer_events: int = 1 << 13) -> None:
        self.lanes: list[str] = []
        """Lane ids, by the key :meth:`lane_key` gave them."""
        self._keys: dict[str, int] = {}
        self._buffer = array("d")  # (kind, lane, period, due, lead_time, quantity, lost) per event
        self._limit = 7 * max(1, buffer_events)
        self._file: IO[bytes] | None = None
        self._chunks: list[tuple[int, int]] = []  # (file offset, events) of each spilled chunk
        self._spilled = 0

    def lane_key(self, lane: str) -> int:
        """The key under which ``lane``'s events are recorded (registering the lane)."""
        key = self._keys.get(lane)
        if key is None:
            key = self._keys[lane] = len(self.lanes)
            self.lanes.append(lane)
        return key

    # -- recording (called by the lanes) ---------------------------------------------------------

    def order(self, lane: int, period: int, quantity: float, seen: int) -> None:
        """An order of ``quantity`` placed on lane ``lane`` (a key) in ``period``, seen upstream in
        period ``seen``."""
        buffer = self._buffer
        buffer.extend((_ORDER, lane, period, seen, _NAN, quantity, 0.0))
        if len(buffer) >= self._limit:
            self._spill()

    def shipment(
        self, lane: int, sent: int, lead_time: float, due: int, quantity: float, lost: float
    ) -> None:
        """A shipment of ``quantity`` sent on lane ``lane`` in period ``sent``, due in ``due``,
        ``lost`` units of it lost in transit."""
        buffer = self._buffer
        buffer.extend((_SHIPMENT, lane, sent, due, lead_time, quantity, lost))
        if len(buffer) >= self._limit:
            self._spill()

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="twin-trace-")
        events = len(self._buffer) // 7
        self._chunks.append((self._file.seek(0, 2), events))
        for column in _columns(self._buffer).values():
            self._file.write(column.tobytes())
        self._spilled += events
        self._buffer = array("d")

    # -- reading ---------------------------------------------------------------------------------

    def chunks(self) -> Iterator[dict[str, np.ndarray]]:
        """The events in chunks, oldest first: arrays named as :data:`FIELDS`, plus ``id``."""
        first = 1
        for offset, events in self._chunks:
            assert self._file is not None
            self._file.seek(offset)
            chunk = {}
            for name, dtype in FIELDS:
                size = events * np.dtype(dtype).itemsize
                chunk[name] = np.frombuffer(self._file.read(size), dtype=dtype)
            chunk["id"] = np.arange(first, first + events, dtype=np.int64)
            first += events
            yield chunk
        if self._buffer:
            chunk = _columns(self._buffer)
            chunk["id"] = np.arange(first, first + len(self._buffer) // 7, dtype=np.int64)
            yield chunk

    def __len__(self) -> int:
        return self._spilled + len(self._buffer) // 7

    def __iter__(self) -> Iterator[Order | Shipment]:
        for chunk in self.chunks():
            yield from self._messages(chunk)

    @overload
    def __getitem__(self, index: int) -> Order | Shipment: ...
    @overload
    def __getitem__(self, index: slice) -> list[Order | Shipment]: ...
    def __getitem__(self, index: int | slice) -> Order | Shipment | list[Order | Shipment]:
        if isinstance(index, slice):
            return list(self)[index]
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"trace index {index} out of range ({n} events)")
        for chunk in self.chunks():
            size = len(chunk["id"])
            if i < size:
                return next(self._messages({k: v[i : i + 1] for k, v in chunk.items()}))
            i -= size
        raise IndexError(index)  # pragma: no cover - lengths agree

    def _messages(self, chunk: dict[str, np.ndarray]) -> Iterator[Order | Shipment]:
        lanes = self.lanes
        columns = zip(
            chunk["kind"].tolist(),
            chunk["id"].tolist(),
            chunk["lane"].tolist(),
            chunk["period"].tolist(),
            chunk["due"].tolist(),
            chunk["lead_time"].tolist(),
            chunk["quantity"].tolist(),
            chunk["lost"].tolist(),
            strict=True,
        )
        for kind, id_, lane, period, due, lead_time, quantity, lost in columns:
            if kind == _ORDER:
                yield Order(id_, LaneId(lanes[lane]), period, quantity, due)
            else:
                yield Shipment(id_, LaneId(lanes[lane]), period, lead_time, due, quantity, lost)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trace):
            if len(self) != len(other) or self.lanes != other.lanes:
                return False
            mine = _concatenate(self.chunks())
            theirs = _concatenate(other.chunks())
            return all(
                np.array_equal(mine[name], theirs[name], equal_nan=name == "lead_time")
                for name, _ in FIELDS
            )
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        columns = _concatenate(self.chunks())
        return {"lanes": self.lanes, "columns": columns}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        for lane in state["lanes"]:
            self.lane_key(lane)
        columns = state["columns"]
        rows = np.column_stack([columns[name].astype(np.float64) for name, _ in FIELDS])
        self._buffer = array("d", rows.ravel().tolist())

    def close(self) -> None:
        """Delete the temporary file (done anyway when the trace is garbage-collected)."""
        if self._file is not None:
            self._file.close()

    def __repr__(self) -> str:
        return f"Trace({len(self)} events, {len(self.lanes)} lanes)"


def _columns(buffer: array) -> dict[str, np.ndarray]:
    rows = np.frombuffer(buffer, dtype=np.float64).reshape(-1, 7)
    return {name: rows[:, i].astype(dtype) for i, (name, dtype) in enumerate(FIELDS)}


def _concatenate(chunks: Iterator[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = list(chunks)
    if not parts:
        return {name: np.zeros(0, dtype=dtype) for name, dtype in FIELDS} | {
            "id": np.zeros(0, dtype=np.int64)
        }
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
