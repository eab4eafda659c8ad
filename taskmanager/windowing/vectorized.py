"""Window assignment for whole Arrow/numpy batches of timestamps (the vectorized fast path).

Equal, element by element, to the scalar assigners:

    >>> import numpy as np
    >>> tumbling_window_starts(np.array([-1, 0, 9_999, 10_000]), 10_000).tolist()
    [-10000, 0, 0, 10000]
    >>> rows, starts = sliding_window_starts(np.array([7_000]), 10_000, 5_000)
    >>> rows.tolist(), starts.tolist()
    ([0, 0], [5000, 0])

A window's end is ``start + size``. Sliding windows give each row several
windows: ``rows[j]`` is the input row of the window starting at ``starts[j]``,
rows ascending and, within a row, windows latest first (the scalar order).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strom.taskmanager.time.timestamps import to_millis_array


def tumbling_window_starts(timestamps: Any, size: int, offset: int = 0) -> np.ndarray:
    """The start of each timestamp's tumbling window, as int64."""
    ts = to_millis_array(timestamps, "window timestamps")
    return ts - (ts - offset) % size


def sliding_window_starts(timestamps: Any, size: int, slide: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, starts)``: every (row, window start) pair of the sliding windows, as int64."""
    ts = to_millis_array(timestamps, "window timestamps")
    last_start = ts - (ts - offset) % slide
    per_row = -(-size // slide)  # ceil: the most windows a timestamp can be in
    starts = last_start[:, None] - np.arange(per_row, dtype=np.int64)[None, :] * slide
    inside = starts > (ts - size)[:, None]
    rows = np.nonzero(inside)[0].astype(np.int64, copy=False)
    return rows, starts[inside]
