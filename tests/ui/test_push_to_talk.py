"""Push-to-talk in the cockpit, through Pilot: the real key, the real VoiceService, sounddevice, tiny.en
and pyttsx3; only the sound card is replaced.

The hardware boundary (``AudioRig``): PortAudio's default device is an ALSA ``asym`` whose capture side
reads a FIFO the test speaks into (the stream blocks until audio arrives, like a microphone in a quiet
room) and whose playback side writes into a FIFO that a thread drains at about half real time, like a
loudspeaker (its pipe is shrunk to 4 KB, so playback cannot run ahead).  PortAudio is re-initialised
with HOME pointing at that ALSA config for each test and restored afterwards.  The 30 s cap is driven
by the cockpit's injected ManualClock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.ui.app import JarvisApp
from jarvis_tui.ui.status_bar import StatusBar
from jarvis_tui.voice.events import VoiceLevel, VoiceStateChanged
from jarvis_tui.voice.ptt import PttState, StopReason
from jarvis_tui.voice.settings import VoiceSettings
from tests.ui.conftest import NODE_SPECS, make_config
from tests.ui.pilot_helpers import wait_for, wait_ready

pytestmark = pytest.mark.slow

SIZE = (160, 48)
RATE = 16000
GPU_QUESTION = "Jarvis, what is the temperature of the GPU?"
SPOKEN_ANSWER = "No GPU telemetry."  # what the cockpit says to that question when no GPU monitor runs
F_SETPIPE_SZ = 1031
DRAIN_BYTES, DRAIN_EVERY_S = 1024, 0.05  # ~20 KB/s: a 22050 Hz mono int16 loudspeaker at half speed


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


@pytest.fixture(scope="module")
def question_pcm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The question spoken by espeak-ng, raw 16 kHz mono S16_LE (no dither: the same clip every run)."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        pytest.fail("espeak-ng and sox are needed: apt-get install -y espeak-ng sox")
    folder = tmp_path_factory.mktemp("ptt-speech")
    subprocess.run([espeak, "-s", "140", "-w", str(folder / "q22.wav"), GPU_QUESTION], check=True,
                   capture_output=True)
    subprocess.run([sox, "-D", str(folder / "q22.wav"), "-r", str(RATE), "-c", "1", "-b", "16", "-t", "raw",
                    "-e", "signed-integer", str(folder / "q.raw")], check=True, capture_output=True)
    return (folder / "q.raw").read_bytes()


class AudioRig:
    """A microphone the test speaks into and a loudspeaker that plays at a bounded speed."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.home.mkdir(parents=True)
        mic, speaker = root / "mic.fifo", root / "speaker.fifo"
        os.mkfifo(mic)
        os.mkfifo(speaker)
        (self.home / ".asoundrc").write_text(
            f'pcm.micin {{ type file; slave.pcm "null"; file "/dev/null"; infile "{mic}"; format "raw" }}\n'
            f'pcm.speaker {{ type file; slave.pcm "null"; file "{speaker}"; format "raw" }}\n'
            'pcm.!default { type asym;\n'
            '  capture.pcm { type plug; slave { pcm "micin"; format S16_LE; rate 16000; channels 1 } }\n'
            '  playback.pcm { type plug; slave { pcm "speaker"; format S16_LE; rate 22050; channels 1 } } }\n')
        # Read-write opens never block, and keep each FIFO open whatever ALSA does with its own end.
        self.mic_fd: int | None = os.open(mic, os.O_RDWR)
        self.speaker_fd = os.open(speaker, os.O_RDWR | os.O_NONBLOCK)
        fcntl.fcntl(self.mic_fd, F_SETPIPE_SZ, 1 << 20)
        fcntl.fcntl(self.speaker_fd, F_SETPIPE_SZ, 4096)
        self.played = 0  # bytes the loudspeaker has taken
        self._mic_lock = threading.Lock()
        self._stop = threading.Event()
        self._drain = threading.Thread(target=self._play, name="test-loudspeaker", daemon=True)
        self._drain.start()

    def _play(self) -> None:
        while not self._stop.wait(DRAIN_EVERY_S):
            try:
                self.played += len(os.read(self.speaker_fd, DRAIN_BYTES))
            except BlockingIOError:
                pass
            except OSError:
                return

    def say(self, pcm: bytes) -> None:
        """Audio reaches the microphone, all of it in one write (from a thread, so the event loop never waits).

        The pipe holds 1 MB, so the write lands whole before the capture wakes up: a read that found
        half of it would come back short, and ALSA's file plugin fills the rest of that block with silence.
        """

        def write() -> None:
            with self._mic_lock:
                if self.mic_fd is not None:
                    os.write(self.mic_fd, pcm)

        threading.Thread(target=write, daemon=True).start()

    def unplug(self) -> None:
        """End of input: a stream blocked on an empty FIFO could not be closed."""
        with self._mic_lock:
            if self.mic_fd is not None:
                os.close(self.mic_fd)
                self.mic_fd = None

    def close(self) -> None:
        self.unplug()
        self._stop.set()
        self._drain.join(2)
        os.close(self.speaker_fd)


