"""First paint: process start -> first frame of `jarvis` vs a minimal 5-pane Textual app, same run.

Both run on a 160x48 pseudo-terminal (the real Linux driver); "first frame" is
the moment the last pane title appears in the terminal output ("5 Positions" for jarvis,
"pane-5" for the baseline: the last pane it draws).  Runs alternate so machine
noise hits both alike; run 0 of each warms the page and bytecode caches and is
discarded (see ``cockpit_rig.bench_env``).  Target: <= 1.3x.

    .venv/bin/python bench/first_paint.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cockpit_rig import PYTHON, ROOT, LoopbackCluster, PtyProcess, baseline_script, bench_env, temp_folder, \
    write_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    folder = temp_folder()
    cluster = LoopbackCluster()
    config = write_config(cluster.urls, folder)
    env = bench_env(folder)
    jarvis = [str(ROOT / ".venv/bin/jarvis"), "--config", str(config)]
    baseline = [PYTHON, str(baseline_script(folder))]
    times: dict[str, list[float]] = {"jarvis": [], "baseline": []}
    try:
        for run in range(args.runs + 1):  # run 0 warms the page cache and is discarded
            for name, argv, marker in (("baseline", baseline, b"pane-5"), ("jarvis", jarvis, b"5 Positions")):
                proc = PtyProcess(argv, env)
                try:
                    elapsed = proc.wait_for(marker)
                finally:
                    proc.stop()
                if run:
                    times[name].append(elapsed)
    finally:
        cluster.close()
    j, b = statistics.median(times["jarvis"]), statistics.median(times["baseline"])
    print(f"first paint, median of {args.runs}: jarvis {j * 1000:.0f} ms, minimal 5-pane app {b * 1000:.0f} ms, "
          f"ratio {j / b:.2f}x (target <= 1.3x)")
    for name in ("jarvis", "baseline"):
        runs = sorted(round(t * 1000) for t in times[name])
        print(f"{name} runs ms (sorted): {runs}, range {runs[0]}-{runs[-1]}")
    ratios = sorted(j_run / b_run for j_run, b_run in zip(times["jarvis"], times["baseline"], strict=True))
    print(f"per-run ratios (same run): median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}-{ratios[-1]:.2f}x")
    return 0 if j / b <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
