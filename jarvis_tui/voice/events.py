"""Events the voice service publishes on the core bus.

The cockpit renders these; it never calls into capture or whisper itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from jarvis_tui.core.events import Event
from jarvis_tui.voice.commands import CommandMatch


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceStateChanged(Event):
    state: str  # a PttState value: "off", "idle", "recording", "transcribing", "speaking"
    status_text: str  # ready for the status bar, e.g. "voice: loading model"
    available: bool  # False when capture or the model cannot work; status_text says why
    reason: str = ""  # why the state changed: "pressed", "silence", "max_length", ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceLevel(Event):
    level: float  # 0..1 meter value (dB scaled), published at most ~20 times a second while recording
    rms: float  # raw RMS as a fraction of full scale
    recording_s: float  # how long the current recording has run


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceTimings:
    record_s: float = 0.0  # length of the recording (whisper gets it up to [voice] speech_tail_s after the speech)
    transcribe_s: float = 0.0  # whisper's own time
    correct_s: float = 0.0
    match_s: float = 0.0
    release_to_transcript_s: float = 0.0  # end of recording -> this event
    early: bool = False  # whisper started before the end of the recording, at the pause after the speech


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptReady(Event):
    text: str  # after corrections; what a command or the commander receives
    raw_text: str  # whisper's words, untouched
    corrected: bool
    corrections: tuple[str, ...] = ()  # "now this -> Jarvis", "llm"
    command: CommandMatch | None = None  # None: send `text` to the commander as a chat prompt
    language: str = ""
    timings: VoiceTimings = VoiceTimings()


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceError(Event):
    message: str  # one line, safe to show
    fatal: bool = False  # True: voice cannot work until the cause is fixed (no device, no model)
