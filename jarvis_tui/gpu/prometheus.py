"""Remote node GPUs: scrape a Prometheus exporter and turn its samples into GpuReadings.

Two real exporters are understood:

- NVIDIA DCGM exporter (``DCGM_FI_DEV_*``; labels ``gpu``, ``UUID``, ``device``,
  ``modelName``, ``Hostname``).  Units: temperature °C, utilisation %, framebuffer
  MiB, power W, clocks MHz.
- utkuozdemir/nvidia_gpu_exporter (``nvidia_smi_*``; every per-GPU series is
  labelled ``uuid``, identity in ``nvidia_smi_gpu_info{uuid,name,index,...}``).
  It converts nvidia-smi's units to base units: utilisation and fan are ratios
  (0-1), memory bytes, clocks Hz; temperature °C and power W stay as they are.

The exposition text is parsed by ``prometheus_client.parser`` (imported on first
use).  Failures raise ``ScrapeError`` with one line saying what went wrong; the
monitor turns that into the node's "unknown" state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jarvis_tui.gpu.readings import SOURCE_DCGM, SOURCE_NVIDIA_GPU_EXPORTER, GpuReading, clean_text

MAX_BODY_BYTES = 8 * 1024 * 1024  # a GPU exporter page is ~20-200 KB; refuse anything absurd
_MIB = 1024 * 1024

# DCGM field -> (GpuReading field, multiplier)
DCGM_FIELDS: dict[str, tuple[str, float]] = {
    "DCGM_FI_DEV_GPU_TEMP": ("temperature_c", 1.0),
    "DCGM_FI_DEV_GPU_UTIL": ("util_gpu_pct", 1.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("util_mem_pct", 1.0),
    "DCGM_FI_DEV_FB_USED": ("mem_used_mb", 1.0),
    "DCGM_FI_DEV_FB_TOTAL": ("mem_total_mb", 1.0),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": ("power_limit_w", 1.0),
    "DCGM_FI_DEV_ENFORCED_POWER_LIMIT": ("power_limit_w", 1.0),
    "DCGM_FI_DEV_FAN_SPEED": ("fan_pct", 1.0),
    "DCGM_FI_DEV_SM_CLOCK": ("clock_sm_mhz", 1.0),
    "DCGM_FI_DEV_MEM_CLOCK": ("clock_mem_mhz", 1.0),
}
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"
DCGM_FB_RESERVED = "DCGM_FI_DEV_FB_RESERVED"

# nvidia_gpu_exporter metric -> (GpuReading field, multiplier).  Earlier names come first
# so a later alias (older exporter versions) only fills what is still empty.
NVIDIA_SMI_FIELDS: dict[str, tuple[str, float]] = {
    "nvidia_smi_temperature_gpu": ("temperature_c", 1.0),
    "nvidia_smi_utilization_gpu_ratio": ("util_gpu_pct", 100.0),
    "nvidia_smi_utilization_memory_ratio": ("util_mem_pct", 100.0),
    "nvidia_smi_memory_used_bytes": ("mem_used_mb", 1.0 / _MIB),
    "nvidia_smi_memory_total_bytes": ("mem_total_mb", 1.0 / _MIB),
    "nvidia_smi_power_draw_watts": ("power_w", 1.0),
    "nvidia_smi_power_limit_watts": ("power_limit_w", 1.0),
    "nvidia_smi_enforced_power_limit_watts": ("power_limit_w", 1.0),
    "nvidia_smi_fan_speed_ratio": ("fan_pct", 100.0),
    "nvidia_smi_clocks_current_sm_clock_hz": ("clock_sm_mhz", 1e-6),
    "nvidia_smi_clocks_sm_clock_hz": ("clock_sm_mhz", 1e-6),
    "nvidia_smi_clocks_current_memory_clock_hz": ("clock_mem_mhz", 1e-6),
    "nvidia_smi_clocks_mem_clock_hz": ("clock_mem_mhz", 1e-6),
}


# Every series the readings are built from.  Pages carry many more (profiling
# counters, per-process series, the exporter's own Go runtime metrics); only these
# lines are handed to the parser, which keeps a poll's CPU cost low.
KNOWN_METRICS = frozenset(DCGM_FIELDS) | {DCGM_FB_FREE, DCGM_FB_RESERVED} | frozenset(NVIDIA_SMI_FIELDS) | {
    "nvidia_smi_gpu_info", "nvidia_smi_index", "nvidia_smi_command_exit_code"}


class ScrapeError(Exception):
    """A scrape failed; ``str()`` is one line for the user."""


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    source: str
    readings: tuple[GpuReading, ...]


def _samples(text: str) -> list[Any]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    except (ValueError, TypeError, IndexError) as exc:
        raise ScrapeError(f"not Prometheus text format ({str(exc)[:120]})") from None


def _known_lines(text: str) -> str:
    """The lines of ``text`` that belong to KNOWN_METRICS (samples and their HELP/TYPE)."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE") and parts[2] in KNOWN_METRICS:
                kept.append(line)
            continue
        name = line.split("{", 1)[0].split(None, 1)[0] if line.strip() else ""
        if name in KNOWN_METRICS:
            kept.append(line)
    return "\n".join(kept) + "\n" if kept else ""


