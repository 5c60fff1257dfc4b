"""Array backends of the vector twin: NumPy, or torch tensors on a device.

The vector twin's kernel (:mod:`twin.rl.vector`) is written once against the few operations below,
so the same lines step NumPy arrays (``device=None``) or ``float64`` torch tensors on a device
(``device="cpu"`` or ``"cuda"``). Everything is ``float64``: the twin's flows are compared with the
event twin's to 1e-9. torch is imported only when a torch backend is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any
"""A ``numpy.ndarray`` or a ``torch.Tensor`` (of the backend in use)."""


class NumpyBackend:
    """Plain NumPy arrays (``float64``; indices ``intp``)."""

    name = "numpy"
    device = None

    def zeros(self, *shape: int) -> Array:
        return np.zeros(shape)

    def full(self, shape: tuple[int, ...], value: float) -> Array:
        return np.full(shape, value, dtype=float)

    def asarray(self, values: Any) -> Array:
        """Float data from host values (lists, NumPy arrays)."""
        return np.asarray(values, dtype=float)

    def index(self, values: Any) -> Array:
        """An integer index array from host values."""
        return np.asarray(values, dtype=np.intp)

    def to_numpy(self, x: Array) -> np.ndarray:
        return np.asarray(x)

    def minimum(self, a: Array, b: Array) -> Array:
        return np.minimum(a, b)

    def maximum(self, a: Array, b: Array) -> Array:
        return np.maximum(a, b)

    def clip_low(self, a: Array, low: float) -> Array:
        """``max(a, low)`` elementwise with a scalar ``low``."""
        return np.maximum(a, low)

    def clip_high(self, a: Array, high: float) -> Array:
        """``min(a, high)`` elementwise with a scalar ``high``."""
        return np.minimum(a, high)

    def where(self, condition: Array, a: Array | float, b: Array | float) -> Array:
        return np.where(condition, a, b)

    def cumsum(self, a: Array, axis: int) -> Array:
        return np.cumsum(a, axis=axis)

    def sum(self, a: Array, axis: int) -> Array:
        return a.sum(axis=axis)

    def floor(self, a: Array) -> Array:
        return np.floor(a)

    def sqrt(self, a: Array) -> Array:
        return np.sqrt(a)

    def any(self, a: Array) -> bool:
        return bool(a.any())

    def take(self, a: Array, index: Array | slice, axis: int) -> Array:
        if isinstance(index, slice):  # a contiguous range: a view
            return a[(slice(None),) * axis + (index,)]
        return a.take(index, axis=axis)

    def select(self, values: list[int]) -> Array | slice:
        """An index for :meth:`take`: a slice when ``values`` is a contiguous ascending range."""
        return _range(values) or self.index(values)

    def concatenate(self, arrays: list[Array], axis: int) -> Array:
        return np.concatenate(arrays, axis=axis)

    def stack(self, arrays: list[Array], axis: int) -> Array:
        return np.stack(arrays, axis=axis)

    def float32(self, a: Array) -> Array:
        return a.astype(np.float32)


class TorchBackend:
    """``torch.float64`` tensors on ``device`` (indices ``torch.long``)."""

    name = "torch"

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: torch sees no CUDA device")

    def zeros(self, *shape: int) -> Array:
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def full(self, shape: tuple[int, ...], value: float) -> Array:
        return self.torch.full(shape, value, dtype=self.torch.float64, device=self.device)

    def asarray(self, values: Any) -> Array:
        if isinstance(values, self.torch.Tensor):
            return values.to(device=self.device, dtype=self.torch.float64)
        return self.torch.as_tensor(
            np.asarray(values, dtype=float), dtype=self.torch.float64, device=self.device
        )

    def index(self, values: Any) -> Array:
        if isinstance(values, self.torch.Tensor):
            return values.to(device=self.device, dtype=self.torch.long)
        return self.torch.as_tensor(np.asarray(values, dtype=np.int64), device=self.device)

    def to_numpy(self, x: Array) -> np.ndarray:
        return x.detach().cpu().numpy()

    def minimum(self, a: Array, b: Array) -> Array:
        return self.torch.minimum(a, b)

    def maximum(self, a: Array, b: Array) -> Array:
        return self.torch.maximum(a, b)

    def clip_low(self, a: Array, low: float) -> Array:
        return self.torch.clamp(a, min=low)

    def clip_high(self, a: Array, high: float) -> Array:
        return self.torch.clamp(a, max=high)

    def where(self, condition: Array, a: Array | float, b: Array | float) -> Array:
        return self.torch.where(condition, a, b)

    def cumsum(self, a: Array, axis: int) -> Array:
        return self.torch.cumsum(a, dim=axis)

    def sum(self, a: Array, axis: int) -> Array:
        return a.sum(dim=axis)

    def floor(self, a: Array) -> Array:
        return self.torch.floor(a)

    def sqrt(self, a: Array) -> Array:
        return self.torch.sqrt(a)

    def any(self, a: Array) -> bool:
        return bool(a.any())

    def take(self, a: Array, index: Array | slice, axis: int) -> Array:
        if isinstance(index, slice):
            return a[(slice(None),) * axis + (index,)]
        return self.torch.index_select(a, axis, index)

    def select(self, values: list[int]) -> Array | slice:
        return _range(values) or self.index(values)

    def concatenate(self, arrays: list[Array], axis: int) -> Array:
        return self.torch.cat(arrays, dim=axis)

    def stack(self, arrays: list[Array], axis: int) -> Array:
        return self.torch.stack(arrays, dim=axis)

    def float32(self, a: Array) -> Array:
        return a.to(self.torch.float32)


Backend = NumpyBackend | TorchBackend


def _range(values: list[int]) -> slice | None:
    """``slice(a, b)`` when ``values`` is ``[a, a + 1, ..., b - 1]``, else None."""
    if values and list(values) == list(range(values[0], values[0] + len(values))):
        return slice(values[0], values[0] + len(values))
    return None


def backend(device: str | None) -> Backend:
    """NumPy for ``device=None``, else torch ``float64`` tensors on ``device``."""
    if device is None:
        return NumpyBackend()
    if not isinstance(device, str):
        device = str(device)
    return TorchBackend(device)
