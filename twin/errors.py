"""Re-export of the error tree (defined in :mod:`entities.errors` so every layer can raise it)."""

from __future__ import annotations

from entities.errors import ReconciliationError, ScenarioError, TwinError, UnknownAgentError

__all__ = ["ReconciliationError", "ScenarioError", "TwinError", "UnknownAgentError"]
