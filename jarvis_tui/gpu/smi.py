"""Fallback for local GPUs: parse ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits``.

Used when NVML cannot be loaded but an ``nvidia-smi`` binary exists (for
example a container with the tool mounted but not libnvidia-ml on the loader
path).  Runs in the monitor's worker thread, under a timeout, because a
wedged driver can make nvidia-smi hang for tens of seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from jarvis_tui.gpu.readings import (
    NO_LOCAL_GPU,
    SOURCE_SMI,
    STATE_NO_GPU,
    STATE_OK,
    STATE_UNKNOWN,
    GpuReading,
    LocalRead,
    clean_text,
)

QUERY_FIELDS = (
    "index", "name", "uuid", "temperature.gpu", "utilization.gpu", "utilization.memory",
    "memory.used", "memory.total", "power.draw", "power.limit", "fan.speed", "clocks.sm", "clocks.mem",
)
SMI_ARGS = (f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits")

# Values nvidia-smi prints instead of a number (with or without brackets,
# depending on the driver).  Any of them means "this field is not available".
UNAVAILABLE = {"[n/a]", "n/a", "[not supported]", "not supported", "[unknown error]", "unknown error",
               "[insufficient permissions]", "insufficient permissions", "[gpu is lost]", "gpu is lost",
               "[requested functionality has been deprecated]", ""}
LOST_MARKERS = ("gpu is lost", "unable to determine the device handle", "fallen off the bus")
NO_DRIVER_MARKERS = ("couldn't communicate with the nvidia driver", "no devices were found",
                     "nvml: driver/library version mismatch", "driver not loaded")


@dataclass(frozen=True, slots=True)
class SmiOutput:
    returncode: int
    stdout: str
    stderr: str = ""


SmiRunner = Callable[[list[str], float], SmiOutput]


def find_nvidia_smi() -> str | None:
    return shutil.which("nvidia-smi")


def run_nvidia_smi(argv: list[str], timeout: float) -> SmiOutput:
    """The real runner: a subprocess with a timeout; raises TimeoutExpired / OSError."""
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                               env={**os.environ, "LC_ALL": "C"})
    return SmiOutput(completed.returncode, completed.stdout, completed.stderr)


def _value(raw: str) -> float | None:
    text = raw.strip()
    if text.lower() in UNAVAILABLE or text.startswith("["):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_smi_csv(text: str, node: str = "local", ts: float | None = None) -> list[GpuReading]:
    """Parse the CSV nvidia-smi prints for ``QUERY_FIELDS``.

    nvidia-smi does not quote fields, so a name containing ", " would shift
    columns.  The name is the only free-text field and it sits second, so the
    line is split from both ends: index first, the 11 numeric/uuid fields last,
    and whatever lies between is the name.
    """
    now = time.time() if ts is None else ts
    readings: list[GpuReading] = []
    tail = len(QUERY_FIELDS) - 2  # uuid .. clocks.mem
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        lowered = line.lower()
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < len(QUERY_FIELDS) or not parts[0].isdigit():
            if any(marker in lowered for marker in LOST_MARKERS):
                # "Unable to determine the device handle for GPU0000:0B:00.0: Unknown Error"
                readings.append(GpuReading(node=node, source=SOURCE_SMI, index=-1,
                                           error=f"GPU is lost (fallen off the bus): {clean_text(line, 160)}", ts=now))
            continue
        index = int(parts[0])
        name = clean_text(", ".join(parts[1:len(parts) - tail]))
        (uuid, temp, util_gpu, util_mem, mem_used, mem_total, power, power_limit,
         fan, clock_sm, clock_mem) = parts[len(parts) - tail:]
        values = parts[len(parts) - tail + 1:]
        if values and all(v.lower() in ("[gpu is lost]", "gpu is lost") for v in values):
            readings.append(GpuReading(node=node, source=SOURCE_SMI, index=index, name=name,
                                       uuid=uuid if uuid.upper().startswith("GPU-") else None,
                                       error="GPU is lost (fallen off the bus)", ts=now))
            continue
        readings.append(GpuReading(
            node=node,
            source=SOURCE_SMI,
            index=index,
            name=name,
            uuid=uuid if uuid.upper().startswith(("GPU-", "MIG-")) else None,
            temperature_c=_value(temp),
            util_gpu_pct=_value(util_gpu),
            util_mem_pct=_value(util_mem),
            mem_used_mb=_value(mem_used),
            mem_total_mb=_value(mem_total),
            power_w=_value(power),
            power_limit_w=_value(power_limit),
            fan_pct=_value(fan),
            clock_sm_mhz=_value(clock_sm),
            clock_mem_mhz=_value(clock_mem),
            ts=now,
        ))
    # Number GPUs whose line gave no index after the ones that did, so each has a distinct index.
    next_index = max((r.index for r in readings), default=-1) + 1
    numbered: list[GpuReading] = []
    for reading in readings:
        if reading.index < 0:
            reading = GpuReading(node=reading.node, source=reading.source, index=next_index,
                                 error=reading.error, ts=reading.ts)
            next_index += 1
        numbered.append(reading)
    numbered.sort(key=lambda r: r.index)
    return numbered


def read_smi(node: str = "local", timeout: float = 3.0, runner: SmiRunner | None = None,
             binary: str | None = None) -> LocalRead:
    """Run nvidia-smi once and parse it.  Never raises: every failure is a LocalRead state."""
    if runner is None:
        binary = binary or find_nvidia_smi()
        if binary is None:
            return LocalRead(STATE_NO_GPU, SOURCE_SMI, (), f"{NO_LOCAL_GPU} (no NVML library and no nvidia-smi)",
                             permanent=True)
        runner = run_nvidia_smi
    argv = [binary or "nvidia-smi", *SMI_ARGS]
    try:
        output = runner(argv, timeout)
    except subprocess.TimeoutExpired:
        return LocalRead(STATE_UNKNOWN, SOURCE_SMI, (), f"nvidia-smi did not answer within {timeout:g} s")
    except OSError as exc:
        return LocalRead(STATE_UNKNOWN, SOURCE_SMI, (), f"cannot run nvidia-smi: {exc.strerror or exc}")
    readings = parse_smi_csv(output.stdout, node=node)
    if readings:
        return LocalRead(STATE_OK, SOURCE_SMI, tuple(readings), "")
    combined = f"{output.stdout}\n{output.stderr}".strip()
    first_line = combined.splitlines()[0][:200] if combined else f"exit code {output.returncode}"
    if any(marker in combined.lower() for marker in NO_DRIVER_MARKERS):
        return LocalRead(STATE_NO_GPU, SOURCE_SMI, (), f"{NO_LOCAL_GPU} (nvidia-smi: {first_line})")
    return LocalRead(STATE_UNKNOWN, SOURCE_SMI, (), f"nvidia-smi gave no readings: {first_line}")
