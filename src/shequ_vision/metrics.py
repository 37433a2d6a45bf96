"""Per-camera counters of the engine (issue 5, "Operation"): what a worker reports for each camera.

Plain numbers, written by one camera thread and read by others: each field is a single attribute
assignment, which is atomic in CPython, so readers see a value that was true at some moment
without a lock; `as_dict()` copies them for JSON.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Metrics:
    frames_decoded: int = 0
    frames_analysed: int = 0
    detector_calls: int = 0
    detector_seconds: float = 0.0
    firings: int = 0
    last_error: str = ""
    started_at: float = field(default_factory=time.time)  # epoch seconds

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["detector_seconds"] = round(self.detector_seconds, 3)
        # Derived here so every consumer (API, worker log, bench) computes it the same way.
        data["detector_ms_per_call"] = (
            round(1000 * self.detector_seconds / self.detector_calls, 1) if self.detector_calls else None
        )
        return data
