"""External demand series: per-node demand per period read from a CSV or Parquet file.

Two layouts are read (by their columns):

* long: columns ``period``, ``node``, ``demand``; one row per (period, node), periods 0, 1, ...;
* wide: one column per node (the column named by the node id, or ``column``), one row per period
  (in file order, or sorted by an optional ``period`` column).

The file is read once per process (cached by path and modification time). Every problem is a
:class:`SeriesError` naming the file and what is wrong; :mod:`twin.scenario.validate` adds the YAML
path. File reading lives here (not in ``entities``, which may import only simpy and numpy).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


class SeriesError(ValueError):
    """A demand series file is missing, malformed, or does not cover the node or the horizon."""


@lru_cache(maxsize=64)
def _read(path: str, mtime: float) -> pd.DataFrame:
    """The table at ``path`` (``mtime`` keys the cache: a changed file is read again)."""
    import pandas as pd

    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise SeriesError(f"{path}: cannot read the table ({type(exc).__name__}: {exc})") from None
    raise SeriesError(f"{path}: unknown file type {suffix!r} (use .csv or .parquet)")


def load_series(path: str, column: str, periods: int) -> np.ndarray:
    """The first ``periods`` demands of ``column`` (a node id) in the file at ``path``."""
    if not os.path.isfile(path):
        raise SeriesError(f"no such demand series file: {path}")
    frame = _read(path, os.path.getmtime(path))
    columns = [str(c) for c in frame.columns]
    if {"period", "node", "demand"} <= set(columns) and column not in columns:
        rows = frame[frame["node"].astype(str) == column]
        if rows.empty:
            nodes = sorted({str(v) for v in frame["node"]})
            raise SeriesError(f"{path}: no rows for node {column!r} (nodes: {', '.join(nodes[:10])})")
        rows = rows.sort_values("period")
        period = rows["period"].to_numpy()
        if not np.array_equal(period, np.arange(len(period))):
            raise SeriesError(f"{path}: node {column!r} must have periods 0, 1, 2, ... once each")
        values = rows["demand"]
    else:
        if column not in columns:
            raise SeriesError(
                f"{path}: no column {column!r} (columns: {', '.join(columns)}; or a "
                "long table with columns period, node, demand)"
            )
        if "period" in columns:
            frame = frame.sort_values("period")
        values = frame[frame.columns[columns.index(column)]]
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        raise SeriesError(
            f"{path}: node {column!r}: value {values.iloc[bad[0]]!r} at row "
            f"{bad[0]} is not a finite number"
        )
    negative = np.flatnonzero(numbers < 0)
    if len(negative):
        raise SeriesError(
            f"{path}: node {column!r}: negative demand {numbers[negative[0]]:g} at row {negative[0]}"
        )
    if len(numbers) < periods:
        raise SeriesError(
            f"{path}: node {column!r} has {len(numbers)} periods of demand, the scenario runs {periods}"
        )
    return numbers[:periods].copy()
