"""Microphone capture: 16 kHz mono int16 through sounddevice (PortAudio).

While voice is enabled the input stream stays open and the last
``preroll_s`` of audio sits in a ring buffer, so a recording starts with the
syllable spoken while the key went down.  The end of an utterance is decided
per audio block, on the audio's own timeline (samples, not wall time): a
file-backed test device delivers audio much faster than real time, and the
length cap must hold there too.

The same per-block levels mark where speech paused: once ``speech_tail_s`` of
quiet follows speech, the recording's length at that block is its *cut*
(whisper gets the audio up to there) and ``on_pause`` is told, so the owner
can start whisper before the key is pressed.  Speech after the cut clears it.

Every failure to get audio (no sounddevice, no PortAudio library, no input
device, a device that will not open) becomes ``VoiceUnavailable`` with a one-line
reason; nothing here raises a PortAudio traceback at the user.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jarvis_tui.voice.ptt import EndpointDetector, StopReason
from jarvis_tui.voice.settings import VoiceSettings

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

BLOCK_S = 0.03  # 30 ms blocks: fine-grained enough for the meter and the silence timer
METER_FLOOR_DB = -60.0


class VoiceUnavailable(Exception):
    """Audio cannot be captured or played; ``str()`` is one line that says why."""


def import_sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError:
        raise VoiceUnavailable("sounddevice is not installed: pip install 'jarvis-tui[voice]'") from None
    except OSError:
        # sounddevice raises OSError at import when libportaudio is missing.
        raise VoiceUnavailable("PortAudio library not found: install libportaudio2 "
                               "(apt) or portaudio (brew)") from None
    return sounddevice


def _device_list(sd: Any) -> list[dict[str, Any]]:
    try:
        return [dict(d, index=i) for i, d in enumerate(sd.query_devices())]
    except sd.PortAudioError as exc:
        raise VoiceUnavailable(f"cannot list audio devices: {exc}") from None


def find_device(sd: Any, wanted: str | int | None, kind: str) -> int | None:
    """The PortAudio index for ``wanted`` (index or name substring); None = the system default."""
    channels = "max_input_channels" if kind == "input" else "max_output_channels"
    candidates = [d for d in _device_list(sd) if d[channels] > 0]
    if not candidates:
        return _no_device(kind)
    if wanted is None:
        try:
            sd.query_devices(kind=kind)
            return None
        except (sd.PortAudioError, ValueError):
            return int(candidates[0]["index"])  # no default set, but a device exists
    names = ", ".join(f"{d['index']}: {d['name']}" for d in candidates)
    if isinstance(wanted, int):
        if any(d["index"] == wanted for d in candidates):
            return wanted
        raise VoiceUnavailable(f"{kind} device {wanted} not found; {kind} devices: {names}")
    for device in candidates:
        if wanted.casefold() in str(device["name"]).casefold():
            return int(device["index"])
    raise VoiceUnavailable(f"no {kind} device matches '{wanted}'; {kind} devices: {names}")


def _no_device(kind: str) -> int | None:
    raise VoiceUnavailable(f"no {kind} device")


def meter_value(rms: float) -> float:
    """RMS (fraction of full scale) -> 0..1 on a dB scale, what a level meter should show."""
    if rms <= 0:
        return 0.0
    db = 20.0 * math.log10(rms)
    return max(0.0, min(1.0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB))


@dataclass(frozen=True, slots=True)
class Recording:
    samples: np.ndarray  # int16 mono
    sample_rate: int
    reason: StopReason
    speech_detected: bool
    preroll_s: float
    # The recording up to speech_tail_s after its last speech (None: speech until the stop, or the tail
    # is off), and which recording it was: what whisper gets, and what an early start was given.
    cut_frames: int | None = None
    recording_id: int = 0

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    @property
    def speech_samples(self) -> np.ndarray:
        """What whisper gets: the samples up to the cut, else all of them."""
        return self.samples[: self.cut_frames] if self.cut_frames else self.samples


EndedCallback = Callable[[StopReason], None]
PauseCallback = Callable[[int, int], None]  # (recording_id, cut_frames)


class AudioCapture:
    """One input stream; records between ``start_recording`` and ``stop_recording``.

    ``on_ended`` is called from the audio thread, once, when a recording ends by
    itself (silence, the cap, the device going away); the owner marshals it to
    its own loop.
    """

    def __init__(self, settings: VoiceSettings, *, on_ended: EndedCallback | None = None,
                 on_pause: PauseCallback | None = None) -> None:
        self.settings = settings
        self.rate = settings.sample_rate
        self.on_ended = on_ended
        self.on_pause = on_pause
        self._stream: Any = None
        self._lock = threading.Lock()
        self._preroll: collections.deque[np.ndarray] = collections.deque()
        self._preroll_frames = 0
        self._preroll_limit = int(settings.preroll_s * self.rate)
        self._chunks: list[np.ndarray] = []
        self._recording = False
        self._recorded_preroll_s = 0.0
        self._ended: StopReason | None = None
        self._detector = EndpointDetector(silence_s=settings.silence_s, max_s=settings.max_record_s,
                                          threshold=settings.energy_threshold)
        self.rms = 0.0
        self.blocks_seen = 0
        self.recording_id = 0
        self._frames = 0  # in the current recording, pre-roll included
        self._quiet_frames = 0  # since the last block at or above energy_threshold
        self._tail_frames = round(settings.speech_tail_s * self.rate)
        self._cut: int | None = None

    # ------------------------------------------------------------ state
    @property
    def is_open(self) -> bool:
        return self._stream is not None

    @property
    def is_recording(self) -> bool:
        return self._recording

    @property
    def recorded_s(self) -> float:
        """Audio in the current recording so far, pre-roll included."""
        with self._lock:
            return sum(len(c) for c in self._chunks) / self.rate

    @property
    def meter(self) -> float:
        return meter_value(self.rms)

    # ------------------------------------------------------------ stream
    def open(self) -> None:
        """Open and start the input stream (idempotent); VoiceUnavailable with the reason."""
        if self._stream is not None:
            return
        sd = import_sounddevice()
        device = find_device(sd, self.settings.input_device, "input")
        try:
            stream = sd.InputStream(device=device, samplerate=self.rate, channels=1, dtype="int16",
                                    blocksize=max(1, int(BLOCK_S * self.rate)), callback=self._on_audio,
                                    finished_callback=self._on_stream_finished)
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise VoiceUnavailable(f"cannot open the input device: {str(exc).splitlines()[0]}") from None
        self._stream = stream

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a dead device must not raise into the UI
                pass
        self.rms = 0.0

    # ------------------------------------------------------------ recording
    def start_recording(self) -> None:
        """Arm the recording, seeded with the pre-roll; opens the stream if it is closed."""
        with self._lock:
            self._chunks = list(self._preroll)
            self._frames = sum(len(c) for c in self._chunks)
            self._recorded_preroll_s = self._frames / self.rate
            self._quiet_frames = 0
            self._cut = None
            self.recording_id += 1
            self._preroll.clear()
            self._preroll_frames = 0
            self._detector.reset()
            self._ended = None
            self._recording = True
        if self._stream is None:
            try:
                self.open()
            except VoiceUnavailable:
                self._recording = False
                raise

    def stop_recording(self, reason: StopReason = StopReason.PRESSED) -> Recording:
        import numpy as np

        with self._lock:
            chunks, self._chunks = self._chunks, []
            self._recording = False
            ended = self._ended or reason
            speech = self._detector.speech_seen
            cut = self._cut
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Recording(samples=samples, sample_rate=self.rate, reason=ended, speech_detected=speech,
                         preroll_s=self._recorded_preroll_s, cut_frames=cut, recording_id=self.recording_id)

    def snapshot(self, recording_id: int, frames: int) -> np.ndarray | None:
        """The first ``frames`` samples of the recording in progress; None if that is not recording ``recording_id``
        or it is shorter (the samples are the same ones ``stop_recording`` will return: chunks are only appended)."""
        import numpy as np

        with self._lock:
            if not self._recording or recording_id != self.recording_id or self._frames < frames:
                return None
            chunks = list(self._chunks)
        return np.concatenate(chunks)[:frames]

    def wait_until_ended(self, timeout: float) -> StopReason | None:
        """Block until the recording ends by itself (tests and the headless face)."""
        done = threading.Event()
        previous = self.on_ended

        def mark(reason: StopReason) -> None:
            if previous:
                previous(reason)
            done.set()

        self.on_ended = mark
        try:
            if self._ended is None:
                done.wait(timeout)
            return self._ended
        finally:
            self.on_ended = previous

    # ------------------------------------------------------------ audio thread
    def _on_audio(self, indata: Any, frames: int, _time: Any, _status: Any) -> None:
        import numpy as np

        block = indata[:, 0].copy()
        self.blocks_seen += 1
        rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) / 32768.0 if frames else 0.0
        self.rms = rms
        ended: StopReason | None = None
        with self._lock:
            if not self._recording:
                if self._preroll_limit:
                    self._preroll.append(block)
                    self._preroll_frames += len(block)
                    while self._preroll and self._preroll_frames - len(self._preroll[0]) >= self._preroll_limit:
                        self._preroll_frames -= len(self._preroll.popleft())
                return
            if self._ended is not None:
                return  # ended by itself; ignore audio until the owner collects it
            self._chunks.append(block)
            self._frames += len(block)
            reason = self._detector.update(rms, frames / self.rate)
            paused: tuple[int, int] | None = None
            if rms >= self.settings.energy_threshold:
                self._quiet_frames, self._cut = 0, None  # speech (again): no cut before it
            else:
                self._quiet_frames += len(block)
                if (self._tail_frames and self._cut is None and self._detector.speech_seen
                        and self._quiet_frames >= self._tail_frames):
                    self._cut = self._frames
                    paused = (self.recording_id, self._cut)
            if reason is not None:
                self._ended = ended = reason
        if paused is not None and self.on_pause and ended is None:
            self.on_pause(*paused)
        if ended is not None and self.on_ended:
            self.on_ended(ended)

    def _on_stream_finished(self) -> None:
        with self._lock:
            fire = self._recording and self._ended is None
            if fire:
                self._ended = StopReason.DEVICE
        if fire and self.on_ended:
            self.on_ended(StopReason.DEVICE)
