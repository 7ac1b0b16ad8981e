"""Idle RSS of the cockpit (no voice model): `jarvis` on five loopback nodes, after start-up settles.

The process runs on a 160x48 pseudo-terminal; RSS is read from /proc after
``--settle`` seconds (health checks done, GPU monitor and trading service
started, nothing asked).  The minimal 5-pane Textual app is measured the same
way for reference.  Target: <= 150 MB.

    .venv/bin/python bench/idle_rss.py [--settle 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cockpit_rig import PYTHON, ROOT, LoopbackCluster, PtyProcess, baseline_script, bench_env, temp_folder, \
    write_config  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()
    folder = temp_folder()
    cluster = LoopbackCluster()
    env = bench_env(folder)
    results = {}
    try:
        config = write_config(cluster.urls, folder)
        for name, argv, marker in (
            ("jarvis", [str(ROOT / ".venv/bin/jarvis"), "--config", str(config)], b"1 Chat"),
            ("baseline", [PYTHON, str(baseline_script(folder))], b"pane-5"),
        ):
            proc = PtyProcess(argv, env)
            try:
                proc.wait_for(marker)
                proc.drain(args.settle)
                results[name] = proc.rss_mb()
            finally:
                proc.stop()
    finally:
        cluster.close()
    print(f"idle RSS after {args.settle:g} s: jarvis {results['jarvis']:.0f} MB "
          f"(minimal 5-pane Textual app {results['baseline']:.0f} MB), target <= 150 MB")
    return 0 if results["jarvis"] <= 150 else 1


if __name__ == "__main__":
    raise SystemExit(main())
