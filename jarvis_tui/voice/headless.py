"""``jarvis --voice-test FILE.wav [--json]``: one file through transcribe -> correct -> match.

Also runnable alone: ``python -m jarvis_tui.voice.headless FILE.wav [--json] [--config PATH]``.

Exit codes: 0 done (whether or not a command matched), 2 bad input (missing
file, not a WAV, no whisper model, bad config or data file).  Errors are one
line on stderr.  Text from the model is printed with control characters
removed, so a transcript can never move the cursor or recolour the terminal.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from typing import Any

from jarvis_tui.voice.settings import VoiceSettings

EXIT_OK = 0
EXIT_BAD_INPUT = 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(text: str) -> str:
    return _CONTROL.sub(" ", text)


def _settings_from(config: Any) -> VoiceSettings:
    if config is None:
        return VoiceSettings()
    if isinstance(config, VoiceSettings):
        return config
    return config.section("voice")


def run_voice_test(wav_path: str, as_json: bool = False, config: Any = None) -> int:
    """Transcribe, correct and match one WAV; print the result.  Returns the exit code.

    ``config`` is a loaded ``Config``, a ``VoiceSettings``, or None for defaults.
    The LLM correction step is skipped here (no orchestrator); the dictionary applies.
    """
    from jarvis_tui.voice.commands import CommandMatcher, CommandsError
    from jarvis_tui.voice.corrections import CorrectionsError, CorrectionTable
    from jarvis_tui.voice.stt import AudioFileError, ModelUnavailable, SpeechToText, read_wav

    settings = _settings_from(config)
    try:
        samples, rate = read_wav(wav_path)  # before the model loads: a bad file fails in milliseconds
        table = CorrectionTable.load(settings.corrections_path)
        matcher = CommandMatcher.load(settings.commands_path, wake_word=settings.wake_word,
                                      threshold=settings.command_threshold)
        stt = SpeechToText(settings)
        load_s = stt.load()
        transcript = stt.transcribe(samples, rate)
    except (AudioFileError, ModelUnavailable, CommandsError, CorrectionsError) as exc:
        print(f"jarvis: voice-test: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    started = time.perf_counter()
    correction = table.apply(transcript.text)
    corrected_at = time.perf_counter()
    match = matcher.match(correction.text) if correction.text else None
    matched_at = time.perf_counter()
    best = matcher.score_all(correction.text)[:1] if correction.text else []

    result: dict[str, Any] = {
        "file": str(wav_path),
        "model": str(stt.model_path),
        "device": stt.device,
        "language": transcript.language,
        "audio_s": round(transcript.audio_s, 3),
        "transcript": transcript.text,
        "corrected": correction.text,
        "corrections": list(correction.applied),
        "command": None if match is None else {
            "action": match.action, "arg": match.arg, "rest": match.rest, "score": match.score,
            "phrase": match.phrase, "needs_confirmation": match.needs_confirmation,
        },
        "best_score": round(best[0][0], 1) if best else 0.0,
        "threshold": settings.command_threshold,
        "timings": {
            "load_s": round(load_s, 3),
            "transcribe_s": round(transcript.transcribe_s, 3),
            "correct_s": round(corrected_at - started, 4),
            "match_s": round(matched_at - corrected_at, 4),
        },
    }
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return EXIT_OK
    timings = result["timings"]
    print(f"transcript: {_plain(transcript.text)}")
    if correction.applied:
        print(f"corrected:  {_plain(correction.text)}  ({'; '.join(_plain(a) for a in correction.applied)})")
    if match is None:
        print(f"command:    none (best score {result['best_score']:g} < {settings.command_threshold:g}); "
              "the text would go to the commander as a prompt")
    else:
        extra = f" {match.arg}" if match.arg else ""
        rest = f"  rest: {_plain(match.rest)}" if match.rest else ""
        confirm = "  (asks for confirmation)" if match.needs_confirmation else ""
        print(f"command:    {match.action}{extra}  score {match.score:g}{rest}{confirm}")
    print(f"language:   {transcript.language}  audio {transcript.audio_s:.2f} s")
    print(f"timings:    load {timings['load_s']:.2f} s, transcribe {timings['transcribe_s']:.2f} s, "
          f"correct {timings['correct_s'] * 1000:.1f} ms, match {timings['match_s'] * 1000:.1f} ms")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jarvis_tui.voice.headless",
                                     description="Transcribe, correct and match one WAV file.")
    parser.add_argument("wav")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    from jarvis_tui.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"jarvis: config error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_voice_test(args.wav, args.json, config)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

