"""Write the tiny synthetic demand data set used by ``scenarios/demand_series.yaml``.

Two 'weeks of history' of daily demand for the stores ``north`` and ``south``: Poisson counts
around a weekly profile (busier at weekends), seeded, so the files are reproducible. File 0 is a
wide CSV (one column per node), file 1 the same kind of data as a long Parquet table
(period, node, demand): the scenario uses both as an evaluation set (replication i reads file i).

    python scenarios/data/make_demand_series.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
PERIODS = 56
PROFILE = np.array([0.8, 0.9, 0.9, 1.0, 1.1, 1.4, 1.2])  # Monday .. Sunday
MEANS = {"north": 12.0, "south": 7.0}


def history(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day = np.arange(PERIODS)
    data = {"period": day}
    for node, mean in MEANS.items():
        data[node] = rng.poisson(mean * PROFILE[day % 7])
    return pd.DataFrame(data)


if __name__ == "__main__":
    history(1).to_csv(HERE / "demand_series_0.csv", index=False)
    long = history(2).melt(id_vars="period", var_name="node", value_name="demand")
    long.to_parquet(HERE / "demand_series_1.parquet", index=False)
