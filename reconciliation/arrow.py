"""Arrow arrays from NumPy arrays, built from buffers.

``pyarrow.array(numpy_array)`` asks pandas whether the input is one of its types, and so imports
pandas (about 90 MB) even where pandas is never used; building arrays from their buffers does not.
pyarrow itself is imported only when a function here is called (writing a run folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def float64(values: np.ndarray, valid: np.ndarray | None = None) -> Any:
    """A float64 array of ``values`` (null where ``valid`` is False)."""
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), data.size, [_validity(valid), pa.py_buffer(data)])


def int64(values: np.ndarray) -> Any:
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), data.size, [None, pa.py_buffer(data)])


def strings(names: Sequence[str], codes: np.ndarray) -> Any:
    """A string array: ``names[codes[i]]`` for each ``i``."""
    import pyarrow as pa

    encoded = [name.encode("utf-8") for name in names]
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
    codes = np.asarray(codes, dtype=np.intp)
    offsets = np.zeros(codes.size + 1, dtype=np.int64)
    np.cumsum(lengths[codes], out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError(f"{offsets[-1]} bytes of strings in one array; write smaller batches")
    data = b"".join([encoded[c] for c in codes.tolist()])  # no per-byte index arrays
    return pa.Array.from_buffers(
        pa.string(), codes.size, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def dictionary(names: Sequence[str], codes: np.ndarray) -> Any:
    """A dictionary-encoded string array: ``names[codes[i]]`` for each ``i``, held as int32 codes
    into ``names`` (no per-row work; Parquet stores it as dictionary-encoded strings)."""
    import pyarrow as pa

    indices = np.ascontiguousarray(codes, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), indices.size, [None, pa.py_buffer(indices)]),
        strings(names, np.arange(len(names))),
    )


def string_type() -> Any:
    """The Arrow type of :func:`dictionary` arrays."""
    import pyarrow as pa

    return pa.dictionary(pa.int32(), pa.string())


def _validity(valid: np.ndarray | None) -> Any:
    if valid is None or bool(np.all(valid)):
        return None
    import pyarrow as pa

    return pa.py_buffer(np.packbits(np.asarray(valid, dtype=bool), bitorder="little"))
