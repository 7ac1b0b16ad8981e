"""Local GPUs through NVML (``import pynvml``, from the nvidia-ml-py package).

NVML calls block, so the monitor runs ``NvmlReader.read`` in a worker thread.
``lib`` is anything with pynvml's function names and error classes: the real
module by default (imported on first use, never at module import), or an
injected object in tests.

Error handling follows what NVML actually raises:
- ``NVMLError_LibraryNotFound`` / ``NVMLError_DriverNotLoaded`` from ``nvmlInit``:
  no NVIDIA driver here -> state "no local NVIDIA GPU", permanent, never raised.
- ``NVMLError_GpuIsLost`` (the GPU fell off the bus) on any call for one GPU:
  that GPU is reported with ``error`` set; the others keep reporting.
- ``NVMLError_NotSupported`` (e.g. fan speed on a passively cooled A100) on one
  field: that field is None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jarvis_tui.gpu.readings import (
    NO_LOCAL_GPU,
    SOURCE_NVML,
    STATE_NO_GPU,
    STATE_OK,
    STATE_UNKNOWN,
    GpuReading,
    LocalRead,
    clean_text,
)

# pynvml's constant values, used when an injected lib does not define them.
_NVML_TEMPERATURE_GPU = 0
_NVML_CLOCK_SM = 1
_NVML_CLOCK_MEM = 2
_MIB = 1024 * 1024

GPU_LOST_MESSAGE = "GPU is lost (fallen off the bus)"


class _GpuLost(Exception):
    """Internal: the GPU being read is gone; abandon its other fields."""


def _load_pynvml() -> Any:
    import pynvml  # nvidia-ml-py; imported here so headless paths never pay for it

    return pynvml


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return clean_text(str(value))


class NvmlReader:
    """Holds one NVML session: ``nvmlInit`` once, ``nvmlShutdown`` on ``close``."""

    def __init__(self, lib: Any = None, node: str = "local", clock: Callable[[], float] = time.time) -> None:
        self._lib = lib
        self.node = node
        self._clock = clock
        self._initialised = False
        self._failed: LocalRead | None = None  # a permanent init failure, reported once
        self._error_classes: dict[str, type[BaseException]] = {}

    # -- lifecycle ---------------------------------------------------------------
    @property
    def lib(self) -> Any:
        if self._lib is None:
            self._lib = _load_pynvml()
        return self._lib

    def _error_class(self, name: str) -> type[BaseException]:
        cached = self._error_classes.get(name)
        if cached is None:
            found = getattr(self.lib, name, None)
            if isinstance(found, type) and issubclass(found, BaseException):
                cached = found
            else:
                # An injected lib without that class: use one that nothing raises.
                cached = type(f"_Missing{name}", (Exception,), {})
            self._error_classes[name] = cached
        return cached

    def open(self) -> LocalRead | None:
        """Initialise NVML.  Returns a LocalRead describing the failure, or None when ready."""
        if self._initialised:
            return None
        if self._failed is not None:
            return self._failed
        try:
            lib = self.lib
        except ImportError:
            self._failed = LocalRead(STATE_NO_GPU, SOURCE_NVML, (),
                                     f"{NO_LOCAL_GPU} (nvidia-ml-py is not installed)", permanent=True)
            return self._failed
        nvml_error = self._error_class("NVMLError")
        no_library = (self._error_class("NVMLError_LibraryNotFound"), self._error_class("NVMLError_DriverNotLoaded"))
        try:
            lib.nvmlInit()
        except no_library as exc:
            self._failed = LocalRead(STATE_NO_GPU, SOURCE_NVML, (), f"{NO_LOCAL_GPU} ({_describe(exc)})",
                                     permanent=True)
            return self._failed
        except nvml_error as exc:
            # e.g. NoPermission or Unknown: may pass, so not permanent.
            return LocalRead(STATE_UNKNOWN, SOURCE_NVML, (), f"NVML could not start: {_describe(exc)}")
        self._initialised = True
        return None

    def close(self) -> None:
        if not self._initialised:
            return
        self._initialised = False
        try:
            self.lib.nvmlShutdown()
        except self._error_class("NVMLError"):
            pass  # shutting down a library whose GPUs vanished must not fail the app's exit

    # -- reading -----------------------------------------------------------------
    def read(self) -> LocalRead:
        failure = self.open()
        if failure is not None:
            return failure
        lib = self.lib
        nvml_error = self._error_class("NVMLError")
        try:
            count = int(lib.nvmlDeviceGetCount())
        except nvml_error as exc:
            return LocalRead(STATE_UNKNOWN, SOURCE_NVML, (), f"NVML could not count GPUs: {_describe(exc)}")
        if count == 0:
            return LocalRead(STATE_NO_GPU, SOURCE_NVML, (), f"{NO_LOCAL_GPU} (the driver reports 0 GPUs)")
        now = self._clock()
        readings = tuple(self._read_one(index, now) for index in range(count))
        return LocalRead(STATE_OK, SOURCE_NVML, readings, "")

    def _read_one(self, index: int, now: float) -> GpuReading:
        lib = self.lib
        lost = self._error_class("NVMLError_GpuIsLost")
        nvml_error = self._error_class("NVMLError")

        def field(getter: Callable[[], Any]) -> Any:
            try:
                return getter()
            except lost as exc:
                raise _GpuLost() from exc
            except nvml_error:
                # NotSupported, NoPermission, Unknown...: this field only.
                return None

        try:
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(index)
            except lost as exc:
                raise _GpuLost() from exc
            except nvml_error as exc:
                return GpuReading(node=self.node, source=SOURCE_NVML, index=index,
                                  error=f"cannot open GPU {index}: {_describe(exc)}", ts=now)
            name = field(lambda: lib.nvmlDeviceGetName(handle))
            uuid = field(lambda: lib.nvmlDeviceGetUUID(handle)) if hasattr(lib, "nvmlDeviceGetUUID") else None
            temp_sensor = getattr(lib, "NVML_TEMPERATURE_GPU", _NVML_TEMPERATURE_GPU)
            temperature = field(lambda: lib.nvmlDeviceGetTemperature(handle, temp_sensor))
            util = field(lambda: lib.nvmlDeviceGetUtilizationRates(handle))
            memory = field(lambda: lib.nvmlDeviceGetMemoryInfo(handle))
            power_mw = field(lambda: lib.nvmlDeviceGetPowerUsage(handle))
            limit_mw = field(lambda: lib.nvmlDeviceGetEnforcedPowerLimit(handle))
            fan = field(lambda: lib.nvmlDeviceGetFanSpeed(handle))
            clock_sm = field(lambda: lib.nvmlDeviceGetClockInfo(handle, getattr(lib, "NVML_CLOCK_SM", _NVML_CLOCK_SM)))
            clock_mem = field(lambda: lib.nvmlDeviceGetClockInfo(handle, getattr(lib, "NVML_CLOCK_MEM",
                                                                                  _NVML_CLOCK_MEM)))
        except _GpuLost:
            return GpuReading(node=self.node, source=SOURCE_NVML, index=index, error=GPU_LOST_MESSAGE, ts=now)

        return GpuReading(
            node=self.node,
            source=SOURCE_NVML,
            index=index,
            name=_text(name) if name is not None else "",
            uuid=_text(uuid) if uuid is not None else None,
            temperature_c=_number(temperature),
            util_gpu_pct=_number(getattr(util, "gpu", None)),
            util_mem_pct=_number(getattr(util, "memory", None)),
            mem_used_mb=_scaled(getattr(memory, "used", None), _MIB),
            mem_total_mb=_scaled(getattr(memory, "total", None), _MIB),
            power_w=_scaled(power_mw, 1000),
            power_limit_w=_scaled(limit_mw, 1000),
            fan_pct=_number(fan),
            clock_sm_mhz=_number(clock_sm),
            clock_mem_mhz=_number(clock_mem),
            ts=now,
        )


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _scaled(value: Any, divisor: float) -> float | None:
    number = _number(value)
    return None if number is None else number / divisor


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # pynvml's __str__ calls into the library for unknown codes
        text = ""
    return text or type(exc).__name__


def read_nvml(lib: Any = None, node: str = "local") -> LocalRead:
    """One-shot read: init, read every GPU, shut down.  Never raises for a missing driver."""
    reader = NvmlReader(lib, node=node)
    try:
        return reader.read()
    finally:
        reader.close()
