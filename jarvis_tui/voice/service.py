"""VoiceService: the one object a face talks to for voice.

It owns the capture stream, the warm whisper model, the corrections, the
command matcher, the speaker and the push-to-talk state machine, and reports
everything on the core event bus (``voice.events``).  A face only:

* calls ``await start()`` / ``await stop()`` (voice on / off),
* calls ``press_ptt()`` when the push-to-talk key is pressed,
* reads ``status_text``, ``state`` and ``level`` (or listens for
  ``VoiceStateChanged`` / ``VoiceLevel``) to draw the status bar and the meter,
* acts on ``TranscriptReady`` (a command, or a prompt for the commander),
* calls ``await speak_reply(answer)`` when an answer arrives.

Nothing here raises into the face: a missing PortAudio, input device or model
becomes ``available = False``, a status text that says why, and one
``VoiceError`` event per cause.  Whisper runs on its own worker thread; the
event loop only ever waits on it.

Whisper's time barely depends on the clip's length (tiny.en's encoder always
sees a 30 s window: ~0.8 of the ~0.95 s a 4 s clip takes on 2 cores), so the
only way to shorten release -> transcript is to start earlier.  When the
capture sees ``speech_tail_s`` of quiet after speech, whisper starts on the
recording up to there; at the stop, if no speech came after that point, the
audio whisper would get is exactly that prefix, and the early result is used.
Otherwise it is dropped and the recording is transcribed as usual.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from typing import Any

from jarvis_tui.core.clock import SYSTEM_CLOCK, Clock
from jarvis_tui.core.events import EventBus
from jarvis_tui.voice.capture import AudioCapture, Recording, VoiceUnavailable
from jarvis_tui.voice.commands import CommandMatcher, CommandsError
from jarvis_tui.voice.corrections import CorrectionsError, CorrectionTable, LlmCorrector, TranscriptCorrector
from jarvis_tui.voice.events import TranscriptReady, VoiceError, VoiceLevel, VoiceStateChanged, VoiceTimings
from jarvis_tui.voice.ptt import PttState, PushToTalk, StopReason
from jarvis_tui.voice.settings import VoiceSettings
from jarvis_tui.voice.stt import ModelUnavailable, SpeechToText, Transcript
from jarvis_tui.voice.tts import PlaybackResult, Speaker, Summarizer, prepare_speech

LEVEL_INTERVAL_S = 0.05  # meter and silence-guard refresh while recording (20 Hz)


class VoiceService:
    def __init__(
        self,
        settings: VoiceSettings,
        bus: EventBus,
        *,
        clock: Clock = SYSTEM_CLOCK,
        llm_corrector: LlmCorrector | None = None,
        summarizer: Summarizer | None = None,
        stt: SpeechToText | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.summarizer = summarizer
        self.stt = stt or SpeechToText(settings)
        self.speaker = speaker or Speaker(settings)
        self.capture = AudioCapture(settings, on_ended=self._on_capture_ended, on_pause=self._on_capture_pause)
        self.ptt = PushToTalk(self, clock=clock, silence_s=settings.silence_s, max_record_s=settings.max_record_s,
                              energy_threshold=settings.energy_threshold, on_change=self._on_ptt_change)
        self._llm_corrector = llm_corrector
        self.corrector: TranscriptCorrector | None = None
        self.matcher: CommandMatcher | None = None
        self.started = False
        self.unavailable_reason = ""
        self._reported: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # One thread for whisper (load and transcribe are serialised anyway), one for speech.
        self._stt_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jarvis-stt")
        self._tts_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jarvis-tts")
        self._load_task: asyncio.Task[Any] | None = None
        self._level_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.last_transcript: TranscriptReady | None = None
        # The early whisper run of the recording in progress: ((recording_id, cut_frames), its future).
        self._early: tuple[tuple[int, int], concurrent.futures.Future[Transcript]] | None = None

    # ------------------------------------------------------------ what a face reads
    @property
    def state(self) -> PttState:
        return self.ptt.state

    @property
    def available(self) -> bool:
        return self.started and not self.unavailable_reason

    @property
    def level(self) -> float:
        """0..1 input level for a meter (dB scaled); 0 when not recording."""
        return self.capture.meter if self.ptt.state is PttState.RECORDING else 0.0

    @property
    def recording_s(self) -> float:
        return self.ptt.recording_s

    @property
    def status_text(self) -> str:
        """One short line for the status bar."""
        if not self.started:
            return "voice off"
        if self.unavailable_reason:
            return f"voice unavailable: {self.unavailable_reason}"
        state = self.ptt.state
        if state is PttState.RECORDING:
            return f"voice: recording {self.ptt.recording_s:.0f} s"
        if state is PttState.TRANSCRIBING:
            return "voice: loading model" if self.stt.state == "loading" else "voice: transcribing"
        if state is PttState.SPEAKING:
            return "voice: speaking"
        if self.stt.state == "loading" or self.stt.state == "unloaded":
            return "voice: loading model"
        return "voice: ready"

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> bool:
        """Turn voice on.  Never raises; False (and a status saying why) when it cannot work."""
        if self.started:
            return self.available
        self._loop = asyncio.get_running_loop()
        self.started = True
        self.unavailable_reason = ""
        try:
            self.matcher = CommandMatcher.load(self.settings.commands_path, wake_word=self.settings.wake_word,
                                               threshold=self.settings.command_threshold)
            table = CorrectionTable.load(self.settings.corrections_path)
        except (CommandsError, CorrectionsError) as exc:
            return self._unavailable(str(exc), short="bad voice data file")
        self.corrector = TranscriptCorrector(table, self._llm_corrector, self.settings.llm_correction_timeout_s)
        try:
            self.capture.open()
        except VoiceUnavailable as exc:
            return self._unavailable(str(exc))
        self._load_task = asyncio.ensure_future(self._load_model())
        self.ptt.enable()
        self._publish_state("enabled")
        return True

    async def stop(self) -> None:
        """Turn voice off: the stream closes, speech stops; the model stays loaded for next time."""
        if not self.started:
            return
        self.ptt.disable()
        self.speaker.stop()
        self.capture.close()
        if self._level_task:
            self._level_task.cancel()
        self.started = False
        self.unavailable_reason = ""
        self._publish_state("disabled")

    async def aclose(self) -> None:
        """Stop and wait for background work (tests, shutdown)."""
        await self.stop()
        for task in list(self._tasks) + ([self._load_task] if self._load_task else []):
            if not task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(task), 30)
                except Exception:  # noqa: BLE001 - shutting down
                    pass
        self._stt_pool.shutdown(wait=False)
        # Speech was stopped above: the speech thread ends within one audio block (or one short synthesis).
        try:
            await asyncio.wait_for(asyncio.to_thread(self._tts_pool.shutdown, True), 10)
        except Exception:  # noqa: BLE001 - shutting down
            pass

    async def wait_until_ready(self, timeout: float = 60.0) -> bool:
        """Wait for the model to finish loading (True when usable)."""
        if self._load_task is not None:
            await asyncio.wait_for(asyncio.shield(self._load_task), timeout)
        return self.stt.ready

    # ------------------------------------------------------------ the key
    def press_ptt(self) -> str:
        """The push-to-talk key: start, stop, or interrupt speech.  Returns what happened.

        "started" | "stopped" | "interrupted" (speech stopped, recording started) |
        "busy" (still transcribing) | "off" (voice not started) | "failed" (see status_text).
        """
        if not self.started or self.unavailable_reason:
            return "off" if not self.started else "failed"
        return self.ptt.press()

    # ------------------------------------------------------------ PttPort (called by the state machine)
    def start_recording(self) -> bool:
        if self.stt.state == "failed":
            self._unavailable(self.stt.error, short=_first_clause(self.stt.error))
            return False
        try:
            self.capture.start_recording()
        except VoiceUnavailable as exc:
            self._unavailable(str(exc))
            return False
        if self._loop is not None and (self._level_task is None or self._level_task.done()):
            self._level_task = self._loop.create_task(self._watch_level())
        return True

    def finish_recording(self, reason: StopReason) -> None:
        recording = self.capture.stop_recording(reason)
        released = time.perf_counter()
        early, self._early = self._early, None
        self._spawn(self._process(recording, released, early))

    def stop_speaking(self) -> None:
        self.speaker.stop()

    # ------------------------------------------------------------ speaking
    async def speak_reply(self, text: str) -> PlaybackResult | None:
        """Speak an answer if [voice] speak_replies is on (summarised when long)."""
        if not self.settings.speak_replies:
            return None
        return await self.speak(text)

    async def speak(self, text: str) -> PlaybackResult | None:
        """Speak ``text`` now unless the user is talking or voice is off; the PTT key interrupts it."""
        if not self.started or not self.ptt.speaking_started():
            return None
        # A stop (voice off, the talk key) from now until the speech thread gets to it cancels this speech.
        ticket = self.speaker.ticket()
        try:
            spoken = await prepare_speech(text, self.settings.summarize_over_chars, self.summarizer,
                                          self.settings.summary_timeout_s)
            if not spoken:
                return None
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._tts_pool, functools.partial(self.speaker.speak, spoken,
                                                                                ticket=ticket))
        except VoiceUnavailable as exc:
            self._report(f"cannot speak: {exc}", fatal=False)
            return None
        finally:
            self.ptt.speaking_finished()

    # ------------------------------------------------------------ transcription pipeline
    async def transcribe(self, samples: Any, sample_rate: int, *, released: float | None = None,
                         record_s: float | None = None,
                         early: concurrent.futures.Future[Transcript] | None = None) -> TranscriptReady:
        """Transcribe, correct and match audio; publishes and returns TranscriptReady.

        ``early``: a whisper run of these very samples, started before the release; its result is used.
        """
        released = time.perf_counter() if released is None else released
        loop = asyncio.get_running_loop()
        transcript = None
        if early is not None and not early.cancelled():
            try:
                transcript = await asyncio.wrap_future(early)
            except Exception:  # noqa: BLE001 - transcribed again below, where a failure is reported
                transcript = None
        used_early = transcript is not None
        if transcript is None:
            if not self.stt.ready:
                await loop.run_in_executor(self._stt_pool, self.stt.load)
            transcript = await loop.run_in_executor(self._stt_pool, self.stt.transcribe, samples, sample_rate)
        started = time.perf_counter()
        corrector = self.corrector or TranscriptCorrector(CorrectionTable.load(self.settings.corrections_path))
        correction = await corrector.correct(transcript.text)
        corrected_at = time.perf_counter()
        if self.matcher is None:
            self.matcher = CommandMatcher.load(self.settings.commands_path, wake_word=self.settings.wake_word,
                                               threshold=self.settings.command_threshold)
        match = self.matcher.match(correction.text) if correction.text else None
        matched_at = time.perf_counter()
        event = TranscriptReady(
            text=correction.text, raw_text=transcript.text, corrected=correction.changed,
            corrections=correction.applied, command=match, language=transcript.language,
            timings=VoiceTimings(record_s=record_s if record_s is not None else transcript.audio_s,
                                 transcribe_s=transcript.transcribe_s, correct_s=corrected_at - started,
                                 match_s=matched_at - corrected_at,
                                 release_to_transcript_s=time.perf_counter() - released,
                                 early=used_early),
        )
        if correction.llm_error:
            self._report(correction.llm_error, fatal=False, once=False)
        self.last_transcript = event
        self.bus.publish(event)
        return event

    async def _process(self, recording: Recording, released: float,
                       early: tuple[tuple[int, int], concurrent.futures.Future[Transcript]] | None = None) -> None:
        future = None
        if early is not None:
            if recording.cut_frames and early[0] == (recording.recording_id, recording.cut_frames):
                future = early[1]  # the same samples whisper would get now
            else:
                early[1].cancel()  # speech came after it: dropped (a run already going finishes, unused)
        try:
            if not recording.speech_detected:
                self._publish_state("no speech heard (below [voice] energy_threshold)")
                return
            await self.transcribe(recording.speech_samples, recording.sample_rate, released=released,
                                  record_s=recording.duration_s, early=future)
        except ModelUnavailable as exc:
            self._unavailable(str(exc), short=_first_clause(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a failed transcription must not kill the face
            self._report(f"transcription failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                         fatal=False, once=False)
        finally:
            self.ptt.transcription_done()

    async def _load_model(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._stt_pool, self.stt.load)
        except ModelUnavailable as exc:
            self._unavailable(str(exc), short=_first_clause(str(exc)))
            return
        if self.stt.device_note:
            self._report(self.stt.device_note, fatal=False)
        self._publish_state("model loaded")
        if self.matcher is not None:
            await loop.run_in_executor(self._stt_pool, self.matcher.warm_up)

    async def _watch_level(self) -> None:
        while self.ptt.state is PttState.RECORDING:
            rms = self.capture.rms
            self.bus.publish(VoiceLevel(level=self.capture.meter, rms=rms, recording_s=self.ptt.recording_s))
            self.ptt.level(rms)
            await asyncio.sleep(LEVEL_INTERVAL_S)

    # ------------------------------------------------------------ plumbing
    def _on_capture_pause(self, recording_id: int, cut_frames: int) -> None:
        """From the audio thread: speech_tail_s of quiet after speech; start whisper from the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._start_early, recording_id, cut_frames)

    def _start_early(self, recording_id: int, cut_frames: int) -> None:
        if self.ptt.state is not PttState.RECORDING or not self.stt.ready:
            return  # stopped meanwhile (the stop transcribes), or no model yet (the stop loads it)
        samples = self.capture.snapshot(recording_id, cut_frames)
        if samples is None:
            return
        if self._early is not None:
            # An earlier pause of this recording, with speech after it: its result can never be used.  Not
            # started yet: dropped.  Running: CTranslate2 cannot be interrupted; it finishes first.
            self._early[1].cancel()
        self._early = ((recording_id, cut_frames),
                       self._stt_pool.submit(self.stt.transcribe, samples, self.capture.rate))

    def _on_capture_ended(self, reason: StopReason) -> None:
        """From the audio thread: hand the stop to the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.ptt.capture_ended, reason)

    def _on_ptt_change(self, _old: PttState, _new: PttState, reason: str) -> None:
        self._publish_state(reason)

    def _publish_state(self, reason: str) -> None:
        self.bus.publish(VoiceStateChanged(state=str(self.ptt.state), status_text=self.status_text,
                                           available=self.available, reason=reason))

    def _unavailable(self, message: str, *, short: str | None = None) -> bool:
        self.unavailable_reason = short or message
        self._report(message, fatal=True)
        self._publish_state("unavailable")
        return False

    def _report(self, message: str, *, fatal: bool, once: bool = True) -> None:
        if once and message in self._reported:
            return
        self._reported.add(message)
        self.bus.publish(VoiceError(message=message, fatal=fatal))

    def _spawn(self, coro: Any) -> None:
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _first_clause(message: str) -> str:
    """'no whisper model: pip install x, or set y' -> 'no whisper model: pip install x' for a status bar."""
    return message.split(", or ")[0]
