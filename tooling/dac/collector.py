"""Garbage-collector settings for dac's own processes: the command line and its test workers.

A command is one short process whose objects (syntax trees, table schemas, parsed YAML) mostly live
until it ends. At the collector's default thresholds (a young collection every 700 allocations, the
older generations every 10 of those) it scans them again and again: 0.2 CPU-s of 2.6 for the tests of
300 detections, three full collections among them. Young collections every 10,000 allocations leave
about a third of that; cyclic garbage is still collected, a little later (bench/suite.py's peak memory
is unchanged).
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 10_000


def tune_for_short_process() -> None:
    """Collect less often than Python's defaults, for a process that ends when its one job does."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
