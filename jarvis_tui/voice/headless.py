"""``jarvis --voice-test FILE.wav [--json]``: one file through transcribe -> correct -> match.

Also runnable alone: ``python -m jarvis_tui.voice.headless FILE.wav [--json] [--config PATH]``.

The pipeline is the cockpit's: whisper, the corrections dictionary, then the
fast-node LLM correction when ``[voice] llm_correction_node`` names a node of
the config (the same ``TranscriptCorrector`` and ``node_corrector`` the
cockpit's ``VoiceService`` uses, the same ``llm_correction_timeout_s``; a
slow, failing or implausible reply leaves the dictionary text), then the
command matcher.  The output says whether the LLM step ran, was skipped or
fell back, and how long it took.  Without a node to ask, nothing of the core
(httpx, the orchestrator) is imported.

Exit codes: 0 done (whether or not a command matched), 2 bad input (missing
file, not a WAV, no whisper model, bad config or data file).  Errors are one
line on stderr.  Text from the model is printed with control characters
removed, so a transcript can never move the cursor or recolour the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
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

    ``config`` is a loaded ``Config``, a ``VoiceSettings``, or None for defaults.  The LLM
    correction step needs a ``Config`` whose nodes include ``[voice] llm_correction_node``.
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
    correction, skip_reason, correct_s = asyncio.run(_correct(transcript.text, table, settings, config))
    matching = time.perf_counter()
    match = matcher.match(correction.text) if correction.text else None
    matched_at = time.perf_counter()
    best = matcher.score_all(correction.text)[:1] if correction.text else []

    llm: dict[str, Any] = {
        "node": settings.llm_correction_node,
        "status": correction.llm,
        # From the 4-place figure under "timings", so the two never disagree (0.04553 gave 0.046 here and 0.0455
        # there, which rounds to 0.045).
        "s": round(round(correction.llm_s, 4), 3),
        "timeout_s": settings.llm_correction_timeout_s,
        "reason": skip_reason if correction.llm == "skipped" else correction.llm_error,
    }
    result: dict[str, Any] = {
        "file": str(wav_path),
        "model": str(stt.model_path),
        "device": stt.device,
        "language": transcript.language,
        "audio_s": round(transcript.audio_s, 3),
        "transcript": transcript.text,
        "corrected": correction.text,
        "corrections": list(correction.applied),
        "llm_correction": llm,
        "command": None if match is None else {
            "action": match.action, "arg": match.arg, "rest": match.rest, "score": match.score,
            "phrase": match.phrase, "needs_confirmation": match.needs_confirmation,
        },
        "best_score": round(best[0][0], 1) if best else 0.0,
        "threshold": settings.command_threshold,
        "timings": {
            "load_s": round(load_s, 3),
            "transcribe_s": round(transcript.transcribe_s, 3),
            "correct_s": round(correct_s, 4),  # the dictionary and the LLM step, as in the cockpit
            "llm_s": round(correction.llm_s, 4),
            "match_s": round(matched_at - matching, 4),
        },
    }
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return EXIT_OK
    timings = result["timings"]
    print(f"transcript: {_plain(transcript.text)}")
    if correction.applied:
        print(f"corrected:  {_plain(correction.text)}  ({'; '.join(_plain(a) for a in correction.applied)})")
    print(f"llm:        {_llm_line(llm)}")
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
          f"correct {timings['correct_s'] * 1000:.1f} ms (llm {timings['llm_s'] * 1000:.1f} ms), "
          f"match {timings['match_s'] * 1000:.1f} ms")
    return EXIT_OK


def _llm_line(llm: dict[str, Any]) -> str:
    if llm["status"] == "skipped":
        return f"skipped ({_plain(llm['reason'])})"
    took = f"{llm['s']:.2f} s"
    if llm["status"] == "ran":
        return f"node {_plain(llm['node'])} answered in {took}"
    return f"node {_plain(llm['node'])}: {_plain(llm['reason'])} ({took}); the dictionary text stands"


async def _correct(text: str, table: Any, settings: VoiceSettings, config: Any) -> tuple[Any, str, float]:
    """The cockpit's correction step on ``text``.

    Returns the ``CorrectionResult``, why the LLM step was skipped ("" when it was not), and the
    seconds the step took; setting up the node's client is not counted (the cockpit's is up already).
    """
    from jarvis_tui.voice.corrections import TranscriptCorrector

    node = settings.llm_correction_node
    reason = ""
    if not node:
        reason = "no [voice] llm_correction_node"
    elif not hasattr(config, "nodes"):
        reason = f"no config with nodes to reach node {node}"
    elif not text.strip():
        reason = "nothing to correct"
    if reason:
        started = time.perf_counter()
        result = await TranscriptCorrector(table).correct(text)
        return result, reason, time.perf_counter() - started
    # Only now the core: a voice test without a correction node never imports httpx or the orchestrator.
    from jarvis_tui.headless import _import_httpx_without_its_cli

    _import_httpx_without_its_cli()
    from jarvis_tui.core.orchestrator import Orchestrator
    from jarvis_tui.voice.llm import node_corrector

    orchestrator = Orchestrator(config)
    try:
        # No store (nothing is saved) and no node discovery: the node must be one the config names.
        await orchestrator.start(open_store=False, bootstrap=False)
        corrector = TranscriptCorrector(table, node_corrector(orchestrator, node), settings.llm_correction_timeout_s)
        started = time.perf_counter()
        result = await corrector.correct(text)
        return result, "", time.perf_counter() - started
    finally:
        await orchestrator.close()


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

