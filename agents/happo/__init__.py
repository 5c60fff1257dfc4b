"""HAPPO (Kuba et al. 2022): per-node actors with a centralised critic, updated one after another;
the inference agent ``happo``."""