@pytest.fixture
def rig(tmp_path: Path) -> Any:
    import sounddevice as sd

    rig = AudioRig(tmp_path / "audio")
    home = os.environ.get("HOME")
    os.environ["HOME"] = str(rig.home)  # PortAudio (ALSA) reads ~/.asoundrc when it initialises
    sd._terminate()
    sd._initialize()
    try:
        yield rig
    finally:
        rig.unplug()
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home
        # Closes any stream still open (a failed test's speech) while the loudspeaker still drains, so the
        # audio thread is never left blocked on a full pipe; only then does the rig go away.
        sd._terminate()
        sd._initialize()
        rig.close()


def voice_app(tmp_path: Path, settings: VoiceSettings, **kwargs: Any) -> JarvisApp:
    name, kind, model, weight = NODE_SPECS[0]
    # No node needs to answer here: a closed port is a node that is down, and the cockpit carries on.
    config = make_config([(name, kind, model, weight, "http://127.0.0.1:9")], tmp_path / "jarvis.db",
                         sections={"voice": settings})
    return JarvisApp(config, services=frozenset({"voice"}), **kwargs)


@asynccontextmanager
async def cockpit(app: JarvisApp, rig: AudioRig) -> AsyncIterator[Any]:
    async with app.run_test(size=SIZE) as pilot:
        try:
            yield pilot
        finally:
            rig.unplug()  # before the app closes the stream, even when the test failed


def bar_text(app: JarvisApp) -> str:
    bar = app.query_one(StatusBar)
    return "".join(strip.text for strip in bar.render_lines(bar.region.reset_offset))


def voice_of(app: JarvisApp) -> Any:
    return app.services.voice


async def voice_ready(pilot: Any) -> None:
    app = pilot.app
    await wait_ready(pilot)
    await wait_for(pilot, lambda: app.services.voice is not None and voice_of(app).stt.ready
                   and app.status_bar.state.voice == "voice: ready", 60, "voice ready")


def assert_heard_the_question(transcript: Any) -> None:
    # tiny.en writes "of the GPU" or "on the GPU" depending on the silence around the clip (the pre-roll, the
    # moment of the key press): a near tie.  The words that matter, and the command, are what is checked.
    assert "temperature" in transcript.text and "GPU" in transcript.text, transcript.text
    assert transcript.command is not None and transcript.command.action == "read_gpu_temps", transcript


def reasons(subscription: Any) -> list[tuple[str, str]]:
    seen = []
    while (event := subscription.get_nowait()) is not None:
        if isinstance(event, VoiceStateChanged):
            seen.append((event.state, event.reason))
    return seen


async def test_press_starts_recording_and_press_again_stops_and_transcribes(rig, question_pcm, tmp_path):
    # silence_s is long: only the key ends this recording.  Voice is off at start: the first press turns it on.
    app = voice_app(tmp_path, VoiceSettings(silence_s=10.0))
    states = app.bus.subscribe(VoiceStateChanged)
    levels = app.bus.subscribe(VoiceLevel)
    async with cockpit(app, rig) as pilot:
        await wait_ready(pilot)
        assert "ctrl+t to talk" in app.status_bar.state.voice and "REC" not in bar_text(app)

        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.status_bar.state.recording, 30, "recording")
        voice = voice_of(app)
        assert voice.state is PttState.RECORDING
        assert app.status_bar.state.voice.startswith("voice: recording")
        assert "● REC" in bar_text(app)

        # The first 1.92 s of the question (a whole number of capture blocks, mid-word), then the rest: in
        # between, the meter shows the voice.
        split = 4 * 7680 * 2
        rig.say(question_pcm[:split])
        await wait_for(pilot, lambda: voice.capture.recorded_s >= split / 2 / RATE, 20, "speech captured")
        await wait_for(pilot, lambda: app.status_bar.state.voice_level > 0.5, 5, "the level meter")
        assert "▮▮▮▮▮" in bar_text(app)
        assert any(isinstance(e, VoiceLevel) and e.level > 0.5 for e in iter(levels.get_nowait, None))
        rig.say(question_pcm[split:] + silence(0.5))
        clip_s = len(question_pcm) / 2 / RATE
        await wait_for(pilot, lambda: voice.capture.recorded_s >= clip_s, 20, "the question captured")
        await pilot.pause(0.2)
        assert voice.state is PttState.RECORDING  # still recording: speech alone does not stop it

        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: voice.last_transcript is not None, 60, "transcript")
        assert voice.ptt.last_stop_reason is StopReason.PRESSED
        assert_heard_the_question(voice.last_transcript)
        # the command ran: the cockpit answers (and says it aloud)
        await wait_for(pilot, lambda: any(n.message == SPOKEN_ANSWER for n in app._notifications), 10, "answer")
        await wait_for(pilot, lambda: voice.state is PttState.IDLE and not app.status_bar.state.recording, 30,
                       "back to idle")
        assert "REC" not in bar_text(app)
    seen = reasons(states)
    assert ("recording", "pressed") in seen
    assert seen.index(("recording", "pressed")) < seen.index(("transcribing", "pressed")) \
        < seen.index(("idle", "transcribed"))


