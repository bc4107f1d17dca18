"""Progress on stderr for long commands (tqdm): a bar over chips, and one over the points of a
sweep with the time left. Shown on a terminal unless -q; off a terminal a sweep logs a line per
10 %."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("infersim")
_BARS: list = []


def _enabled() -> bool:
    return log.isEnabledFor(logging.INFO) and sys.stderr.isatty()


def chip_progress(i: int, n: int, name: str) -> None:
    """Called before item i (of n) named `name` is worked on."""
    if not _enabled():
        return
    from tqdm import tqdm

    if not _BARS or _BARS[0].total != n:
        end_progress()
        _BARS.append(tqdm(total=n, file=sys.stderr, leave=False, unit="chip", dynamic_ncols=True))
    bar = _BARS[0]
    bar.set_postfix_str(name, refresh=False)
    bar.update(i - bar.n)


def end_progress() -> None:
    while _BARS:
        _BARS.pop().close()


class SweepProgress:
    """`progress(points_done, points_total)` for run_sweep: a bar with time left on a terminal; a
    log line per 10 % otherwise."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled, self.next_pct, self.bar = total, enabled, 10, None

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        self.update(done)

    def update(self, done: int) -> None:
        if not self.enabled or not log.isEnabledFor(logging.INFO):
            return
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=self.total, file=sys.stderr, unit="points", unit_scale=True, dynamic_ncols=True)
            self.bar.update(done - self.bar.n)
            if done >= self.total:
                self.bar.close()
            return
        pct = 100 * done / self.total
        if pct >= self.next_pct or done >= self.total:
            log.info(f"{pct:.0f}% of {self.total:,} points")
            self.next_pct = 10 * (int(pct) // 10) + 10
