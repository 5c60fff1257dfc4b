"""Policy checkpoints: a ``state_dict`` plus JSON metadata, read with ``weights_only=True``.

A checkpoint is two files side by side: ``policy.pt`` (tensors, and the metadata again as a JSON
string, so the ``.pt`` file is self-contained) and ``policy.json`` (the metadata, for people and
tools). ``weights_only=True`` unpickles only tensors and plain containers, never code: a checkpoint
from elsewhere cannot run anything when loaded.

Metadata (``FORMAT``, version 1)::

    {"format": "supply-twin-policy", "format_version": 1,
     "algo": "ppo" | "happo",
     "observation": {"name": "hmarl", "params": {...}},   # observation builder (agents.spaces)
     "action": {"name": "hmarl_multiples", "params": {...}},  # action map (agents.spaces)
     "agents": {NODE: {"obs_dim": 7, "action_space": {...}, "lanes": [...]}, ...},
     "network": {"hidden_sizes": [64, 64], "critic_dim": 7, "centralized_critic": false},
     "scenario": {"name": "...", "hash": "sha256:..."},
     "training": {...}, "versions": {"python": ..., "torch": ..., "numpy": ..., "supply_twin": ...}}

The tensors (``payload``) are ``{"state_dict": {...}, "obs_rms": {...}, "metadata_json": str}``;
a trainer's resumable state (optimizer, random states, counters) lives in a separate
``trainer_state.pt`` written by the trainer.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "supply-twin-policy"
FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    """Versions recorded in a checkpoint (python, torch, numpy, this project)."""
    try:
        from importlib.metadata import version

        project = version("supply-twin")
    except Exception:  # noqa: BLE001 - not installed (run from a checkout)
        project = "unknown"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "supply_twin": project,
    }


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, Any],
    *,
    obs_rms: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``path`` (``.pt``) and the metadata beside it (``.json``), each atomically."""
    path = Path(path)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **dict(metadata)}
    meta.setdefault("versions", versions())
    text = json.dumps(meta, indent=2, sort_keys=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "obs_rms": dict(obs_rms or {}),
        "metadata_json": text,
    }
    _atomic_write(path, lambda tmp: torch.save(payload, tmp))
    _atomic_write(
        path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8")
    )
    return path


_CACHE: dict[tuple[str, int, int], tuple[dict[str, Any], dict[str, Any]]] = {}
"""Checkpoints already read, by (path, mtime, size): the twin makes its agents again for every
replication, and a frozen policy inside a training environment is made at every episode."""


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(payload, metadata)`` of the checkpoint at ``path``; ValueError says what is wrong.

    The payload's tensors are shared between calls (callers copy them into their networks)."""
    path = Path(path)
    if path.is_dir():
        path = path / "policy.pt"
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[key] = _read(path)
    payload, metadata = _CACHE[key]
    return payload, json.loads(json.dumps(metadata))


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"checkpoint {str(path)!r} cannot be loaded with weights_only=True: {first}"
        ) from None
    if not isinstance(payload, dict) or "metadata_json" not in payload or "state_dict" not in payload:
        raise ValueError(
            f"checkpoint {str(path)!r} is not a supply-twin policy (expected a dict "
            "with state_dict and metadata_json)"
        )
    try:
        metadata = json.loads(payload["metadata_json"])
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"checkpoint {str(path)!r}: metadata is not JSON ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"checkpoint {str(path)!r}: format {metadata.get('format')!r}, expected {FORMAT!r}"
        )
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r}: format version "
            f"{metadata.get('format_version')!r}; this version reads "
            f"{FORMAT_VERSION}"
        )
    return payload, metadata


def save_trainer_state(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write a trainer's resumable state (tensors and plain data) atomically."""
    _atomic_write(Path(path), lambda tmp: torch.save(dict(state), tmp))


def run_state(trainer: Any) -> dict[str, Any]:
    """The part of a trainer's resumable state that PPO and HAPPO share: the reward normaliser,
    counters, every random state, the batched twin's rows and the policies' memory (the trainer
    adds its networks and optimisers)."""
    return {
        "return_rms": trainer.return_rms.state_dict(),
        "discounted_return": trainer.discounted_return.cpu(),
        "global_step": trainer.global_step,
        "iteration": trainer.iteration_count,
        "torch_rng": torch.get_rng_state(),
        "sampler_rng": trainer.sampler.get_state(),
        "generator_rng": trainer.generator.get_state().cpu(),
        "started": trainer.next_obs is not None,
        "next_done": trainer.next_done.cpu(),
        "memory": [m.cpu() for m in trainer.memory] if trainer.memory is not None else [],
        "envs": trainer.envs.state_dict() if trainer.next_obs is not None else {},
    }


def restore_run_state(trainer: Any, state: Mapping[str, Any]) -> None:
    """Put back what :func:`run_state` recorded, on the trainer's device."""
    from agents.ppo.network import TorchRunningMeanStd

    device = trainer.device
    trainer.return_rms = TorchRunningMeanStd.from_state_dict(state["return_rms"], device)
    trainer.discounted_return = state["discounted_return"].to(device)
    trainer.global_step = int(state["global_step"])
    trainer.iteration_count = int(state["iteration"])
    torch.set_rng_state(state["torch_rng"])
    trainer.sampler.set_state(state["sampler_rng"])
    trainer.generator.set_state(state["generator_rng"])
    if state["started"]:
        trainer.next_obs = trainer.envs.load_state_dict(state["envs"])
        trainer.next_done = state["next_done"].to(device)
        trainer.memory = [m.to(device) for m in state["memory"]]
    else:
        trainer.next_obs, trainer.memory = None, None


def load_trainer_state(path: str | Path) -> dict[str, Any]:
    """Read a trainer state written by :func:`save_trainer_state` (``weights_only=True``)."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"trainer state {str(path)!r} cannot be loaded: {first}") from None
