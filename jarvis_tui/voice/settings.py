"""Settings for the [voice] config table.

Only the standard library is imported here: the headless face loads the config
(and so this module) on every call, and must not pay for numpy or
faster-whisper.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# Whisper models shipped as pip packages (see docs/voice.md); anything else
# must be given as model_path.
PACKAGED_MODELS = ("tiny.en", "base")
WHISPER_DEVICES = ("cpu", "cuda", "auto")
COMPUTE_TYPES = ("int8", "int8_float16", "int8_float32", "int16", "float16", "float32", "default")
# The issue caps a recording at 30 s: whisper's window is 30 s, longer audio
# would be transcribed in several passes and break the latency budget.
MAX_RECORD_CAP_S = 30.0


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    enabled: bool = False
    input_device: str | int | None = None  # index, or a substring of the device name
    output_device: str | int | None = None
    sample_rate: int = 16000
    model_path: str | None = None  # a CTranslate2 whisper folder; wins over `model`
    model: str = "tiny.en"  # one of PACKAGED_MODELS, found in installed model packages
    language: str = "auto"  # "auto" lets whisper detect it; "fr", "en", ...
    device: str = "cpu"  # "cpu", "cuda", or "auto" (cuda when a CUDA device is visible)
    compute_type: str = "int8"
    silence_s: float = 1.2  # trailing silence that ends a recording
    energy_threshold: float = 0.01  # RMS as a fraction of full scale that counts as speech (~ -40 dBFS)
    max_record_s: float = 30.0
    preroll_s: float = 0.5  # audio kept from before the key press, so the first syllable survives
    # Quiet kept after the last speech in what whisper gets.  Once that much quiet follows speech,
    # whisper starts on the recording so far, before the key press (it needs ~1 s of CPU on 2 cores,
    # whatever the clip's length); the result is used when nothing louder than energy_threshold came
    # after it.  0 = off: whisper gets the whole recording, after the stop.  See docs/voice.md.
    speech_tail_s: float = 0.4
    # Keep the memory whisper frees mapped for its next run (glibc's malloc; elsewhere nothing happens).  Each
    # transcription otherwise maps ~300 MB of encoder buffers afresh and the kernel zeroes every page: ~0.2 s
    # of CPU per transcript on 2 cores.  Costs ~60 MB more RSS between transcripts.  See docs/voice.md.
    keep_whisper_memory: bool = True
    wake_word: str = "jarvis"
    command_threshold: float = 80.0  # 0-100 fuzzy score a command needs
    speak_replies: bool = False
    summarize_over_chars: int = 300  # longer answers are summarised before they are spoken
    llm_correction_node: str | None = None  # a fast node that fixes transcripts after the dictionary
    llm_correction_timeout_s: float = 2.0
    summary_node: str | None = None  # a node that summarises long answers before they are spoken
    summary_timeout_s: float = 3.0
    tts_rate: int | None = None  # words per minute; engine default when unset
    tts_voice: str | None = None  # a pyttsx3 voice id or a substring of its name ("fr", "French")
    commands_path: str | None = None  # defaults to the shipped data/commands.toml
    corrections_path: str | None = None  # defaults to the shipped data/voice_corrections.toml

    @property
    def whisper_language(self) -> str | None:
        """The language argument for whisper: None means detect."""
        return None if self.language in ("", "auto") else self.language


KNOWN_KEYS = {f.name for f in fields(VoiceSettings)}


def parse_voice_section(raw: dict[str, Any], ctx: Any) -> VoiceSettings:
    ctx.check_unknown(raw, KNOWN_KEYS)
    d = VoiceSettings()

    def device_key(key: str) -> str | int | None:
        value = ctx.get(raw, key, (str, int), None)
        if isinstance(value, int) and value < 0:
            raise ctx.error(f"[voice] {key} must be a device index >= 0 or a device name", key)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        value = ctx.get(raw, key, str, default)
        if value not in allowed:
            raise ctx.error(f"[voice] {key} must be one of {', '.join(allowed)}, got '{value}'", key)
        return value

    def fraction(key: str, default: float, low: float, high: float) -> float:
        value = ctx.get(raw, key, float, default)
        if not low <= value <= high:
            raise ctx.error(f"[voice] {key} must be between {low:g} and {high:g}, got {value:g}", key)
        return value

    sample_rate = ctx.get(raw, "sample_rate", int, d.sample_rate)
    if not 8000 <= sample_rate <= 48000:
        raise ctx.error(f"[voice] sample_rate must be between 8000 and 48000 Hz, got {sample_rate}", "sample_rate")

    model = ctx.get(raw, "model", str, d.model)
    model_path = ctx.get(raw, "model_path", str, None) or None
    if model_path is None and model not in PACKAGED_MODELS:
        raise ctx.error(f"[voice] model must be one of {', '.join(PACKAGED_MODELS)}, or set model_path "
                        f"to a CTranslate2 whisper folder; got '{model}'", "model")

    max_record = ctx.positive(raw, "max_record_s", d.max_record_s)
    if max_record > MAX_RECORD_CAP_S:
        raise ctx.error(f"[voice] max_record_s is at most {MAX_RECORD_CAP_S:g} s, got {max_record:g}", "max_record_s")

    preroll = ctx.get(raw, "preroll_s", float, d.preroll_s)
    if not 0 <= preroll <= 5:
        raise ctx.error(f"[voice] preroll_s must be between 0 and 5 s, got {preroll:g}", "preroll_s")

    speech_tail = ctx.get(raw, "speech_tail_s", float, d.speech_tail_s)
    if not 0 <= speech_tail <= 5:
        raise ctx.error(f"[voice] speech_tail_s must be between 0 and 5 s, got {speech_tail:g}", "speech_tail_s")

    summarize = ctx.get(raw, "summarize_over_chars", int, d.summarize_over_chars)
    if summarize <= 0:
        raise ctx.error("[voice] summarize_over_chars must be > 0", "summarize_over_chars")

    tts_rate = ctx.get(raw, "tts_rate", int, None)
    if tts_rate is not None and not 40 <= tts_rate <= 600:
        raise ctx.error(f"[voice] tts_rate must be between 40 and 600 words per minute, got {tts_rate}", "tts_rate")

    wake_word = ctx.get(raw, "wake_word", str, d.wake_word).strip()
    if not wake_word:
        raise ctx.error("[voice] wake_word must not be empty", "wake_word")

    language = ctx.get(raw, "language", str, d.language).strip().lower() or "auto"
    if model_path is None and model.endswith(".en") and language not in ("auto", "en"):
        ctx.warn(f"[voice] model {model} is English-only, language '{language}' is ignored; "
                 "use model = \"base\" for French (see docs/voice.md)", "language")

    return VoiceSettings(
        enabled=ctx.get(raw, "enabled", bool, d.enabled),
        input_device=device_key("input_device"),
        output_device=device_key("output_device"),
        sample_rate=sample_rate,
        model_path=model_path,
        model=model,
        language=language,
        device=choice("device", WHISPER_DEVICES, d.device),
        compute_type=choice("compute_type", COMPUTE_TYPES, d.compute_type),
        silence_s=ctx.positive(raw, "silence_s", d.silence_s),
        energy_threshold=fraction("energy_threshold", d.energy_threshold, 0.0, 1.0),
        max_record_s=max_record,
        preroll_s=preroll,
        speech_tail_s=speech_tail,
        keep_whisper_memory=ctx.get(raw, "keep_whisper_memory", bool, d.keep_whisper_memory),
        wake_word=wake_word,
        command_threshold=fraction("command_threshold", d.command_threshold, 0.0, 100.0),
        speak_replies=ctx.get(raw, "speak_replies", bool, d.speak_replies),
        summarize_over_chars=summarize,
        llm_correction_node=ctx.get(raw, "llm_correction_node", str, None) or None,
        llm_correction_timeout_s=ctx.positive(raw, "llm_correction_timeout_s", d.llm_correction_timeout_s),
        summary_node=ctx.get(raw, "summary_node", str, None) or None,
        summary_timeout_s=ctx.positive(raw, "summary_timeout_s", d.summary_timeout_s),
        tts_rate=tts_rate,
        tts_voice=ctx.get(raw, "tts_voice", str, None) or None,
        commands_path=ctx.get(raw, "commands_path", str, None) or None,
        corrections_path=ctx.get(raw, "corrections_path", str, None) or None,
    )
