"""The push-to-talk state machine, driven by a ManualClock: no audio, no sleeping."""

from __future__ import annotations

import pytest

from jarvis_tui.core.clock import ManualClock
from jarvis_tui.voice.ptt import EndpointDetector, PttState, PushToTalk, StopReason


class RecordingPort:
    """Records what the machine asked its owner to do."""

    def __init__(self, can_record: bool = True) -> None:
        self.calls: list[str] = []
        self.can_record = can_record

    def start_recording(self) -> bool:
        self.calls.append("start")
        return self.can_record

    def finish_recording(self, reason: StopReason) -> None:
        self.calls.append(f"finish:{reason}")

    def stop_speaking(self) -> None:
        self.calls.append("stop_speaking")


@pytest.fixture
def machine():
    clock = ManualClock()
    port = RecordingPort()
    changes: list[tuple[str, str, str]] = []
    ptt = PushToTalk(port, clock=clock, silence_s=1.2, max_record_s=30.0, energy_threshold=0.01,
                     on_change=lambda old, new, why: changes.append((str(old), str(new), why)))
    ptt.enable()
    return ptt, port, clock, changes


def speak_for(ptt: PushToTalk, clock: ManualClock, seconds: float, rms: float, step: float = 0.05) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)
        ptt.level(rms)


def test_off_until_enabled() -> None:
    port = RecordingPort()
    ptt = PushToTalk(port, clock=ManualClock())
    assert ptt.press() == "off"
    assert ptt.state is PttState.OFF and port.calls == []


def test_press_starts_and_second_press_stops(machine) -> None:
    ptt, port, clock, changes = machine
    assert ptt.press() == "started"
    assert ptt.state is PttState.RECORDING
    speak_for(ptt, clock, 2.0, rms=0.2)
    assert ptt.recording_s == pytest.approx(2.0)
    assert ptt.press() == "stopped"
    assert ptt.state is PttState.TRANSCRIBING
    assert port.calls == ["start", "finish:pressed"]
    assert ptt.stopped_at == pytest.approx(clock.monotonic())
    assert ptt.press() == "busy"  # transcribing: the key does nothing
    ptt.transcription_done()
    assert ptt.state is PttState.IDLE
    assert [c[1] for c in changes] == ["idle", "recording", "transcribing", "idle"]


def test_silence_after_speech_stops_by_itself(machine) -> None:
    ptt, port, clock, _ = machine
    ptt.press()
    speak_for(ptt, clock, 1.0, rms=0.3)
    speak_for(ptt, clock, 1.1, rms=0.001)  # quiet, but not for long enough
    assert ptt.state is PttState.RECORDING
    speak_for(ptt, clock, 0.15, rms=0.001)
    assert ptt.state is PttState.TRANSCRIBING
    assert ptt.last_stop_reason is StopReason.SILENCE
    assert port.calls[-1] == "finish:silence"


def test_silence_before_any_speech_does_not_stop(machine) -> None:
    ptt, _, clock, _ = machine
    ptt.press()
    speak_for(ptt, clock, 5.0, rms=0.001)  # the user has not started talking yet
    assert ptt.state is PttState.RECORDING


def test_thirty_second_cap(machine) -> None:
    ptt, port, clock, _ = machine
    ptt.press()
    speak_for(ptt, clock, 29.9, rms=0.3)  # talking without a pause
    assert ptt.state is PttState.RECORDING
    speak_for(ptt, clock, 0.1, rms=0.3)
    assert ptt.state is PttState.TRANSCRIBING
    assert ptt.last_stop_reason is StopReason.MAX_LENGTH
    assert port.calls[-1] == "finish:max_length"


def test_cap_holds_when_the_device_stops_reporting(machine) -> None:
    ptt, _, clock, _ = machine
    ptt.press()
    clock.advance(31.0)
    ptt.tick()  # no level reading at all: a stalled device must not record forever
    assert ptt.last_stop_reason is StopReason.MAX_LENGTH


def test_capture_can_end_the_recording(machine) -> None:
    ptt, port, _, _ = machine
    ptt.press()
    ptt.capture_ended(StopReason.SILENCE)
    assert ptt.state is PttState.TRANSCRIBING and port.calls[-1] == "finish:silence"
    ptt.capture_ended(StopReason.DEVICE)  # late duplicate: ignored
    assert port.calls.count("finish:silence") == 1 and "finish:device" not in port.calls


def test_press_during_speech_interrupts_and_listens(machine) -> None:
    ptt, port, _, changes = machine
    assert ptt.speaking_started() is True
    assert ptt.state is PttState.SPEAKING
    assert ptt.press() == "interrupted"
    assert port.calls == ["stop_speaking", "start"]
    assert ptt.state is PttState.RECORDING
    ptt.speaking_finished()  # the speaker thread reports in late: no effect on the recording
    assert ptt.state is PttState.RECORDING
    assert ("speaking", "idle", "interrupted") in changes


def test_no_speech_while_the_user_is_talking(machine) -> None:
    ptt, _, _, _ = machine
    ptt.press()
    assert ptt.speaking_started() is False
    assert ptt.state is PttState.RECORDING


def test_failed_start_stays_idle(machine) -> None:
    ptt, port, _, _ = machine
    port.can_record = False
    assert ptt.press() == "failed"
    assert ptt.state is PttState.IDLE


def test_disable_while_recording_finishes_it(machine) -> None:
    ptt, port, _, _ = machine
    ptt.press()
    ptt.disable()
    assert ptt.state is PttState.OFF
    assert port.calls[-1] == "finish:device"


def test_endpoint_detector_on_the_audio_timeline() -> None:
    detector = EndpointDetector(silence_s=1.2, max_s=30.0, threshold=0.01)
    block = 0.03
    reasons = [detector.update(0.2, block) for _ in range(40)]  # 1.2 s of speech
    assert not any(reasons) and detector.speech_seen
    quiet = [detector.update(0.0, block) for _ in range(40)]
    assert quiet[-1] is StopReason.SILENCE and quiet[:39] == [None] * 39
    detector.reset()
    reasons = [detector.update(0.5, block) for _ in range(1000)]
    assert reasons.index(StopReason.MAX_LENGTH) == 999  # 1000 * 30 ms = 30 s exactly
