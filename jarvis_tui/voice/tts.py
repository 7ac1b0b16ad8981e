"""Speaking answers: pyttsx3 synthesises to a temporary WAV, sounddevice plays it.

pyttsx3 drives espeak-ng on Linux, SAPI5 on Windows and NSSpeech on macOS.
Its ``say()`` is not used: on Linux it shells out to ``aplay`` (absent on many
machines, and not interruptible), and it overwrites the last saved file.
``save_to_file`` + ``runAndWait`` is reliable, and playing the WAV ourselves
through PortAudio makes speech stoppable mid-word (the push-to-talk key does it).

pyttsx3's drivers ``print()`` to stdout ("Audio saved to ..."), which is the
terminal the cockpit draws on.  Redirecting ``sys.stdout`` from a worker thread
would swallow the UI's own writes for that moment, so instead the drivers'
module-level ``print`` is shadowed with a no-op once they are loaded.

Long answers are summarised before speaking: by an optional async summariser
(``voice.llm.node_summarizer`` asks ``[voice] summary_node``), else, when there
is none or it is slow, fails or answers too long, by taking the first sentences
that fit.
"""

from __future__ import annotations

import re
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis_tui.voice.capture import VoiceUnavailable, find_device, import_sounddevice
from jarvis_tui.voice.llm import within
from jarvis_tui.voice.settings import VoiceSettings

Summarizer = Callable[[str, int], Awaitable[str]]  # (text, max_chars) -> summary

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


# ------------------------------------------------------------------ text preparation


def speakable_text(text: str) -> str:
    """Markdown and code removed: what a person would read aloud."""
    text = re.sub(r"```.*?(```|$)", " ", text, flags=re.S)  # code blocks are not read aloud
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links -> their label
    text = re.sub(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+", "", text, flags=re.M)
    text = re.sub(r"[*_~|]+", " ", text)
    text = re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text)  # model output: no control characters reach the engine
    return re.sub(r"\s+", " ", text).strip()


def summarize_for_speech(text: str, max_chars: int) -> str:
    """The first sentences that fit in ``max_chars``; a cut first sentence ends with '…'."""
    clean = speakable_text(text)
    if len(clean) <= max_chars:
        return clean
    summary = ""
    for sentence in _SENTENCE_END.split(clean):
        candidate = f"{summary} {sentence}".strip()
        if len(candidate) > max_chars:
            break
        summary = candidate
    if not summary:
        cut = clean[:max_chars].rsplit(" ", 1)[0]
        summary = cut.rstrip(",;:") + "…"
    return summary


async def prepare_speech(text: str, max_chars: int, summarizer: Summarizer | None = None,
                         timeout_s: float = 3.0) -> str:
    """What to say for an answer: as is when short, else summarised (LLM when given, with a timeout)."""
    clean = speakable_text(text)
    if len(clean) <= max_chars:
        return clean
    if summarizer is not None:
        try:
            summary = speakable_text(await within(summarizer(clean, max_chars), timeout_s))
            if summary and len(summary) <= 2 * max_chars:
                return summary
        except Exception:  # noqa: BLE001 - a slow or failing summariser falls back to extraction
            pass
    return summarize_for_speech(clean, max_chars)


# ------------------------------------------------------------------ speaker


@dataclass(frozen=True, slots=True)
class PlaybackResult:
    total_s: float
    played_s: float
    interrupted: bool


def _silence_driver_prints() -> None:
    for name, module in list(sys.modules.items()):
        if name.startswith("pyttsx3.drivers.") and module is not None:
            module.print = _discard  # type: ignore[attr-defined]


def _discard(*_args: Any, **_kwargs: Any) -> None:
    return None


