"""First paint: process start -> first frame of `jarvis` vs a minimal 5-pane Textual app, same run.

Both run on a 160x48 pseudo-terminal (the real Linux driver); "first frame" is
the moment the last pane title appears in the terminal output ("5 Positions" for jarvis,
"pane-5" for the baseline: the last pane it draws).  Runs alternate so machine
noise hits both alike; run 0 of each warms the page and bytecode caches and is
discarded (see ``cockpit_rig.bench_env``); it also runs 1.5 s past its first frame, so `jarvis` writes its
parsed-CSS cache as any earlier session would have (jarvis_tui/ui/css_cache.py).  Target: <= 1.3x.

    .venv/bin/python bench/first_paint.py [--runs 7] [--compare DIR]

``--compare DIR`` also starts `jarvis` from another checkout (``DIR`` on PYTHONPATH, e.g. a ``git archive`` of
the code before a change), in the same runs, so a change is judged against its own baseline on the same load.
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
    parser.add_argument("--compare", metavar="DIR", help="also run `jarvis` from this source tree (PYTHONPATH=DIR)")
    args = parser.parse_args()
    folder = temp_folder()
    cluster = LoopbackCluster()
    config = write_config(cluster.urls, folder)
    env = bench_env(folder)
    jarvis = [str(ROOT / ".venv/bin/jarvis"), "--config", str(config)]
    baseline = [PYTHON, str(baseline_script(folder))]
    # The console script's editable install may point at another checkout: this tree's code is the one measured.
    own = dict(env, PYTHONPATH=str(ROOT))
    apps = [("baseline", baseline, b"pane-5", env), ("jarvis", jarvis, b"5 Positions", own)]
    if args.compare:
        # Its own cache folder: each tree keeps its parsed-CSS file, and a save removes the files it does not
        # name (css_cache.py), so two trees whose files are named differently would delete each other's.
        other = dict(env, PYTHONPATH=str(Path(args.compare).resolve()), XDG_CACHE_HOME=str(folder / "cache-compare"))
        apps.append(("compare", jarvis, b"5 Positions", other))
    times: dict[str, list[float]] = {name: [] for name, *_ in apps}
    cpu: dict[str, list[float]] = {name: [] for name, *_ in apps}
    try:
        for run in range(args.runs + 1):  # run 0 warms the page cache and is discarded
            for name, argv, marker, app_env in apps:
                proc = PtyProcess(argv, app_env)
                try:
                    elapsed = proc.wait_for(marker)
                    cpu_s = proc.cpu_s()
                    if not run:  # the warm-up leaves time for what an earlier session leaves behind (CSS cache)
                        proc.drain(1.5)
                finally:
                    proc.stop()
                if run:
                    times[name].append(elapsed)
                    cpu[name].append(cpu_s)
    finally:
        cluster.close()
    j, b = statistics.median(times["jarvis"]), statistics.median(times["baseline"])
    print(f"first paint, median of {args.runs}: jarvis {j * 1000:.0f} ms, minimal 5-pane app {b * 1000:.0f} ms, "
          f"ratio {j / b:.2f}x (target <= 1.3x)")
    for name, values in times.items():
        runs = sorted(round(t * 1000) for t in values)
        print(f"{name} runs ms (sorted): {runs}, range {runs[0]}-{runs[-1]}")
    for name in times.keys() - {"baseline"}:
        ratios = sorted(j_run / b_run for j_run, b_run in zip(times[name], times["baseline"], strict=True))
        print(f"{name}: per-run ratios (same run): median {statistics.median(ratios):.2f}x, "
              f"range {ratios[0]:.2f}-{ratios[-1]:.2f}x")
    print("CPU time to the first frame (all threads), median ms: "
          + ", ".join(f"{name} {statistics.median(cpu[name]) * 1000:.0f}" for name in cpu)
          + f"; jarvis/minimal {statistics.median(cpu['jarvis']) / statistics.median(cpu['baseline']):.2f}x")
    if args.compare:
        cpu_gains = sorted((c_run - j_run) * 1000 for j_run, c_run in zip(cpu["jarvis"], cpu["compare"], strict=True))
        print(f"--compare CPU: this tree uses median {statistics.median(cpu_gains):.0f} ms less per run "
              f"(range {cpu_gains[0]:.0f} to {cpu_gains[-1]:.0f})")
        c = statistics.median(times["compare"])
        gains = sorted((c_run - j_run) * 1000 for j_run, c_run in zip(times["jarvis"], times["compare"], strict=True))
        print(f"--compare {args.compare}: median {c * 1000:.0f} ms, ratio {c / b:.2f}x; this tree faster by "
              f"median {statistics.median(gains):.0f} ms per run (range {gains[0]:.0f} to {gains[-1]:.0f})")
    return 0 if j / b <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
