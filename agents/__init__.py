"""Agents: the decision makers of the twin.

:mod:`agents.base` holds the protocol and the observation/decision types; :mod:`agents.rules` the
built-in rule policies. Agents are created by name through :mod:`agents.registry`.
"""

from agents.base import Agent, Observation, OrderDecision, order

__all__ = ["Agent", "Observation", "OrderDecision", "order"]
