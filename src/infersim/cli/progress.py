"""Progress on stderr for long commands: a line per chip, and a bar with time left for sweeps.
Nothing is printed when stderr is not a terminal, except a line per 10 % of a sweep."""

from __future__ import annotations

import math
import sys
import time


def chip_progress(i: int, n: int, name: str) -> None:
    if sys.stderr.isatty():
        print(f"\r[{i + 1}/{n}] {name:<32}", end="", file=sys.stderr, flush=True)


def end_progress() -> None:
    if sys.stderr.isatty():
        print("\r" + " " * 48 + "\r", end="", file=sys.stderr, flush=True)


class SweepProgress:
    """A progress bar with time left on a terminal; a line per 10 % otherwise."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled, self.t0, self.next_pct = total, enabled, time.perf_counter(), 10

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        self.update(done)

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        frac = done / self.total
        el = time.perf_counter() - self.t0
        left = el / frac - el if frac > 0 else math.nan
        if sys.stderr.isatty():
            bar = "#" * int(30 * frac)
            print(f"\r[{bar:<30}] {100 * frac:5.1f}%  {done:,}/{self.total:,} points  {left:6.1f} s left",
                  end="", file=sys.stderr, flush=True)
            if done >= self.total:
                print(file=sys.stderr)
        elif 100 * frac >= self.next_pct or done >= self.total:
            print(f"{100 * frac:.0f}% of {self.total:,} points, {left:.1f} s left", file=sys.stderr, flush=True)
            self.next_pct = 10 * (int(100 * frac) // 10) + 10
