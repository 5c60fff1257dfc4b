"""Ledger tables (pandas, for analysis at the edge): every row of every replication in one frame.

:func:`ledger_frame` turns results (their columnar :class:`~reconciliation.ledger.Ledger`, or rows)
into a table with ``replication`` first, then :data:`~reconciliation.ledger.LEDGER_COLUMNS`;
:func:`tier_frame` sums it per tier and period and checks the tiers against the network. pandas is
imported when these are called, never by the twin's run path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from entities.errors import ReconciliationError
from reconciliation.audit import check_totals
from reconciliation.ledger import LEDGER_COLUMNS, QUANTITY_COLUMNS, LedgerRow

if TYPE_CHECKING:
    import pandas as pd

KEY = "replication"


class ResultLike(Protocol):
    """What :func:`ledger_frame` reads of a result: ``replication`` and ``ledger`` (columns) or
    ``rows``."""

    @property
    def replication(self) -> int: ...
    @property
    def rows(self) -> Sequence[LedgerRow]: ...


def ledger_frame(results: Iterable[Any]) -> pd.DataFrame:
    """The ledger rows of all ``results`` in one table: ``replication``, then LEDGER_COLUMNS."""
    import pandas as pd

    frames = []
    for result in results:
        ledger = getattr(result, "ledger", None)
        if ledger is not None:
            frame = _columns_frame(ledger, result.replication)
        else:
            frame = pd.DataFrame.from_records(list(result.rows), columns=list(LEDGER_COLUMNS))
            frame.insert(0, KEY, result.replication)
        frames.append(frame)
    if not frames:
        frame = pd.DataFrame(columns=[KEY, *LEDGER_COLUMNS])
    else:
        frame = pd.concat(frames, ignore_index=True)
    dtypes: dict[str, Any] = {KEY: "int64", "period": "int64", "echelon": "int64"}
    dtypes.update({c: "float64" for c in QUANTITY_COLUMNS})
    return frame.astype(dtypes)


def _columns_frame(ledger: Any, replication: int) -> pd.DataFrame:
    import pandas as pd

    layout = ledger.layout
    n, p = layout.size, ledger.periods
    data: dict[str, Any] = {
        KEY: np.full(p * n, replication, dtype=np.int64),
        "period": np.repeat(np.arange(p, dtype=np.int64), n),
        "node": np.tile(np.asarray(layout.nodes, dtype=object), p),
        "sku": np.tile(np.asarray(layout.skus, dtype=object), p),
        "tier": np.tile(np.asarray(layout.tiers, dtype=object), p),
        "echelon": np.tile(np.asarray(layout.echelons, dtype=np.int64), p),
    }
    block = ledger.columns(QUANTITY_COLUMNS)
    data.update({name: block[name].ravel() for name in QUANTITY_COLUMNS})
    return pd.DataFrame(data)


def _check_columns(df: pd.DataFrame, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"ledger table lacks column(s) {missing}; it has {list(df.columns)}")


def tier_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Tier rows: node rows summed per (replication, period, tier), checked against the network.

    Columns: replication, period, tier, echelon (the smallest echelon of the tier's nodes), nodes
    (how many), then the quantity and cost columns summed. Raises ReconciliationError when in some
    period the tiers' ``total_cost`` does not sum to the network's (e.g. a node row without a tier).
    """
    if KEY not in df.columns:
        df = df.assign(**{KEY: 0})
    _check_columns(df, ("period", "node", "tier", "echelon", *QUANTITY_COLUMNS))
    grouped = df.groupby([KEY, "period", "tier"], sort=True)
    tiers = grouped[list(QUANTITY_COLUMNS)].sum()
    tiers.insert(0, "nodes", grouped["node"].nunique())  # locations (a node has rows per SKU)
    tiers.insert(0, "echelon", grouped["echelon"].min())
    tiers = tiers.reset_index()

    network = df.groupby([KEY, "period"], sort=True)["total_cost"].sum()
    by_period = tiers.pivot(index=[KEY, "period"], columns="tier", values="total_cost")
    by_period = by_period.reindex(network.index)
    names = [str(t) for t in by_period.columns]
    for (replication, period), parts, total in zip(
        network.index, by_period.to_numpy(), network.to_numpy(), strict=True
    ):
        present = [(name, float(v)) for name, v in zip(names, parts, strict=True) if v == v]
        try:
            check_totals(int(period), present, float(total))
        except ReconciliationError as exc:
            raise ReconciliationError(f"replication {replication}: {exc}") from None
    return tiers