async def test_recording_stops_by_itself_after_silence(rig, question_pcm, tmp_path):
    app = voice_app(tmp_path, VoiceSettings(enabled=True, silence_s=1.2))
    states = app.bus.subscribe(VoiceStateChanged)
    async with cockpit(app, rig) as pilot:
        await voice_ready(pilot)
        voice = voice_of(app)
        rig.say(silence(0.6))  # the room before the key goes down: the pre-roll
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.status_bar.state.recording, 10, "recording")

        rig.say(question_pcm + silence(1.5))  # the user speaks, then stops talking; nobody presses
        await wait_for(pilot, lambda: voice.last_transcript is not None, 60, "transcript")
        assert voice.ptt.last_stop_reason is StopReason.SILENCE
        assert_heard_the_question(voice.last_transcript)
        await wait_for(pilot, lambda: not app.status_bar.state.recording, 10, "status bar")
        assert "REC" not in bar_text(app)
    assert ("transcribing", "silence") in reasons(states)


async def test_recording_is_capped_at_30_seconds(rig, question_pcm, tmp_path):
    clock = ManualClock()
    # No silence timeout to speak of: only the cap can end this recording.
    app = voice_app(tmp_path, VoiceSettings(enabled=True, silence_s=600.0, max_record_s=30.0), clock=clock)
    states = app.bus.subscribe(VoiceStateChanged)
    async with cockpit(app, rig) as pilot:
        await voice_ready(pilot)
        voice = voice_of(app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.status_bar.state.recording, 10, "recording")
        rig.say(question_pcm)  # then the microphone goes quiet without ending (a stalled device, or a pause)
        clip_s = len(question_pcm) / 2 / RATE
        await wait_for(pilot, lambda: voice.capture.recorded_s >= clip_s, 20, "the question captured")

        clock.advance(29.0)
        await wait_for(pilot, lambda: app.status_bar.state.voice == "voice: recording 29 s", 5, "29 s shown")
        assert voice.state is PttState.RECORDING and "● REC" in bar_text(app)

        clock.advance(1.0)
        await wait_for(pilot, lambda: voice.state is not PttState.RECORDING, 5, "the cap")
        assert voice.ptt.last_stop_reason is StopReason.MAX_LENGTH
        await wait_for(pilot, lambda: voice.last_transcript is not None, 60, "transcript")
        assert_heard_the_question(voice.last_transcript)  # what was said before the cap is kept
        await wait_for(pilot, lambda: not app.status_bar.state.recording, 10, "status bar")
    assert ("transcribing", "max_length") in reasons(states)


async def test_a_press_while_the_answer_is_spoken_interrupts_it_and_listens(rig, question_pcm, tmp_path):
    app = voice_app(tmp_path, VoiceSettings(enabled=True, silence_s=1.2))
    states = app.bus.subscribe(VoiceStateChanged)
    async with cockpit(app, rig) as pilot:
        await voice_ready(pilot)
        voice = voice_of(app)
        full_answer = voice.speaker.synthesize(SPOKEN_ANSWER, tmp_path / "answer.wav").stat().st_size - 44

        rig.say(silence(0.6))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.status_bar.state.recording, 10, "recording")
        rig.say(question_pcm + silence(1.5))
        # the question ends by itself, the command runs, and the cockpit speaks its answer
        await wait_for(pilot, lambda: voice.state is PttState.SPEAKING and rig.played > 0, 60, "speaking")
        # The status bar hears of it over the bus, a frame later (it read 'voice: ready' in ~1 run of 8).
        await wait_for(pilot, lambda: app.status_bar.state.voice == "voice: speaking", 5, "status bar speaking")

        await pilot.press("ctrl+t")
        assert voice.state is PttState.RECORDING  # listening again at once
        await wait_for(pilot, lambda: not voice.speaker.speaking, 10, "speech stopped")
        played = rig.played
        await pilot.pause(0.5)
        assert rig.played - played <= 8192  # at most what was already queued in the device and the pipe
        assert rig.played < full_answer / 2
        await wait_for(pilot, lambda: app.status_bar.state.recording, 5, "status bar recording")
        assert "● REC" in bar_text(app)
    seen = reasons(states)
    speaking = seen.index(("speaking", "speaking"))
    assert seen[speaking + 1:speaking + 3] == [("idle", "interrupted"), ("recording", "pressed")]
