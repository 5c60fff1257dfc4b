"""A twin of a running supply chain: state and history from a database or Parquet files.

:mod:`twin.live.tables` (the table layout), :mod:`twin.live.store` (SQLAlchemy databases, SQLite by
default, and Parquet folders), :mod:`twin.live.state` (a starting state as of a date),
:mod:`twin.live.history` (demand, orders, receipts and stock per period), :mod:`twin.live.fit` and
:mod:`twin.live.calibrate` (demand and lead-time laws by maximum likelihood),
:mod:`twin.live.backtest` (replaying the records, and a policy on them), :mod:`twin.live.writeback`
(a run's results in one transaction) and :mod:`twin.live.sample` (sample data with known truth).

A layer beside :mod:`twin.studies` and :mod:`twin.rl`: it uses the engine and the scenario, and the
commands (:mod:`twin.run`, :mod:`twin.compare`, :mod:`twin.calibrate`, :mod:`twin.backtest`) use it.
"""
