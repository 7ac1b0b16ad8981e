"""What every GPU source (NVML, nvidia-smi, Prometheus exporters) turns into.

This module imports only the standard library: the headless face, the core
and the cockpit all read these types.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Where a reading came from.
SOURCE_NVML = "nvml"
SOURCE_SMI = "smi"
SOURCE_DCGM = "dcgm"
SOURCE_NVIDIA_GPU_EXPORTER = "nvidia_gpu_exporter"
SOURCES = (SOURCE_NVML, SOURCE_SMI, SOURCE_DCGM, SOURCE_NVIDIA_GPU_EXPORTER)

# The state of one node's GPU telemetry as a whole.
STATE_OK = "ok"                # readings arrived this poll
STATE_UNKNOWN = "unknown"      # the source could not be read (exporter down, timeout, bad payload)
STATE_NO_GPU = "no_gpu"        # the source answered: there is no NVIDIA GPU here
STATE_DISABLED = "disabled"    # [gpu] enabled = false, or local_source = "off"
STATE_PENDING = "pending"      # not polled yet

NO_LOCAL_GPU = "no local NVIDIA GPU"
MAX_NAME_CHARS = 96


def clean_text(value: str, limit: int = MAX_NAME_CHARS) -> str:
    """Strip control characters (terminal escapes) from text a GPU source reported.

    GPU names and UUIDs come from remote exporters: they are shown in a
    terminal, so nothing in them may act as an escape sequence.
    """
    return "".join(ch for ch in value if ch.isprintable())[:limit].strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuReading:
    """One GPU at one moment.  A field is None when the GPU or source does not report it.

    Memory is in MiB (what nvidia-smi and DCGM call "MB"), power in watts,
    clocks in MHz, utilisation and fan in percent (0-100).
    """

    node: str
    source: str
    index: int
    name: str = ""
    uuid: str | None = None
    temperature_c: float | None = None
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None
    mem_used_mb: float | None = None
    mem_total_mb: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    fan_pct: float | None = None
    clock_sm_mhz: float | None = None
    clock_mem_mhz: float | None = None
    error: str | None = None  # e.g. "GPU is lost (fallen off the bus)"; other fields are then None
    ts: float = 0.0  # wall-clock seconds of the read

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def mem_pct(self) -> float | None:
        if self.mem_used_mb is None or not self.mem_total_mb:
            return None
        return 100.0 * self.mem_used_mb / self.mem_total_mb

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeGpuState:
    """Everything known about one node's GPUs after a poll."""

    node: str
    state: str = STATE_PENDING
    source: str = ""
    readings: tuple[GpuReading, ...] = ()
    message: str = ""  # one line for humans: "no local NVIDIA GPU", "exporter timed out after 1.5 s"
    ts: float = 0.0
    url: str | None = None  # the exporter scraped, for remote nodes
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "state": self.state,
            "source": self.source,
            "message": self.message,
            "ts": self.ts,
            "url": self.url,
            "readings": [r.to_dict() for r in self.readings],
        }


@dataclass(frozen=True, slots=True)
class LocalRead:
    """What a local reader (NVML or nvidia-smi) returns for one poll."""

    state: str
    source: str
    readings: tuple[GpuReading, ...] = ()
    message: str = ""
    # True when the failure is permanent for this process (no driver library):
    # the monitor stops retrying instead of paying for it every poll.
    permanent: bool = False
