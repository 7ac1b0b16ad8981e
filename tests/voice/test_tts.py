"""pyttsx3 speech: real espeak-ng synthesis, played through the real sounddevice output path."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.voice.settings import VoiceSettings
from jarvis_tui.voice.tts import Speaker, prepare_speech, speakable_text, summarize_for_speech

from .conftest import make_alsa_home, run_with_home

pytestmark = pytest.mark.slow


def test_synthesis_writes_a_wav_and_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from jarvis_tui.voice.stt import read_wav

    wav = Speaker(VoiceSettings()).synthesize("All four nodes are up.", tmp_path / "a.wav")
    samples, rate = read_wav(wav)
    assert rate == 22050 and len(samples) > 22050 * 0.5
    out, _ = capfd.readouterr()
    assert out == ""  # pyttsx3's "Audio saved to ..." must never reach the TUI's terminal


@pytest.mark.parametrize("text", [
    "Jarvis, what is the temperature of the GPU?",
    "The consensus answer is 42.",
])
def test_round_trip_text_speech_text(tmp_path: Path, warm_stt, text: str) -> None:
    wav = Speaker(VoiceSettings()).synthesize(text, tmp_path / "reply.wav")
    assert warm_stt.transcribe(wav).text == text  # 22050 Hz from pyttsx3, resampled for whisper


def test_voice_and_rate_are_applied(tmp_path: Path) -> None:
    from jarvis_tui.voice.stt import read_wav

    slow = Speaker(VoiceSettings(tts_rate=90, tts_voice="fr")).synthesize("Bonjour", tmp_path / "slow.wav")
    fast = Speaker(VoiceSettings(tts_rate=400)).synthesize("Bonjour", tmp_path / "fast.wav")
    assert len(read_wav(slow)[0]) > 1.5 * len(read_wav(fast)[0])


LONG_TEXT = "The cluster is healthy. Every node answered within a second. The GPUs are cool. " * 3


def test_the_wav_is_complete_when_synthesize_returns(tmp_path: Path) -> None:
    """pyttsx3's runAndWait returns ~10 ms after espeak-ng (asynchronous mode) starts: the file came later,
    so a long text, or any text on a busy CPU, failed with "the speech engine wrote no audio"."""
    from jarvis_tui.voice.stt import read_wav

    samples, rate = read_wav(Speaker(VoiceSettings()).synthesize(LONG_TEXT, tmp_path / "long.wav"))
    assert len(samples) / rate > 10


def _lengths(speakers: dict[str, Speaker], folder: Path, rounds: int) -> dict[str, list[int]]:
    from jarvis_tui.voice.stt import read_wav

    lengths: dict[str, list[int]] = {name: [] for name in speakers}
    for turn in range(rounds):
        for name, speaker in speakers.items():
            lengths[name].append(len(read_wav(speaker.synthesize("Bonjour", folder / f"{name}{turn}.wav"))[0]))
    return lengths


def _assert_each_speaks_at_its_own_rate(lengths: dict[str, list[int]]) -> None:
    for name, values in lengths.items():
        assert max(values) <= 1.1 * min(values), (name, values)
    assert min(lengths["slow"]) > 1.5 * max(lengths["default"]), lengths
    assert min(lengths["default"]) > 1.5 * max(lengths["fast"]), lengths


def test_speakers_share_one_engine_but_never_each_others_settings(tmp_path: Path) -> None:
    """pyttsx3.init() returns the live engine to every caller: a Speaker without settings spoke with the last
    one's voice and rate, and after a voice change espeak-ng applied the queued rate too late (or not)."""
    speakers = {"slow": Speaker(VoiceSettings(tts_rate=90, tts_voice="fr")), "default": Speaker(VoiceSettings()),
                "fast": Speaker(VoiceSettings(tts_rate=400))}
    lengths = _lengths(speakers, tmp_path, rounds=4)
    assert speakers["slow"]._get_engine() is speakers["default"]._get_engine()  # the shared engine, indeed
    _assert_each_speaks_at_its_own_rate(lengths)


