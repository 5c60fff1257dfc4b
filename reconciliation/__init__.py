"""Reconciliation: the per-period ledger, its audit, KPIs, rewards and reports.

Pandas appears only in this package (and the CLIs), never in the event core.
"""

from reconciliation.ledger import LEDGER_COLUMNS, LedgerRow

__all__ = ["LEDGER_COLUMNS", "LedgerRow"]
