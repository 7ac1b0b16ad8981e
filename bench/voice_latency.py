"""Voice latency: push-to-talk release -> the transcript on screen in the cockpit, model warm.

The clock starts when the second push-to-talk press (the "release": terminals
report no key releases) is posted to the real cockpit as the ``Key`` event
the driver's input thread would post, and stops when the first frame that
shows the transcript has been serialised for the terminal.

What runs is the production path, in one process: ``JarvisApp`` under
Textual's Pilot at 160x48 on the real orchestrator with all its services
(commander, GPU monitor, paper trading, voice), one loopback node in a child
process answering the chat, and the cockpit's own ``VoiceService``: its
always-open sounddevice input stream (the microphone is an ALSA ``file``
plugin reading a FIFO, so audio arrives when the bench "speaks", as with a
real mic), tiny.en int8 warm, the corrections dictionary, the command matcher.
The utterance is not a command, so the cockpit does what it does with any
such transcript: the text appears in the chat as the user's prompt and goes
to the commander.

"On screen": Pilot's headless driver composes every frame but skips turning
it into terminal output.  As in ``bench/key_latency.py``, every frame is
serialised with ``render_segments`` exactly as ``App._display`` does for a
real terminal; the bench also applies each frame to a character grid (the
terminal's picture of the screen) and stops the clock at the first frame
after which a row of that grid holds the transcript's text.  The chat is
cleared between runs, so an earlier run's text never counts.  Not included:
the writer thread's write() to the tty and the terminal's own drawing.

Two microphones, interleaved in every round (``--mic`` picks one):

* ``instant``: the bench writes the utterance and the pause into the FIFO at
  once, and the file plugin hands it over faster than real time (a 4 s clip in
  a few ms); the key is posted as soon as the pause is in.  In wall time the
  user presses the moment the audio ends, so whisper cannot start before the
  release.  This is how earlier results on docs/benchmarks.md were measured.
* ``realtime``: the bench writes one 30 ms block each 30 ms, when a real mic
  would deliver it, and posts the key when the last block of the pause is in:
  the user stops talking and presses ``PAUSE_S`` later, i.e. ``PAUSE_S`` plus
  the clip's own quiet ending after the last block louder than
  ``energy_threshold`` (the bench prints that gap).  With ``[voice]
  speech_tail_s`` (default 0.4 s) whisper starts that long after the speech,
  before the key, so this mode shows what the early start gains for a user who
  pauses that long; it gains nothing for a quicker press.

Also measured in the same run: release -> ``TranscriptReady`` as the service
times it, whether the early whisper run was used, and per run the time on screen minus whisper's own time
(what jarvis adds around whisper: the key -> whisper start, and whisper's end -> the frame); the model's load
time; the process RSS with the cockpit up and voice off (after 8 s, as ``bench/idle_rss.py``), then with the
model loaded.

Baseline, same process, same audio: a bare ``WhisperModel.transcribe`` with the
same options on its own ``WhisperModel`` (loaded after the RSS figures), i.e. the
floor any wrapper can reach.  It runs interleaved with the cockpit runs, on a
worker thread while the cockpit stays up (as the service's whisper thread
does), so both see the same machine: this box is shared, and its load moves
between runs.  Whisper's own time inside the service is reported as well.  The
baseline is faster-whisper as a user would call it (its default threads) with
the service's decode options, started when the audio is complete; the service
gives whisper the recording up to ``speech_tail_s`` after the speech, which
takes the same time (the encoder always sees 30 s).

Run:  flock /tmp/jarvis-bench.lock .venv/bin/python bench/voice_latency.py [--runs 10] [--write FILE]
          [--mic instant|realtime|both] [--pause 0.6] [--speech-tail-s S (0: whisper only after the release)]
Needs espeak-ng and sox (speech is generated, never downloaded).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from cockpit_rig import LoopbackCluster, write_config  # noqa: E402

UTTERANCE = "Jarvis, what is the capital of France?"  # ~3.3 s; no command: it goes to the chat
PAUSE_S = 0.6  # silence written after each utterance: the user stops talking, then presses (--pause)
BLOCK = 480  # samples in the capture's 30 ms blocks
PERIOD = 2 * BLOCK  # what the ALSA file plugin reads from the FIFO at a time
PREROLL_S = 0.5  # [voice] preroll_s default: the service keeps this much audio from before the press
SIZE = (160, 48)
IDLE_S = 8.0  # the cockpit settles this long before its idle RSS is read
TARGET_S = 1.0


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(workdir: Path) -> bytes:
    wav22, wav = workdir / "u22.wav", workdir / "u.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav22), UTTERANCE], check=True, capture_output=True)
    subprocess.run(["sox", "-D", str(wav22), "-r", "16000", "-c", "1", "-b", "16", str(wav), "pad", "0.2", "0"],
                   check=True, capture_output=True)
    from jarvis_tui.voice.stt import read_wav

    samples, _ = read_wav(wav)
    return samples.astype("<i2").tobytes()


def speech_end_gap_s(clip: bytes, threshold: float = 0.01) -> float:
    """Quiet at the end of the clip after its last 30 ms block at or above the energy threshold."""
    import numpy as np

    samples = np.frombuffer(clip, dtype="<i2")
    blocks = samples[: len(samples) // BLOCK * BLOCK].reshape(-1, BLOCK).astype(np.float64) / 32768
    loud = np.nonzero(np.sqrt((blocks ** 2).mean(axis=1)) >= threshold)[0]
    return (len(samples) - (int(loud[-1]) + 1) * BLOCK) / 16000


def speak_in_real_time(fd: int, data: bytes) -> None:
    """Write ``data`` 60 ms at a time, each piece when a real microphone would have it complete.

    The ALSA file plugin reads the FIFO one 60 ms period at a time here, and fills what a read finds
    missing with zeros: 30 ms writes doubled the audio with silence.  60 ms writes (1920 bytes, under
    PIPE_BUF, so each is one read) came back bit-identical and in real time; ``run_once`` checks the length.
    """
    started = time.perf_counter()
    step = PERIOD * 2
    for offset in range(0, len(data), step):
        delay = started + (offset // 2 + PERIOD) / 16000 - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        os.write(fd, data[offset: offset + step])


def stats_ms(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {statistics.median(values) * 1000:+.0f} ms, min {ordered[0] * 1000:+.0f} ms, "
            f"max {ordered[-1] * 1000:+.0f} ms")


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {statistics.median(values):.3f} s, p90 {p90:.3f} s, min {ordered[0]:.3f} s, max {ordered[-1]:.3f} s"


class TerminalGrid:
    """The characters a terminal would show after each frame: LayoutUpdate and ChopsUpdate applied to a grid."""

    def __init__(self, cols: int, rows: int) -> None:
        self.rows = [[" "] * cols for _ in range(rows)]
        self.cols = cols

    def _put(self, x: int, y: int, text: str) -> None:
        from rich.cells import cell_len

        if not 0 <= y < len(self.rows):
            return
        row = self.rows[y]
        for ch in text:
            width = cell_len(ch)
            if 0 <= x < self.cols:
                row[x] = ch
            if width == 2 and 0 <= x + 1 < self.cols:
                row[x + 1] = ""
            x += width

    def apply(self, update: Any) -> None:
        from textual._compositor import ChopsUpdate, LayoutUpdate

        if isinstance(update, LayoutUpdate):
            for y, line in enumerate(update.strips, update.region.y):
                self._put(update.region.x, y, "".join(strip.text for strip in line))
        elif isinstance(update, ChopsUpdate):
            # The same spans and crops as ChopsUpdate.render_segments.
            for y, x1, x2 in update.spans:
                for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
                    if strip is None or x > x2 or end <= x1:
                        continue
                    if not (x2 > x >= x1 and end <= x2):
                        strip = strip.crop(0, min(end, x2) - x)
                    self._put(x, y, strip.text)

    def shows(self, text: str) -> bool:
        return any(text in "".join(row) for row in self.rows)


async def measure_cockpit(config_path: Path, clip: bytes, mic_fd: int, runs: int, mics: list[str],
                          pause_s: float) -> dict[str, Any]:
    from textual import events

    from jarvis_tui.config import load_config
    from jarvis_tui.ui.app import PTT_KEY, JarvisApp
    from jarvis_tui.voice.ptt import PttState

    app = JarvisApp(load_config(str(config_path)))  # every service, as `jarvis` starts them
    grid = TerminalGrid(*SIZE)
    original_display = app._display
    waiting: dict[str, Any] = {}

    def display(screen, renderable):  # type: ignore[no-untyped-def]
        original_display(screen, renderable)
        if renderable is None:
            return
        # What App._display does for a real terminal (headless mode skips it): frame -> escape sequences.
        if hasattr(renderable, "render_segments"):
            renderable.render_segments(app.console)
        else:
            app.console._render_buffer(app.console.render(renderable))
        grid.apply(renderable)
        transcript = waiting.get("voice") and waiting["voice"].last_transcript
        if transcript is not None and "frame" not in waiting and grid.shows(transcript.text):
            waiting["frame"] = time.perf_counter()
            waiting["event"].set()

    app._display = display  # type: ignore[method-assign]

    async def until(condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    screen_s: dict[str, list[float]] = {mic: [] for mic in mics}
    bus_s: dict[str, list[float]] = {mic: [] for mic in mics}
    whisper_s: dict[str, list[float]] = {mic: [] for mic in mics}
    early: dict[str, list[bool]] = {mic: [] for mic in mics}
    baseline_s: list[float] = []
    texts: list[str] = []
    baseline_text = ""
    result: dict[str, Any] = {}
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.services is not None and not app.status_bar.state.starting, 30, "the core")
        await until(lambda: bool(app.query_one("#nodes-table").row_count), 30, "node rows")
        await asyncio.sleep(IDLE_S)  # as bench/idle_rss.py
        rss_idle = rss_mb()
        # With no open position, paper trading leaves ccxt unimported (bench/idle_rss.py --position loads it).
        result["services"] = (f"services unavailable: {app.services.unavailable or 'none'}; "
                              f"ccxt loaded: {'ccxt' in sys.modules}")
        # Voice is off in the config: this is what the first press of the talk key does, minus the recording.
        if not await app.services.start_voice(app.orchestrator):
            raise SystemExit(f"voice did not start: {app.services.voice.status_text}")
        voice = app.services.voice
        await voice.wait_until_ready()
        await until(lambda: app.status_bar.state.voice == "voice: ready", 10, "'voice: ready' in the status bar")
        result.update(load_s=voice.stt.load_s, rss_idle=rss_idle, rss_loaded=rss_mb())
        # the pause rounded so that utterance + pause is whole 60 ms periods: the real-time microphone's last
        # write must be a full one (see speak_in_real_time)
        clip_frames = len(clip) // 2
        periods = max(round((clip_frames + pause_s * 16000) / PERIOD), -(-clip_frames // PERIOD))
        pause = bytes((periods * PERIOD - clip_frames) * 2)
        baseline = Baseline(bytes(int(PREROLL_S * 16000) * 2) + clip + pause)
        os.write(mic_fd, pause)  # the room is quiet before the first press: the pre-roll fills with silence
        utterance_s = (len(clip) + len(pause)) / 2 / 16000
        result["pause_s"] = len(pause) / 2 / 16000

        async def run_once(mic: str) -> None:
            await app.chat.clear()
            # the last run's text gone from the screen, so that only this run's can stop the clock
            await until(lambda: not texts or not grid.shows(texts[-1]), 5, "the chat cleared on screen")
            await pilot.pause(0.2)
            await pilot.press(PTT_KEY)
            await until(lambda: voice.state is PttState.RECORDING, 10, "recording")
            captured_s = voice.capture.recorded_s + utterance_s - 0.03  # the pre-roll, then the utterance
            speak = speak_in_real_time if mic == "realtime" else os.write
            threading.Thread(target=speak, args=(mic_fd, clip + pause), daemon=True).start()
            await until(lambda: voice.capture.recorded_s >= captured_s,
                        30, "the utterance captured")
            voice.last_transcript = None
            done = asyncio.Event()
            waiting.clear()
            waiting.update(voice=voice, event=done)
            released = time.perf_counter()
            app.post_message(events.Key(PTT_KEY, None))
            await asyncio.wait_for(done.wait(), 30)
            transcript = voice.last_transcript
            if transcript.command is not None:
                raise SystemExit(f"{transcript.text!r} matched a command; the bench needs a chat prompt")
            heard_s = transcript.timings.record_s - voice.capture._recorded_preroll_s
            if abs(heard_s - utterance_s) > 0.1:  # e.g. the file plugin padding short reads with silence
                raise SystemExit(f"mic {mic}: recorded {heard_s:.2f} s after the press, wrote {utterance_s:.2f} s")
            screen_s[mic].append(waiting["frame"] - released)
            bus_s[mic].append(transcript.timings.release_to_transcript_s)
            whisper_s[mic].append(transcript.timings.transcribe_s)
            early[mic].append(transcript.timings.early)
            texts.append(transcript.text)
            waiting.clear()
            await until(lambda: voice.state is PttState.IDLE and not app.asking, 30, "the answer")
            await pilot.pause(0.2)

        try:
            for _ in range(runs + 1):  # the first round warms caches and is dropped
                for mic in mics:  # one run per microphone, interleaved, then the baseline
                    await run_once(mic)
                elapsed, baseline_text = await asyncio.to_thread(baseline.transcribe)
                baseline_s.append(elapsed)
        finally:
            os.close(mic_fd)  # end of input first: closing a stream blocked on an empty FIFO would hang
        await app.shutdown()
    result.update(screen={m: v[1:] for m, v in screen_s.items()}, bus={m: v[1:] for m, v in bus_s.items()},
                  whisper={m: v[1:] for m, v in whisper_s.items()}, early={m: v[1:] for m, v in early.items()},
                  baseline=baseline_s[1:], texts=texts[len(mics):], baseline_text=baseline_text)
    return result


class Baseline:
    """A bare WhisperModel on the audio the service transcribes: the pre-roll (silence), the utterance, the pause."""

    def __init__(self, audio_int16: bytes) -> None:
        import numpy as np
        from faster_whisper import WhisperModel

        from jarvis_tui.voice.settings import VoiceSettings
        from jarvis_tui.voice.stt import resolve_model_path

        self.model = WhisperModel(str(resolve_model_path(VoiceSettings())), device="cpu", compute_type="int8")
        self.audio = np.frombuffer(audio_int16, dtype="<i2").astype(np.float32) / 32768.0

    def transcribe(self) -> tuple[float, str]:
        started = time.perf_counter()
        segments, _ = self.model.transcribe(self.audio, language="en", beam_size=1, temperature=0.0,
                                            hotwords="Jarvis", condition_on_previous_text=False,
                                            without_timestamps=True)
        text = " ".join(s.text.strip() for s in segments)
        return time.perf_counter() - started, text


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--write", help="write the results as markdown to this file")
    parser.add_argument("--mic", choices=("instant", "realtime", "both"), default="both",
                        help="how the microphone delivers the audio (see the docstring); both: interleaved")
    parser.add_argument("--pause", type=float, default=PAUSE_S,
                        help="silence after the utterance before the key is pressed (default %(default)s s)")
    parser.add_argument("--speech-tail-s", type=float, default=None,
                        help="[voice] speech_tail_s for the cockpit (default: the product's default; "
                             "0: whisper only starts after the release)")
    args = parser.parse_args()
    mics = ["instant", "realtime"] if args.mic == "both" else [args.mic]

    workdir = Path(tempfile.mkdtemp(prefix="jarvis-voice-bench-"))
    clip = make_clip(workdir)
    fifo = workdir / "mic.fifo"
    os.mkfifo(fifo)
    home = workdir / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.wavin {{ type file; slave.pcm "null"; file "/dev/null"; infile "{fifo}"; format "raw" }}\n'
        'pcm.!default { type plug; slave { pcm "wavin"; format S16_LE; rate 16000; channels 1 } }\n')
    os.environ["HOME"] = str(home)  # before sounddevice is imported: PortAudio reads ~/.asoundrc then
    os.environ["HF_HUB_OFFLINE"] = "1"
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_CONFIG_HOME", "config")):
        os.environ[var] = str(workdir / sub)
    mic_fd = os.open(fifo, os.O_RDWR)
    clip_s = len(clip) / 2 / 16000

    cluster = LoopbackCluster(count=1, tokens=12)
    try:
        config = write_config(cluster.urls, workdir)
        # Voice off at start (so the idle RSS has no model); silence_s high: only the key ends a recording.
        tail = "" if args.speech_tail_s is None else f"speech_tail_s = {args.speech_tail_s}\n"
        config.write_text(config.read_text() + "\n\n[voice]\nenabled = false\nsilence_s = 10.0\n" + tail)
        cockpit = asyncio.run(measure_cockpit(config, clip, mic_fd, args.runs, mics, args.pause))
    finally:
        cluster.close()
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline = cockpit["baseline"]
    from jarvis_tui.voice.settings import VoiceSettings

    tail_s = VoiceSettings().speech_tail_s if args.speech_tail_s is None else args.speech_tail_s
    gap_s = speech_end_gap_s(clip) + cockpit["pause_s"]
    heard = sorted(set(cockpit["texts"]))
    lines = [
        f"date: {datetime.date.today().isoformat()}",
        (f"utterance: {clip_s:.2f} s of espeak-ng speech, {args.runs} runs (+1 warm-up) per microphone, "
         f"tiny.en int8 on CPU; [voice] speech_tail_s = {tail_s:g}"),
        (f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
         f"load average {os.getloadavg()[0]:.2f} at the end"),
    ]
    verdicts = []
    for mic in mics:
        screen = cockpit["screen"][mic]
        # What jarvis adds around whisper in each run; far steadier than the totals on a shared box, whose
        # load moves whisper's own time by tens of ms between runs (negative: whisper started before the key).
        around = [shown - whisper for shown, whisper in zip(screen, cockpit["whisper"][mic], strict=True)]
        if mic == "instant":
            lines.append("mic instant: audio handed over faster than real time, key posted as soon as it is in")
        else:
            lines.append(f"mic realtime: audio in real time, key posted {gap_s:.2f} s after the last block above "
                         f"energy_threshold ({cockpit['pause_s']:.2f} s pause + the clip's {gap_s - cockpit['pause_s']:.2f} s quiet end)")
        lines += [
            f"  cockpit  release -> transcript on screen:   {stats(screen)}",
            f"  cockpit  release -> TranscriptReady (bus):  {stats(cockpit['bus'][mic])}",
            f"  cockpit  whisper inside the service:        {stats(cockpit['whisper'][mic])}",
            f"  cockpit  on screen minus whisper, per run:  {stats_ms(around)}",
            f"  whisper started before the release and used: {sum(cockpit['early'][mic])} of {len(screen)} runs",
        ]
        verdicts.append(f"{mic} {'meets' if statistics.median(screen) <= TARGET_S else 'MISSES'}")
    overheads = ", ".join(f"{mic} {(statistics.median(cockpit['screen'][mic]) - statistics.median(baseline)) * 1000:+.0f} ms"
                          for mic in mics)
    lines += [
        f"baseline bare WhisperModel.transcribe:      {stats(baseline)}",
        f"on screen minus the baseline (medians): {overheads}; target <= {TARGET_S:.1f} s: {', '.join(verdicts)}",
        (f"model load: {cockpit['load_s']:.2f} s; RSS {cockpit['rss_idle']:.0f} MB cockpit up with voice off, "
         f"{cockpit['rss_loaded']:.0f} MB with the model loaded "
         f"(+{cockpit['rss_loaded'] - cockpit['rss_idle']:.0f} MB); peak RSS of the whole run {peak_mb:.0f} MB"),
        cockpit["services"],
        (f"transcript on screen: {', '.join(repr(t) for t in heard)}; "
         f"baseline transcript: {cockpit['baseline_text']!r}"),
    ]
    print("\n".join(lines))
    if args.write:
        Path(args.write).write_text(render_markdown(lines))
    return 0 if all(statistics.median(cockpit["screen"][mic]) <= TARGET_S for mic in mics) else 1


def render_markdown(lines: list[str]) -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f"""# Voice latency benchmark

Release of the push-to-talk key -> the transcript on screen in the cockpit,
~3 s utterance, tiny.en warm; baseline: bare `WhisperModel.transcribe` of the
same audio in the same run.  See the docstring of `bench/voice_latency.py`.

    flock /tmp/jarvis-bench.lock .venv/bin/python bench/voice_latency.py --runs 10

{body}
"""


if __name__ == "__main__":
    sys.exit(main())