def test_speakers_on_several_threads_take_turns_on_the_engine(tmp_path: Path) -> None:
    import threading

    speakers = {"slow": Speaker(VoiceSettings(tts_rate=90)), "default": Speaker(VoiceSettings()),
                "fast": Speaker(VoiceSettings(tts_rate=400))}
    results: dict[str, dict[str, list[int]]] = {}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            (tmp_path / name).mkdir()
            results[name] = _lengths({name: speakers[name]}, tmp_path / name, rounds=4)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in speakers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    _assert_each_speaks_at_its_own_rate({name: results[name][name] for name in speakers})


def test_a_stop_before_the_speech_thread_starts_cancels_that_speech() -> None:
    """The talk key (or voice off) while an answer still waits for the speech thread: that answer is dropped.
    speak() used to clear the stop as it began, and played the whole answer over the user's recording (in
    tests: a speech thread still playing after the cockpit closed)."""
    speaker = Speaker(VoiceSettings())
    ticket = speaker.ticket()  # taken when the answer is to be spoken
    speaker.stop()
    result = speaker.speak("This must never be heard.", ticket=ticket)
    assert (result.interrupted, result.total_s, speaker.last_synth_s, speaker.speaking) == (True, 0.0, 0.0, False)
    assert speaker.ticket() != ticket  # the next request is not affected


def test_speech_plays_and_stops_through_sounddevice(tmp_path: Path) -> None:
    (tmp_path / "empty.raw").write_bytes(b"")
    home = make_alsa_home(tmp_path, tmp_path / "empty.raw")  # its default device discards playback
    result = run_with_home(home, """
import json
from jarvis_tui.voice.settings import VoiceSettings
from jarvis_tui.voice.tts import Speaker
speaker = Speaker(VoiceSettings())
text = "The cluster is healthy. Every node answered within a second. The GPUs are cool."
full = speaker.speak(text)
progress = []
def stop_after_first_block(seconds):
    progress.append(seconds)
    speaker.stop()              # what the push-to-talk key does, from another thread
cut = speaker.speak(text, on_progress=stop_after_first_block)
again = speaker.speak("Short.")  # a stop does not stick to the next utterance
print(json.dumps({"full": [full.total_s, full.played_s, full.interrupted],
                  "cut": [cut.total_s, cut.played_s, cut.interrupted], "blocks": len(progress),
                  "again": again.interrupted, "speaking": speaker.speaking}))
""")
    total, played, interrupted = result["full"]
    assert total > 3 and played == total and not interrupted
    total, played, interrupted = result["cut"]
    assert interrupted and played < total / 2 and result["blocks"] <= 2
    assert result["again"] is False and result["speaking"] is False
    assert "Audio saved" not in result["_stdout"]


def test_speakable_text_drops_markdown_and_control_characters() -> None:
    text = "# Result\n**Node M2** is `up`.\n```python\nprint('x')\n```\nSee [the docs](http://x).\x1b[31m"
    assert speakable_text(text) == "Result Node M2 is up. See the docs. [31m"


def test_long_answers_are_summarised() -> None:
    answer = ("The consensus is yes. Three of four nodes agreed within two seconds. "
              "Node OL1 timed out and was excluded. " * 5)
    summary = summarize_for_speech(answer, 80)
    assert summary == "The consensus is yes. Three of four nodes agreed within two seconds."
    assert summarize_for_speech("word " * 100, 30).endswith("…")
    assert summarize_for_speech("Short answer.", 80) == "Short answer."


async def test_async_summariser_is_used_and_falls_back() -> None:
    long = "Sentence one is here. " * 30

    async def node(text: str, limit: int) -> str:
        return "All good."

    async def broken(text: str, limit: int) -> str:
        raise RuntimeError("node down")

    assert await prepare_speech(long, 100, node) == "All good."
    assert await prepare_speech(long, 100, broken) == summarize_for_speech(long, 100)
    assert await prepare_speech("Short.", 100, broken) == "Short."
