"""Voice latency: push-to-talk release -> TranscriptReady on the bus, model warm.

Measured through the production path: VoiceService with its always-open
sounddevice input stream, the microphone being an ALSA ``file`` plugin fed
from a FIFO (audio arrives when the bench "speaks", as with a real mic), the
warm tiny.en model, the corrections dictionary and the command matcher.

Baseline, same process, same audio: a bare ``WhisperModel.transcribe`` with the
same options, i.e. the floor any wrapper can reach.  Also reports the model's
load time and the process RSS before and after loading it.

Run:  .venv/bin/python bench/voice_latency.py [--runs 10] [--write FILE]
Needs espeak-ng and sox (speech is generated, never downloaded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UTTERANCE = "Jarvis, show me the open positions."
PAUSE_S = 0.6  # silence written after each utterance: the user stops talking, then presses
TARGET_S = 1.0


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(workdir: Path) -> tuple[Path, bytes]:
    wav22, wav = workdir / "u22.wav", workdir / "u.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav22), UTTERANCE], check=True, capture_output=True)
    subprocess.run(["sox", "-D", str(wav22), "-r", "16000", "-c", "1", "-b", "16", str(wav), "pad", "0.2", "0"],
                   check=True, capture_output=True)
    from jarvis_tui.voice.stt import read_wav

    samples, _ = read_wav(wav)
    return wav, samples.astype("<i2").tobytes()


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {statistics.median(values):.3f} s, p90 {p90:.3f} s, min {ordered[0]:.3f} s, max {ordered[-1]:.3f} s"


async def measure_service(clip: bytes, mic_fd: int, runs: int) -> tuple[list[float], list[float], float, str]:
    from jarvis_tui.core.events import EventBus
    from jarvis_tui.voice.events import TranscriptReady
    from jarvis_tui.voice.service import VoiceService
    from jarvis_tui.voice.settings import VoiceSettings

    bus = EventBus()
    transcripts = bus.subscribe(TranscriptReady)
    # silence_s high: only the key press (the "release") ends these recordings
    service = VoiceService(VoiceSettings(enabled=True, silence_s=10.0), bus)
    rss_before = rss_mb()
    if not await service.start():
        raise SystemExit(f"voice did not start: {service.status_text}")
    await service.wait_until_ready()
    load_s, rss_loaded = service.stt.load_s, rss_mb()
    pause = bytes(int(PAUSE_S * 16000) * 2)
    os.write(mic_fd, pause)  # the room is quiet before the first press: the pre-roll fills with silence
    utterance_s = (len(clip) + len(pause)) / 2 / 16000
    wall: list[float] = []
    internal: list[float] = []
    text = ""
    for _ in range(runs + 1):  # the first run warms caches and is dropped
        assert service.press_ptt() == "started"
        preroll_s = service.capture.recorded_s
        threading.Thread(target=os.write, args=(mic_fd, clip + pause), daemon=True).start()
        deadline = time.monotonic() + 30
        while service.capture.recorded_s < preroll_s + utterance_s - 0.03:
            if time.monotonic() > deadline:
                raise SystemExit(f"capture stalled at {service.capture.recorded_s:.2f} s")
            await asyncio.sleep(0.005)
        released = time.perf_counter()
        assert service.press_ptt() == "stopped"
        event = await asyncio.wait_for(transcripts.get(), 30)
        wall.append(time.perf_counter() - released)
        internal.append(event.timings.release_to_transcript_s)
        text = event.text
        while service.state != "idle":
            await asyncio.sleep(0.005)
    os.close(mic_fd)  # end of input first: closing a stream blocked on an empty FIFO would hang
    await service.stop()
    print(f"  model load {load_s:.2f} s; RSS {rss_before:.0f} MB before voice, {rss_loaded:.0f} MB with the model",
          file=sys.stderr)
    return wall[1:], internal[1:], load_s, f"{text!r} ({rss_before:.0f} -> {rss_loaded:.0f} MB RSS)"


def measure_baseline(audio_int16: bytes, runs: int) -> tuple[list[float], str]:
    from faster_whisper import WhisperModel

    from jarvis_tui.voice.settings import VoiceSettings
    import numpy as np

    from jarvis_tui.voice.stt import resolve_model_path

    model = WhisperModel(str(resolve_model_path(VoiceSettings())), device="cpu", compute_type="int8")
    audio = np.frombuffer(audio_int16, dtype="<i2").astype(np.float32) / 32768.0
    times: list[float] = []
    text = ""
    for _ in range(runs + 1):
        started = time.perf_counter()
        segments, _ = model.transcribe(audio, language="en", beam_size=1, temperature=0.0, hotwords="Jarvis",
                                       condition_on_previous_text=False, without_timestamps=True)
        text = " ".join(s.text.strip() for s in segments)
        times.append(time.perf_counter() - started)
    return times[1:], text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--write", help="write the results as markdown to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="jarvis-voice-bench-"))
    wav, clip = make_clip(workdir)
    fifo = workdir / "mic.fifo"
    os.mkfifo(fifo)
    home = workdir / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.wavin {{ type file; slave.pcm "null"; file "/dev/null"; infile "{fifo}"; format "raw" }}\n'
        'pcm.!default { type plug; slave { pcm "wavin"; format S16_LE; rate 16000; channels 1 } }\n')
    os.environ["HOME"] = str(home)  # before sounddevice is imported: PortAudio reads ~/.asoundrc then
    os.environ["HF_HUB_OFFLINE"] = "1"
    mic_fd = os.open(fifo, os.O_RDWR)
    clip_s = len(clip) / 2 / 16000

    wall, internal, load_s, service_text = asyncio.run(measure_service(clip, mic_fd, args.runs))
    # The very audio the service recorded: pre-roll (silence), the utterance, the pause.
    silence = bytes(int(0.5 * 16000) * 2)
    baseline, baseline_text = measure_baseline(silence + clip + bytes(int(PAUSE_S * 16000) * 2), args.runs)
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    overhead = statistics.median(wall) - statistics.median(baseline)
    verdict = "meets" if statistics.median(wall) <= TARGET_S else "MISSES"
    lines = [
        f"utterance: {clip_s:.2f} s of espeak-ng speech, {args.runs} runs (+1 warm-up), tiny.en int8 on CPU",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"jarvis   release -> TranscriptReady (wall): {stats(wall)}",
        f"jarvis   same, measured inside the service:  {stats(internal)}",
        f"baseline bare WhisperModel.transcribe:       {stats(baseline)}",
        f"overhead over the baseline (medians): {overhead * 1000:+.0f} ms; target <= {TARGET_S:.1f} s: {verdict}",
        f"model load: {load_s:.2f} s; transcript: {service_text}; peak RSS of the whole run {peak_mb:.0f} MB",
        f"baseline transcript: {baseline_text!r}",
    ]
    print("\n".join(lines))
    if args.write:
        Path(args.write).write_text(render_markdown(lines))
    return 0


def render_markdown(lines: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f"""# Voice latency benchmark

What it measures: the time from the push-to-talk release (the second key press)
to `TranscriptReady` on the event bus, for a ~3 s utterance, with tiny.en
already warm.  The path is the production one: `VoiceService` with its
always-open sounddevice input stream (an ALSA `file` plugin reading a FIFO
stands in for the microphone), faster-whisper, the corrections dictionary and
the rapidfuzz command matcher.  The baseline is a bare
`WhisperModel.transcribe` on the same audio with the same options, in the same
process: the floor any wrapper can reach.  Target: <= 1.0 s.

Reproduce (needs espeak-ng and sox):

    .venv/bin/python bench/voice_latency.py --runs 10

Results:

{body}
"""


if __name__ == "__main__":
    sys.exit(main())