class Speaker:
    """Synthesises and plays one utterance at a time; ``stop()`` interrupts from any thread."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._engine_lock = threading.Lock()  # pyttsx3 engines are not thread-safe
        self._stop = threading.Event()
        self._speaking = threading.Event()
        self.last_synth_s = 0.0

    @property
    def speaking(self) -> bool:
        return self._speaking.is_set()

    def _get_engine(self) -> Any:
        if self._engine is None:
            try:
                import pyttsx3
            except ImportError:
                raise VoiceUnavailable("pyttsx3 is not installed: pip install 'jarvis-tui[voice]'") from None
            try:
                engine = pyttsx3.init()
            except Exception as exc:  # noqa: BLE001 - driver load failures are many types
                raise VoiceUnavailable(f"no speech engine: {exc or type(exc).__name__} "
                                       "(Linux: apt-get install espeak-ng libespeak-ng1)") from None
            _silence_driver_prints()
            if self.settings.tts_rate:
                engine.setProperty("rate", self.settings.tts_rate)
            if self.settings.tts_voice:
                voice = self._find_voice(engine, self.settings.tts_voice)
                if voice is not None:
                    engine.setProperty("voice", voice)
            self._engine = engine
        return self._engine

    @staticmethod
    def _find_voice(engine: Any, wanted: str) -> str | None:
        wanted_folded = wanted.casefold()
        for voice in engine.getProperty("voices"):
            names = [str(voice.id), str(voice.name or "")]
            names += [str(lang) for lang in (getattr(voice, "languages", None) or [])]
            if any(wanted_folded == n.casefold() or n.casefold().endswith("/" + wanted_folded) for n in names):
                return voice.id
        for voice in engine.getProperty("voices"):
            if wanted_folded in f"{voice.id} {voice.name}".casefold():
                return voice.id
        return None

    def synthesize(self, text: str, path: str | Path) -> Path:
        """Write ``text`` as a WAV at ``path`` (22050 Hz mono with espeak-ng)."""
        path = Path(path)
        started = time.perf_counter()
        with self._engine_lock:
            engine = self._get_engine()
            engine.save_to_file(text, str(path))
            engine.runAndWait()
        self.last_synth_s = time.perf_counter() - started
        if not path.is_file() or path.stat().st_size <= 44:
            raise VoiceUnavailable("the speech engine wrote no audio")
        return path

    def play(self, samples: Any, rate: int, *, on_progress: Callable[[float], None] | None = None) -> PlaybackResult:
        """Play int16 mono ``samples``; returns when done or when ``stop()`` was called.

        ``on_progress(seconds_played)`` runs on the audio thread after each block.
        """
        import numpy as np

        sd = import_sounddevice()
        device = find_device(sd, self.settings.output_device, "output")
        audio = np.asarray(samples, dtype=np.int16)
        total = len(audio)
        position = 0
        done = threading.Event()

        def feed(outdata: Any, frames: int, _time: Any, _status: Any) -> None:
            nonlocal position
            if self._stop.is_set():
                outdata.fill(0)
                raise sd.CallbackAbort
            chunk = audio[position:position + frames]
            outdata[: len(chunk), 0] = chunk
            outdata[len(chunk):] = 0
            position += len(chunk)
            if on_progress is not None:
                on_progress(position / rate)
            if position >= total:
                raise sd.CallbackStop

        self._speaking.set()
        try:
            stream = sd.OutputStream(device=device, samplerate=rate, channels=1, dtype="int16",
                                     callback=feed, finished_callback=done.set)
            with stream:
                deadline = total / rate + 5.0
                while not done.wait(0.05):
                    deadline -= 0.05
                    if deadline <= 0 or self._stop.is_set():
                        break
        except sd.PortAudioError as exc:
            raise VoiceUnavailable(f"cannot play audio: {str(exc).splitlines()[0]}") from None
        finally:
            self._speaking.clear()
        return PlaybackResult(total_s=total / rate, played_s=min(position, total) / rate,
                              interrupted=self._stop.is_set() and position < total)

    def speak(self, text: str, *, on_progress: Callable[[float], None] | None = None) -> PlaybackResult:
        """Synthesise and play ``text`` (blocking; run it in a worker thread)."""
        from jarvis_tui.voice.stt import read_wav

        self._stop.clear()
        self._speaking.set()  # speaking from the caller's point of view, synthesis included
        try:
            with tempfile.TemporaryDirectory(prefix="jarvis-tts-") as tmp:
                wav = self.synthesize(text, Path(tmp) / "reply.wav")
                if self._stop.is_set():
                    return PlaybackResult(total_s=0.0, played_s=0.0, interrupted=True)
                samples, rate = read_wav(wav)
            return self.play(samples, rate, on_progress=on_progress)
        finally:
            self._speaking.clear()

    def stop(self) -> None:
        self._stop.set()
