"""The real sounddevice/PortAudio capture path, fed a WAV through an ALSA ``file`` plugin.

Each test runs in a fresh interpreter with a test HOME, because PortAudio reads
~/.asoundrc once, when sounddevice is imported.  The plugin delivers the clip
bit-identical and then silence, faster than real time, which is why the
capture's endpointing counts samples instead of watching the clock.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import GPU_QUESTION, make_alsa_home, run_with_home, wav_to_raw

pytestmark = pytest.mark.slow

CAPTURE_SCRIPT = """
import json, sys
import numpy as np
from jarvis_tui.voice.capture import AudioCapture, VoiceUnavailable
from jarvis_tui.voice.settings import VoiceSettings

settings = VoiceSettings(**json.loads({settings!r}))
capture = AudioCapture(settings)
{body}
"""


def capture_script(settings: dict, body: str) -> str:
    return CAPTURE_SCRIPT.format(settings=json.dumps(settings), body=body)


@pytest.fixture
def clip_home(tmp_path: Path, gpu_question_wav: Path) -> tuple[Path, bytes]:
    raw = tmp_path / "clip.raw"
    data = wav_to_raw(gpu_question_wav, raw)
    return make_alsa_home(tmp_path, raw), data


def test_records_the_clip_and_stops_on_silence(clip_home: tuple[Path, bytes], tmp_path: Path) -> None:
    home, clip = clip_home
    out = tmp_path / "recorded.raw"
    result = run_with_home(home, capture_script({"silence_s": 1.2}, f"""
capture.start_recording()          # opens the stream armed: the recording starts at the first block
reason = capture.wait_until_ended(timeout=20)
rec = capture.stop_recording()
capture.close()
rec.samples.astype('<i2').tofile({str(out)!r})
print(json.dumps({{"reason": str(reason), "rec_reason": str(rec.reason), "speech": rec.speech_detected,
                   "duration": rec.duration_s, "rate": rec.sample_rate}}))
"""))
    assert result["reason"] == result["rec_reason"] == "silence"
    assert result["speech"] is True and result["rate"] == 16000
    recorded = out.read_bytes()
    assert recorded[: len(clip)] == clip  # the production path delivers the audio bit-identical
    clip_s = len(clip) / 2 / 16000
    # it stops 1.2 s after the clip's last loud block (the clip ends with 0.3 s of padding)
    assert clip_s < result["duration"] < clip_s + 1.3


def test_recording_transcribes_exactly(clip_home: tuple[Path, bytes], tmp_path: Path, warm_stt) -> None:
    home, _ = clip_home
    out = tmp_path / "recorded.raw"
    run_with_home(home, capture_script({}, f"""
