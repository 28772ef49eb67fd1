"""Time `simulate_study` for 40, 1,000 and 10,000 subjects; prints seconds and rows written."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from cdiscgen.simulate import simulate_study


def main(sizes: list[int]) -> None:
    print(f"{'subjects':>9} {'seconds':>8} {'rows':>10} {'lab rows':>10} {'rows/s':>10}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = simulate_study(Path(tmp) / "raw", subjects=n, seed=20240101, sites=5)
            dt = time.perf_counter() - t0
        rows = sum(res.rows.values())
        print(f"{n:>9} {dt:>8.2f} {rows:>10} {res.rows['central_lab']:>10} {rows / dt:>10.0f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [40, 1000, 10000])
