"""The project's one error tree.

``TwinError`` is the root; user mistakes (a bad scenario, an unknown agent) are subclasses that the
CLIs turn into one-line messages and exit status 2, never a traceback.
"""

from __future__ import annotations


class TwinError(Exception):
    """Base class of every error the twin raises on purpose."""


class ScenarioError(TwinError, ValueError):
    """A scenario file or override is invalid. The message names the file, the YAML path and value."""


class UnknownAgentError(TwinError, KeyError):
    """An agent kind is not registered. The message suggests close names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ReconciliationError(TwinError, AssertionError):
    """A ledger identity failed: the message names the node or lane, the period and the numbers."""


class DataError(TwinError, ValueError):
    """A state or history table (a database, a Parquet file) is invalid: the message names the
    source, the table row, the column and the value."""
