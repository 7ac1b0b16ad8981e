"""Whisper alone, `[voice] keep_whisper_memory` on and off: time, page faults, CPU and RSS per transcript.

Each setting runs in its own child process (glibc's ``mallopt`` is process-wide and cannot be undone), the
two alternating ``--rounds`` times.  A child loads ``SpeechToText`` (tiny.en int8, CPU) as the service does,
then, on a worker thread as the service's whisper thread, transcribes the bench clip (the voice bench's
"Jarvis, what is the capital of France?" with its 0.5 s pre-roll and 0.6 s pause) twice to warm up and
``--runs`` times measured.  Per transcript: the wall time, minor page faults and system / user CPU of the
whole process (all of whisper's threads); RSS after the load and after the runs, and the peak.

Run:  flock /tmp/jarvis-bench.lock .venv/bin/python bench/whisper_memory.py [--rounds 3] [--runs 8]
Needs espeak-ng and sox (speech is generated, never downloaded).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(clip_path: str, keep: bool, runs: int) -> None:
    import resource

    import numpy as np
    from voice_latency import PAUSE_S, PREROLL_S, rss_mb

    from jarvis_tui.voice.settings import VoiceSettings
    from jarvis_tui.voice.stt import SpeechToText

    stt = SpeechToText(VoiceSettings(keep_whisper_memory=keep))
    stt.load()
    rss_loaded = rss_mb()
    clip = np.frombuffer(Path(clip_path).read_bytes(), dtype="<i2")
    audio = np.concatenate([np.zeros(int(PREROLL_S * 16000), np.int16), clip, np.zeros(int(PAUSE_S * 16000), np.int16)])
    result: dict = {}

    def work() -> None:
        for _ in range(2):
            stt.transcribe(audio)
        walls, faults, system, user = [], [], [], []
        for _ in range(runs):
            before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            text = stt.transcribe(audio).text
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_SELF)
            faults.append(after.ru_minflt - before.ru_minflt)
            system.append(after.ru_stime - before.ru_stime)
            user.append(after.ru_utime - before.ru_utime)
        result.update(wall=walls, faults=faults, sys=system, user=user, text=text)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    result.update(kept=stt.memory_kept, rss_loaded=rss_loaded, rss_after=rss_mb(),
                  peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs of child processes")
    parser.add_argument("--runs", type=int, default=8, help="measured transcripts per child")
    parser.add_argument("--child", nargs=2, metavar=("CLIP", "KEEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1] == "1", args.runs)
        return 0

    from voice_latency import make_clip

    os.environ["HF_HUB_OFFLINE"] = "1"
    workdir = Path(tempfile.mkdtemp(prefix="jarvis-whisper-memory-"))
    clip_path = workdir / "clip.raw"
    clip_path.write_bytes(make_clip(workdir))
    results: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(args.rounds):
        for keep in (False, True):
            out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--child", str(clip_path),
                                  "1" if keep else "0"], check=True, capture_output=True, text=True).stdout
            results[keep].append(json.loads(out.strip().splitlines()[-1]))
    print(f"tiny.en int8, {os.cpu_count()} cores, {args.rounds} processes per setting, {args.runs} transcripts each "
          f"(+2 warm-up); load average {os.getloadavg()[0]:.2f} at the end")
    for keep in (False, True):
        runs = results[keep]
        per_process = ", ".join(f"{statistics.median(run['wall']):.3f}" for run in runs)
        pooled = {key: [value for run in runs for value in run[key]] for key in ("wall", "faults", "sys", "user")}
        print(f"keep_whisper_memory = {'true ' if keep else 'false'} (applied: {runs[0]['kept']}): "
              f"wall median {statistics.median(pooled['wall']):.3f} s "
              f"(per process {per_process}), "
              f"page faults {statistics.median(pooled['faults']):.0f}, "
              f"CPU sys {statistics.median(pooled['sys']) * 1000:.0f} ms + user {statistics.median(pooled['user']) * 1000:.0f} ms "
              f"per transcript; RSS {statistics.median(r['rss_loaded'] for r in runs):.0f} MB loaded, "
              f"{statistics.median(r['rss_after'] for r in runs):.0f} MB after the runs, "
              f"peak {statistics.median(r['peak'] for r in runs):.0f} MB; {runs[0]['text']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
