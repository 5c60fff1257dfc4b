"""Entities of the twin: messages, distributions, nodes, lanes and demand.

Entities import only ``simpy`` and ``numpy``: never ``agents``, ``reconciliation`` or ``twin``.
"""
