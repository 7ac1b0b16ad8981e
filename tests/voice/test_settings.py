"""The [voice] config table, through the real config loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.config import ConfigError, load_config
from jarvis_tui.voice.settings import VoiceSettings


def load(tmp_path: Path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return load_config(str(path))


def test_defaults(tmp_path: Path) -> None:
    voice = load(tmp_path, "").section("voice")
    assert voice == VoiceSettings()
    assert (voice.enabled, voice.sample_rate, voice.model, voice.language) == (False, 16000, "tiny.en", "auto")
    assert (voice.silence_s, voice.max_record_s, voice.wake_word) == (1.2, 30.0, "jarvis")
    assert voice.llm_correction_timeout_s == 2.0 and voice.whisper_language is None
    assert voice.summary_node is None and voice.summary_timeout_s == 3.0
    assert voice.speech_tail_s == 0.4  # whisper starts early by default (docs/voice.md)
    assert voice.keep_whisper_memory  # whisper's freed buffers stay mapped for its next run


def test_full_table(tmp_path: Path) -> None:
    config = load(tmp_path, """
[voice]
enabled = true
input_device = "USB"
output_device = 3
model = "base"
language = "FR"
device = "auto"
silence_s = 0.8
max_record_s = 20
preroll_s = 0.25
speech_tail_s = 0
keep_whisper_memory = false
command_threshold = 75
speak_replies = true
llm_correction_node = "M2"
llm_correction_timeout_s = 1.5
summary_node = "M3"
summary_timeout_s = 2.5
tts_rate = 160
tts_voice = "fr"
""")
    voice = config.section("voice")
    assert voice.input_device == "USB" and voice.output_device == 3
    assert voice.model == "base" and voice.whisper_language == "fr" and voice.device == "auto"
    assert voice.max_record_s == 20.0 and voice.command_threshold == 75.0 and voice.llm_correction_node == "M2"
    assert (voice.llm_correction_timeout_s, voice.summary_node, voice.summary_timeout_s) == (1.5, "M3", 2.5)
    assert voice.speech_tail_s == 0.0  # 0 turns the early start off
    assert voice.keep_whisper_memory is False
    assert not config.warnings


@pytest.mark.parametrize(("body", "message"), [
    ("max_record_s = 45", "max_record_s is at most 30"),
    ('model = "large-v3"', "model must be one of tiny.en, base"),
    ('device = "tpu"', "device must be one of cpu, cuda, auto"),
    ("silence_s = 0", "silence_s must be > 0"),
    ("summary_timeout_s = 0", "summary_timeout_s must be > 0"),
    ("energy_threshold = 2", "energy_threshold must be between 0 and 1"),
    ("speech_tail_s = -0.1", "speech_tail_s must be between 0 and 5"),
    ("sample_rate = 4000", "sample_rate must be between 8000 and 48000"),
    ("input_device = -1", "input_device must be a device index"),
    ('wake_word = " "', "wake_word must not be empty"),
    ('enabled = "yes"', "enabled must be true or false"),
    ("keep_whisper_memory = 1", "keep_whisper_memory must be true or false"),
])
def test_bad_values_are_located(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"[voice]\n{body}\n")
    assert message in str(info.value)
    assert info.value.line == 2


def test_english_only_model_with_french_warns(tmp_path: Path) -> None:
    config = load(tmp_path, '[voice]\nlanguage = "fr"\nfrobnicate = 1\n')
    messages = [w.message for w in config.warnings]
    assert any("English-only" in m for m in messages)
    assert any("unknown key 'frobnicate'" in m for m in messages)


def test_settings_module_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, jarvis_tui.config as c; c.load_config(None).section('voice'); "
            "print(sorted(m for m in ('numpy', 'faster_whisper', 'sounddevice', 'pyttsx3', 'rapidfuzz') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
