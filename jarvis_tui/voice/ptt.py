"""The push-to-talk state machine, free of any UI and of real time.

Terminals report key presses but not releases, so the key toggles: press to
start recording, press again to stop.  A recording also ends by itself after
``silence_s`` of quiet once speech was heard, and after ``max_record_s``.
Pressing while an answer is being spoken stops the speech and starts listening
(barge-in), because the usual reason to interrupt is to say something.

::

    off --enable--> idle --press--> recording --press / silence / cap--> transcribing
                     ^                  ^                                   |
                     |                  +-----press (barge-in)---+          |
                     +--speaking_finished-- speaking <--speaking_started----+-- transcription_done --> idle

Side effects go through a small port (start the capture, finish it, stop the
speaker) so the same machine drives the real service, the cockpit's Pilot test
and the unit tests.  Time comes from an injected clock; ``tick()`` is called
by the owner a few times a second.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock


class PttState(enum.StrEnum):
    OFF = "off"
    IDLE = "idle"
    RECORDING = "recording"
    TRANSCRIBING = "transcribing"
    SPEAKING = "speaking"


class StopReason(enum.StrEnum):
    PRESSED = "pressed"
    SILENCE = "silence"
    MAX_LENGTH = "max_length"
    DEVICE = "device"  # the input stream ended or failed


class EndpointDetector:
    """Decides when an utterance is over, on any timeline.

    The capture feeds it audio blocks (timeline = samples, exact even when a
    file-backed device delivers audio faster than real time); the state machine
    feeds it level readings against its clock (a guard when a device stalls, and
    what the cockpit's tests drive).
    """

    def __init__(self, *, silence_s: float, max_s: float, threshold: float) -> None:
        self.silence_s = silence_s
        self.max_s = max_s
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self.elapsed_s = 0.0
        self.speech_seen = False
        self.quiet_s = 0.0

    def update(self, rms: float, duration_s: float) -> StopReason | None:
        """Account ``duration_s`` at level ``rms``; the reason to stop, if any."""
        self.elapsed_s += duration_s
        if rms >= self.threshold:
            self.speech_seen = True
            self.quiet_s = 0.0
        else:
            self.quiet_s += duration_s
        if self.elapsed_s >= self.max_s - 1e-9:
            return StopReason.MAX_LENGTH
        if self.speech_seen and self.quiet_s >= self.silence_s - 1e-9:
            return StopReason.SILENCE
        return None


class PttPort(Protocol):
    """What the state machine asks its owner to do."""

    def start_recording(self) -> bool:
        """Begin capturing; False if it cannot (the owner reports why)."""

    def finish_recording(self, reason: StopReason) -> None:
        """Stop capturing and hand the audio to transcription (in the background)."""

    def stop_speaking(self) -> None:
        """Interrupt the answer being spoken."""


StateListener = Callable[[PttState, PttState, str], None]  # (old, new, reason)


class PushToTalk:
    def __init__(
        self,
        port: PttPort,
        *,
        clock: Clock = SYSTEM_CLOCK,
        silence_s: float = 1.2,
        max_record_s: float = 30.0,
        energy_threshold: float = 0.01,
        on_change: StateListener | None = None,
    ) -> None:
        self._port = port
        self._clock = clock
        self._detector = EndpointDetector(silence_s=silence_s, max_s=max_record_s, threshold=energy_threshold)
        self._on_change = on_change
        self.state = PttState.OFF
        self.last_stop_reason: StopReason | None = None
        self._started_at = 0.0
        self._last_update = 0.0
        self._stopped_at: float | None = None

    # ------------------------------------------------------------ queries
    @property
    def recording_s(self) -> float:
        if self.state is not PttState.RECORDING:
            return 0.0
        return self._clock.monotonic() - self._started_at

    @property
    def stopped_at(self) -> float | None:
        """Clock time the last recording ended (press or auto-stop): the latency origin."""
        return self._stopped_at

    # ------------------------------------------------------------ inputs
    def enable(self) -> None:
        if self.state is PttState.OFF:
            self._set(PttState.IDLE, "enabled")

    def disable(self) -> None:
        if self.state is PttState.RECORDING:
            self._finish(StopReason.DEVICE)
        if self.state is PttState.SPEAKING:
            self._port.stop_speaking()
        self._set(PttState.OFF, "disabled")

    def press(self) -> str:
        """The push-to-talk key.  Returns what it did: started, stopped, interrupted, busy, off, failed."""
        if self.state is PttState.OFF:
            return "off"
        if self.state is PttState.TRANSCRIBING:
            return "busy"
        if self.state is PttState.RECORDING:
            self._finish(StopReason.PRESSED)
            return "stopped"
        interrupted = self.state is PttState.SPEAKING
        if interrupted:
            self._port.stop_speaking()
            self._set(PttState.IDLE, "interrupted")
        if not self._port.start_recording():
            return "failed"
        now = self._clock.monotonic()
        self._started_at = self._last_update = now
        self._detector.reset()
        self._set(PttState.RECORDING, "pressed")
        return "interrupted" if interrupted else "started"

    def level(self, rms: float) -> None:
        """The input level right now (the owner polls the capture's meter)."""
        if self.state is not PttState.RECORDING:
            return
        now = self._clock.monotonic()
        reason = self._detector.update(rms, max(0.0, now - self._last_update))
        self._last_update = now
        if reason:
            self._finish(reason)

    def tick(self) -> None:
        """Advance time with no new reading: enforces the length cap and the silence timeout."""
        if self.state is not PttState.RECORDING:
            return
        now = self._clock.monotonic()
        # No reading since the last one counts as quiet: a stalled device must not record forever.
        reason = self._detector.update(0.0, max(0.0, now - self._last_update))
        self._last_update = now
        if reason:
            self._finish(reason)

    def capture_ended(self, reason: StopReason) -> None:
        """The capture's own sample-accurate detector (or the device) ended the recording."""
        if self.state is PttState.RECORDING:
            self._finish(reason)

    def transcription_done(self) -> None:
        if self.state is PttState.TRANSCRIBING:
            self._set(PttState.IDLE, "transcribed")

    def speaking_started(self) -> bool:
        """Speech may start only when nobody is talking to jarvis; False means skip it."""
        if self.state is not PttState.IDLE:
            return False
        self._set(PttState.SPEAKING, "speaking")
        return True

    def speaking_finished(self) -> None:
        if self.state is PttState.SPEAKING:
            self._set(PttState.IDLE, "spoken")

    # ------------------------------------------------------------ internals
    def _finish(self, reason: StopReason) -> None:
        self.last_stop_reason = reason
        self._stopped_at = self._clock.monotonic()
        self._set(PttState.TRANSCRIBING, str(reason))
        self._port.finish_recording(reason)

    def _set(self, state: PttState, reason: str) -> None:
        old, self.state = self.state, state
        if self._on_change and old is not state:
            self._on_change(old, state, reason)
