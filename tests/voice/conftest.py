"""Voice fixtures: real speech made by espeak-ng at test time, a warm tiny.en,
and a test HOME whose ALSA config turns a raw clip into the default microphone.

Nothing here fakes whisper, sounddevice or pyttsx3; the only stand-in is the
microphone itself (an ALSA ``file`` plugin reading the clip), at the boundary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from jarvis_tui.paths import PROJECT_DIR
from jarvis_tui.voice.settings import VoiceSettings

GPU_QUESTION = "Jarvis, what is the temperature of the GPU?"


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: apt-get install -y espeak-ng sox (see README / .ci/setup)")
    return path


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def make_speech(speech_dir: Path) -> Callable[[str], Path]:
    """``make_speech(text) -> 16 kHz mono 16-bit WAV`` spoken by espeak-ng, padded with 0.3 s of silence."""
    espeak, sox = _need("espeak-ng"), _need("sox")
    made: dict[str, Path] = {}

    def make(text: str) -> Path:
        if text not in made:
            stem = f"utt{len(made)}"
            raw = speech_dir / f"{stem}-22k.wav"
            out = speech_dir / f"{stem}.wav"
            subprocess.run([espeak, "-s", "140", "-w", str(raw), text], check=True, capture_output=True)
            # -D: no dither.  sox dithers with a randomly seeded generator by default, so every run
            # made a slightly different clip, and tiny.en heard "run the benchmark" three different
            # ways (1 run in 5 not a command).  Whisper itself is deterministic on a fixed input.
            subprocess.run([sox, "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), "pad", "0.3", "0.3"],
                           check=True, capture_output=True)
            made[text] = out
        return made[text]

    return make


@pytest.fixture(scope="session")
def gpu_question_wav(make_speech: Callable[[str], Path]) -> Path:
    return make_speech(GPU_QUESTION)


@pytest.fixture(scope="session")
def warm_stt():
    """One tiny.en model for the whole session (loading costs ~0.6 s)."""
    from jarvis_tui.voice.stt import SpeechToText

    stt = SpeechToText(VoiceSettings())
    stt.load()
    return stt


def wav_to_raw(wav: Path, raw: Path) -> bytes:
    from jarvis_tui.voice.stt import read_wav

    samples, rate = read_wav(wav)
    assert rate == 16000
    data = samples.astype("<i2").tobytes()
    raw.write_bytes(data)
    return data


def make_alsa_home(root: Path, clip_raw: Path) -> Path:
    """A HOME whose default ALSA device reads ``clip_raw`` (raw S16_LE 16 kHz mono) as its input
    and throws playback away.  A regular file is read faster than real time and then gives
    silence; a FIFO blocks the stream until someone writes audio into it."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".asoundrc").write_text(textwrap.dedent(f"""\
        pcm.wavin {{ type file; slave.pcm "null"; file "/dev/null"; infile "{clip_raw}"; format "raw" }}
        pcm.!default {{ type plug; slave {{ pcm "wavin"; format S16_LE; rate 16000; channels 1 }} }}
        """))
    return home


def run_with_home(home: Path, code: str, timeout: float = 90, args: list[str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter with HOME=home (PortAudio reads ~/.asoundrc when it
    initialises, at import).  The code prints one JSON object as its last stdout line."""
    env = dict(os.environ, HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=str(PROJECT_DIR))
    env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *(args or [])], env=env, cwd=PROJECT_DIR,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, f"no output; stderr:\n{proc.stderr}"
    result = json.loads(lines[-1])
    result["_stdout"] = proc.stdout
    result["_stderr"] = proc.stderr
    return result