def parse_gpu_metrics(text: str, node: str, ts: float | None = None) -> ScrapeResult:
    """Parse an exporter page; raises ScrapeError when it holds no GPU metrics we know."""
    now = time.time() if ts is None else ts
    known = _known_lines(text)
    # With nothing known, parse it all: the error then says whether it was Prometheus text at all.
    samples = _samples(known if known else text)
    if any(s.name.startswith("DCGM_FI_DEV_") for s in samples):
        return ScrapeResult(SOURCE_DCGM, tuple(_from_dcgm(samples, node, now)))
    if any(s.name.startswith("nvidia_smi_") for s in samples):
        readings = tuple(_from_nvidia_gpu_exporter(samples, node, now))
        if not readings:
            exit_code = next((s.value for s in samples if s.name == "nvidia_smi_command_exit_code"), None)
            detail = f" (nvidia-smi exit code {exit_code:g})" if exit_code else ""
            raise ScrapeError(f"nvidia_gpu_exporter reports no GPUs{detail}")
        return ScrapeResult(SOURCE_NVIDIA_GPU_EXPORTER, readings)
    raise ScrapeError("no DCGM_FI_DEV_* or nvidia_smi_* metrics: not a DCGM or nvidia_gpu_exporter page")


def _from_dcgm(samples: Iterable[Any], node: str, now: float) -> list[GpuReading]:
    gpus: dict[int, dict[str, Any]] = {}
    for sample in samples:
        name = sample.name
        if not name.startswith("DCGM_FI_DEV_"):
            continue
        labels = sample.labels
        try:
            index = int(labels.get("gpu", ""))
        except ValueError:
            continue
        if labels.get("GPU_I_ID"):
            # A MIG instance's series: utilisation and memory are per slice, not the card.
            continue
        gpu = gpus.setdefault(index, {"index": index})
        gpu.setdefault("uuid", clean_text(labels.get("UUID", "")) or None)
        gpu.setdefault("name", clean_text(labels.get("modelName", "")))
        if name in DCGM_FIELDS:
            target, scale = DCGM_FIELDS[name]
            gpu.setdefault(target, _finite(sample.value, scale))
        elif name == DCGM_FB_FREE:
            gpu["_free"] = _finite(sample.value, 1.0)
        elif name == DCGM_FB_RESERVED:
            gpu["_reserved"] = _finite(sample.value, 1.0)
    readings = []
    for index in sorted(gpus):
        gpu = gpus[index]
        free = gpu.pop("_free", None)
        reserved = gpu.pop("_reserved", None) or 0.0
        if gpu.get("mem_total_mb") is None and free is not None and gpu.get("mem_used_mb") is not None:
            gpu["mem_total_mb"] = gpu["mem_used_mb"] + free + reserved
        readings.append(GpuReading(node=node, source=SOURCE_DCGM, ts=now, **gpu))
    return readings


def _from_nvidia_gpu_exporter(samples: Iterable[Any], node: str, now: float) -> list[GpuReading]:
    gpus: dict[str, dict[str, Any]] = {}  # keyed by the uuid label, in order of appearance
    for sample in samples:
        uuid = sample.labels.get("uuid")
        if not uuid:
            continue  # exporter health series (last_collect_success, command_exit_code...)
        gpu = gpus.setdefault(uuid, {"uuid": clean_text(uuid)})
        name = sample.name
        if name == "nvidia_smi_gpu_info":
            gpu["name"] = clean_text(sample.labels.get("name", ""))
            index = sample.labels.get("index", "")
            if index.isdigit():
                gpu["index"] = int(index)
        elif name == "nvidia_smi_index" and "index" not in gpu:
            value = _finite(sample.value, 1.0)
            if value is not None:
                gpu["index"] = int(value)
        elif name in NVIDIA_SMI_FIELDS:
            target, scale = NVIDIA_SMI_FIELDS[name]
            if gpu.get(target) is None:
                gpu[target] = _finite(sample.value, scale)
    readings = []
    used_indexes = {g["index"] for g in gpus.values() if "index" in g}
    next_index = 0
    for gpu in gpus.values():
        if not any(key in gpu for key in ("name", "temperature_c", "mem_total_mb")):
            continue  # only per-process series carried this uuid
        if "index" not in gpu:
            while next_index in used_indexes:
                next_index += 1
            gpu["index"] = next_index
            used_indexes.add(next_index)
        readings.append(GpuReading(node=node, source=SOURCE_NVIDIA_GPU_EXPORTER, ts=now, **gpu))
    readings.sort(key=lambda r: r.index)
    return readings


def _finite(value: float, scale: float) -> float | None:
    if value != value or value in (float("inf"), float("-inf")):  # NaN / Inf: the exporter had no value
        return None
    return round(value * scale, 6)


async def scrape_gpu_metrics(client: Any, url: str, node: str, timeout: float) -> ScrapeResult:
    """GET ``url`` with ``client`` (an httpx.AsyncClient) and parse it.  Raises ScrapeError."""
    import httpx

    try:
        async with client.stream("GET", url, timeout=httpx.Timeout(timeout),
                                 headers={"Accept": "text/plain;version=0.0.4"}) as response:
            if response.status_code != 200:
                raise ScrapeError(f"exporter answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ScrapeError(f"exporter page larger than {MAX_BODY_BYTES // _MIB} MiB")
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise ScrapeError(f"exporter did not answer within {timeout:g} s") from None
    except httpx.ConnectError as exc:
        raise ScrapeError(f"cannot connect to exporter ({_short(exc)})") from None
    except httpx.HTTPError as exc:
        raise ScrapeError(f"scrape failed ({type(exc).__name__}: {_short(exc)})") from None
    text = b"".join(chunks).decode("utf-8", "replace")
    return parse_gpu_metrics(text, node)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]
