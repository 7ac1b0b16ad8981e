"""Speaking answers: pyttsx3 synthesises to a temporary WAV, sounddevice plays it.

pyttsx3 drives espeak-ng on Linux, SAPI5 on Windows and NSSpeech on macOS.
Its ``say()`` is not used: on Linux it shells out to ``aplay`` (absent on many
machines, and not interruptible), and it overwrites the last saved file.
``save_to_file`` + ``runAndWait`` is reliable once waited for (below), and playing the WAV ourselves
through PortAudio makes speech stoppable mid-word (the push-to-talk key does it).

Two pyttsx3 traps, both met in CI (a WAV missing, or a rate not applied, only
on a loaded machine):

* ``runAndWait()`` does not wait for ``save_to_file``.  pyttsx3 2.99's espeak
  driver initialises espeak-ng in ``AUDIO_OUTPUT_RETRIEVAL`` mode, which is
  asynchronous: synthesis runs on espeak-ng's own thread, the queued
  ``endLoop`` ends the run loop ~10 ms after ``Synth`` was called, and the WAV
  is written when espeak-ng reaches the end of the message.  A long text, or a
  busy CPU, returned before the file existed ("wrote no audio"), and the next
  utterance's rate and file name were set while the last one was still being
  synthesised.  ``synthesize`` therefore waits for the driver's
  ``finished-utterance`` notification, sent after the file is written.
* ``pyttsx3.init()`` hands every caller the same engine per driver (its
  ``_activeEngines`` cache) while one is alive, and espeak-ng has one synthesis
  callback per process.  So every ``Speaker`` shares one engine: one
  module-level lock serialises them, and each applies its own rate and voice
  (or the engine's defaults) before each utterance, so one speaker's settings
  never leak into another's.  In espeak-ng's asynchronous mode a voice change
  applies at once while a rate is queued: with voice and rate changing before
  each utterance, 12 of 29 came out at the other rate.  So espeak-ng is
  synchronised (``espeak_Synchronize``) before a change and before the text is
  queued, and a fresh engine first speaks one throwaway utterance, after the
  settings its driver queued when it was built (without it, one fresh engine
  in three spoke "French, 90 words per minute" at 200).  The engine is then
  kept for the life of the process.

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
# Synthesis: a floor for the wait on the engine, plus time per character (espeak-ng makes ~50x real time).
SYNTH_TIMEOUT_S, SYNTH_S_PER_CHAR = 10.0, 0.05

# pyttsx3's documented default rate, in words per minute: what a Speaker without tts_rate gets.  (The engine
# cannot be asked: the espeak driver's getProperty("rate") reports a stale value.)
DEFAULT_TTS_RATE = 200

# The one pyttsx3 engine all Speakers share (see the module docstring): its lock, the voice it had when first
# seen (what a Speaker without tts_voice gets) and the rate and voice last applied to it.  The dict holds the
# engine for the life of the process: pyttsx3 would otherwise drop it with its last Speaker and build a fresh
# one (and a fresh espeak-ng driver) for the next, each paying the warm-up in Speaker._get_engine.
_ENGINE_LOCK = threading.Lock()
_ENGINE_DEFAULT_VOICE: dict[Any, Any] = {}
_ENGINE_APPLIED: dict[Any, tuple[Any, Any]] = {}


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


def _settle() -> None:
    """Wait until settings queued in espeak-ng (asynchronous mode) are applied; other drivers apply them at once."""
    if "pyttsx3.drivers.espeak" in sys.modules:
        espeak = sys.modules.get("pyttsx3.drivers._espeak")
        if espeak is not None:
            espeak.Synchronize()


def _save(engine: Any, text: str, path: Path) -> bool:
    """``save_to_file`` + ``runAndWait``, then wait until the file is written; False when it never was."""
    finished = threading.Event()
    token = engine.connect("finished-utterance", lambda **_: finished.set())
    try:
        engine.save_to_file(text, str(path))
        engine.runAndWait()
        if getattr(engine, "driver_name", None) != "espeak":
            # SAPI5 and NSSpeech write the file before runAndWait returns (SAPI5 sends no finished-utterance
            # for save_to_file).
            return True
        # espeak-ng's file comes later (asynchronous mode); it is written before finished-utterance is sent.
        return finished.wait(SYNTH_TIMEOUT_S + SYNTH_S_PER_CHAR * len(text)) or _has_audio(path)
    finally:
        engine.disconnect(token)


def _has_audio(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 44  # more than a WAV header


class Speaker:
    """Synthesises and plays one utterance at a time; ``stop()`` interrupts from any thread."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._voice_id: Any = None  # the voice tts_voice names, once found
        self._stop = threading.Event()
        # Bumped by stop(): a speak() asked for before a stop (and still waiting for the speech thread) is
        # dropped instead of clearing that stop and playing anyway.
        self._generation = 0
        self._generation_lock = threading.Lock()
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
            if engine not in _ENGINE_DEFAULT_VOICE:  # a fresh engine: what "no voice set" means from now on
                # Its driver queued its own first settings (espeak-ng: rate 200, volume); espeak_Synchronize
                # is no barrier for commands not started yet (1 fresh engine in 3 then spoke "fr, 90 wpm" at
                # 200).  An utterance is: it runs after them, and its end is notified.
                with tempfile.TemporaryDirectory(prefix="jarvis-tts-") as tmp:
                    _save(engine, ".", Path(tmp) / "warm-up.wav")
                _ENGINE_DEFAULT_VOICE[engine] = engine.getProperty("voice")
            if self.settings.tts_voice:
                self._voice_id = self._find_voice(engine, self.settings.tts_voice)
            self._engine = engine
        return self._engine

    def _apply_settings(self, engine: Any) -> None:
        """This speaker's rate and voice on the shared engine (the engine's defaults where unset)."""
        wanted = (self.settings.tts_rate or DEFAULT_TTS_RATE, self._voice_id or _ENGINE_DEFAULT_VOICE.get(engine))
        applied = _ENGINE_APPLIED.get(engine, (None, None))
        if wanted == applied:
            return
        # espeak-ng switches a voice at once, from this thread: its own thread must be done with the last
        # utterance first (the file is written, and finished-utterance sent, before it has quite finished).
        _settle()
        # The voice first: a voice change may reset the rate on some engines.
        if wanted[1] is not None and wanted[1] != applied[1]:
            engine.setProperty("voice", wanted[1])
            applied = (None, wanted[1])
        if wanted[0] is not None and wanted[0] != applied[0]:
            engine.setProperty("rate", wanted[0])
        _ENGINE_APPLIED[engine] = wanted
        _settle()

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
        with _ENGINE_LOCK:
            engine = self._get_engine()
            self._apply_settings(engine)
            finished = _save(engine, text, path)
        self.last_synth_s = time.perf_counter() - started
        if not finished or not _has_audio(path):
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

    def ticket(self) -> int:
        """Take one when speech is asked for and pass it to ``speak``: a ``stop()`` in between cancels it."""
        return self._generation

    def speak(self, text: str, *, on_progress: Callable[[float], None] | None = None,
              ticket: int | None = None) -> PlaybackResult:
        """Synthesise and play ``text`` (blocking; run it in a worker thread)."""
        from jarvis_tui.voice.stt import read_wav

        with self._generation_lock:
            if ticket is not None and ticket != self._generation:
                return PlaybackResult(total_s=0.0, played_s=0.0, interrupted=True)  # stopped before it began
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
        with self._generation_lock:
            self._generation += 1
            self._stop.set()
