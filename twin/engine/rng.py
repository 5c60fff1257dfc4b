"""Random streams: one ``SeedSequence`` per scenario seed, one ``Generator`` per entity and purpose.

``RandomStreams(seed, replication).generator("S1", "demand")`` is keyed by a stable hash of the names
(``zlib.crc32``, never Python's salted ``hash``), so a stream depends only on (seed, replication,
entity, purpose): adding a node, swapping an agent or changing a policy leaves every other stream's
draws unchanged (common random numbers across what-if variants). Nothing here seeds global state.
"""

from __future__ import annotations

import zlib

import numpy as np


def stable_key(name: str) -> int:
    """A 32-bit key of ``name`` that is the same in every process and Python version."""
    return zlib.crc32(name.encode("utf-8"))


class RandomStreams:
    """Independent, reproducible random generators for one replication of a scenario."""

    def __init__(self, seed: int, replication: int = 0) -> None:
        if seed < 0 or replication < 0:
            raise ValueError(f"seed and replication must be >= 0, got {seed}, {replication}")
        self.seed = seed
        self.replication = replication

    def seed_sequence(self, entity: str, purpose: str) -> np.random.SeedSequence:
        return np.random.SeedSequence(
            entropy=self.seed,
            spawn_key=(self.replication, stable_key(entity), stable_key(purpose)),
        )

    def generator(self, entity: str, purpose: str) -> np.random.Generator:
        """The generator for ``purpose`` (``"demand"``, ``"lead_time"``, ...) of ``entity``."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(entity, purpose)))

    def agent_seed(self, name: str) -> int:
        """An integer seed for an agent's own randomness (passed to ``Agent.reset(seed=...)``)."""
        return int(self.seed_sequence(name, "agent").generate_state(1)[0])