capture.start_recording()
capture.wait_until_ended(timeout=20)
capture.stop_recording().samples.astype('<i2').tofile({str(out)!r})
capture.close()
print("{{}}")
"""))
    import numpy as np

    samples = np.fromfile(out, dtype="<i2")
    assert warm_stt.transcribe(samples, 16000).text == GPU_QUESTION


CUT_BODY = """
paused = []
capture.on_pause = lambda recording_id, cut: paused.append([recording_id, cut])
capture.start_recording()
reason = capture.wait_until_ended(timeout=20)
rec = capture.stop_recording()
capture.close()
blocks = rec.samples[: len(rec.samples) // 480 * 480].reshape(-1, 480).astype(np.float64) / 32768
loud = np.sqrt((blocks ** 2).mean(axis=1)) >= settings.energy_threshold
# where speech paused: the end of each loud block followed by >= 14 quiet ones (0.4 s, rounded up to 30 ms blocks)
ends = [int(i + 1) * 480 for i in range(len(loud) - 14) if loud[i] and not loud[i + 1: i + 15].any()]
print(json.dumps({"reason": str(reason), "paused": paused, "cut": rec.cut_frames, "id": rec.recording_id,
                  "speech_ends": ends, "samples": len(rec.samples), "speech_samples": len(rec.speech_samples)}))
"""


def test_speech_tail_marks_the_cut_once_per_pause(tmp_path: Path, gpu_question_wav: Path) -> None:
    """Two sentences 1 s apart: the pause after each is reported when speech_tail_s of quiet followed it;
    speech after the first pause clears its cut, and the recording keeps the second."""
    clip = wav_to_raw(gpu_question_wav, tmp_path / "one.raw")
    raw = tmp_path / "two.raw"
    raw.write_bytes(clip + bytes(2 * 16000) + clip)  # then the file plugin gives silence
    result = run_with_home(make_alsa_home(tmp_path, raw),
                           capture_script({"silence_s": 3.0, "speech_tail_s": 0.4}, CUT_BODY))
    assert result["reason"] == "silence"
    first_end, second_end = result["speech_ends"]  # 0.4 s = 14 blocks of 30 ms (13.3, rounded up)
    assert result["paused"] == [[result["id"], first_end + 14 * 480], [result["id"], second_end + 14 * 480]]
    assert result["cut"] == second_end + 14 * 480
    assert result["speech_samples"] == result["cut"] < result["samples"]  # whisper gets up to the cut


def test_no_speech_tail_no_cut(clip_home: tuple[Path, bytes]) -> None:
    home, _ = clip_home
    result = run_with_home(home, capture_script({"silence_s": 1.2, "speech_tail_s": 0.0}, CUT_BODY))
    assert result["reason"] == "silence"
    assert result["paused"] == [] and result["cut"] is None
    assert result["speech_samples"] == result["samples"]  # whisper gets the whole recording, as before


def test_thirty_second_cap_holds_faster_than_real_time(clip_home: tuple[Path, bytes]) -> None:
    home, _ = clip_home
    # energy_threshold 0: every block counts as speech, so only the cap can stop it
    result = run_with_home(home, capture_script({"energy_threshold": 0.0, "max_record_s": 30.0}, """
import time
started = time.monotonic()
capture.start_recording()
reason = capture.wait_until_ended(timeout=60)
rec = capture.stop_recording()
capture.close()
print(json.dumps({"reason": str(reason), "duration": rec.duration_s, "wall": time.monotonic() - started}))
"""))
    assert result["reason"] == "max_length"
    assert result["duration"] == pytest.approx(30.0, abs=0.031)  # to within one 30 ms block


def test_preroll_keeps_the_moment_before_the_press(clip_home: tuple[Path, bytes]) -> None:
    home, _ = clip_home
    result = run_with_home(home, capture_script({"preroll_s": 0.5}, """
import time
capture.open()                      # voice enabled: the stream runs, filling the ring buffer
while capture.blocks_seen < 400:    # > 0.5 s of audio has gone by
    time.sleep(0.01)
capture.start_recording()
rec = capture.stop_recording()
capture.close()
print(json.dumps({"preroll": rec.preroll_s, "samples": len(rec.samples)}))
"""))
    assert 0.5 <= result["preroll"] <= 0.5 + 0.03
    assert result["samples"] >= 8000


def test_unknown_device_is_a_clear_reason(clip_home: tuple[Path, bytes]) -> None:
    home, _ = clip_home
    result = run_with_home(home, capture_script({"input_device": "Blue Yeti"}, """
try:
    capture.open()
    print(json.dumps({"error": None}))
except VoiceUnavailable as exc:
    print(json.dumps({"error": str(exc)}))
"""))
    assert result["error"].startswith("no input device matches 'Blue Yeti'; input devices: ")
    assert "default" in result["error"]


def test_no_sound_card_is_a_clear_reason(tmp_path: Path) -> None:
    empty_home = tmp_path / "empty-home"
    empty_home.mkdir()
    result = run_with_home(empty_home, capture_script({}, """
import sounddevice as sd
inputs = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
try:
    capture.start_recording()
    print(json.dumps({"inputs": len(inputs), "error": None}))
except VoiceUnavailable as exc:
    print(json.dumps({"inputs": len(inputs), "error": str(exc), "recording": capture.is_recording}))
"""))
    if result["inputs"]:
        pytest.skip("this machine has a real input device")
    assert result["error"] == "no input device"
    assert result["recording"] is False
    assert "Traceback" not in result["_stderr"]
