"""Reconciliation: the per-period ledger (columns), its costs and audit, KPIs, rewards, the event
trace and the reports.

Everything on a run's path works on NumPy arrays and writes tables through pyarrow; pandas appears
only at the edge, for analysis (:mod:`reconciliation.tables`, the what-if tables).
"""

from reconciliation.ledger import LEDGER_COLUMNS, LedgerRow

__all__ = ["LEDGER_COLUMNS", "LedgerRow"]
