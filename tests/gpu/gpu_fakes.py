"""Boundary fakes for the GPU tests (imported by conftest.py and the tests): an NVML library object with pynvml's real
function names, structures and error classes, and a real HTTP exporter on
127.0.0.1 whose page, status and delay each test programs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pynvml

# ----------------------------------------------------------------- NVML


@dataclass
class FakeGpu:
    name: str
    uuid: str
    temperature_c: int = 45
    util_gpu: int = 10
    util_mem: int = 5
    mem_total_mib: int = 8192
    mem_used_mib: int = 1024
    power_mw: int = 50_000
    power_limit_mw: int = 200_000
    fan_pct: int = 40
    clock_sm_mhz: int = 1500
    clock_mem_mhz: int = 7000
    # function name -> exception *class* raised for this GPU (real pynvml classes)
    errors: dict[str, type[BaseException]] = field(default_factory=dict)


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index


class FakeNvml:
    """Speaks pynvml's API: same function names, same ctypes structures, same error classes."""

    NVMLError = pynvml.NVMLError
    NVMLError_LibraryNotFound = pynvml.NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = pynvml.NVMLError_DriverNotLoaded
    NVMLError_GpuIsLost = pynvml.NVMLError_GpuIsLost
    NVMLError_NotSupported = pynvml.NVMLError_NotSupported
    NVMLError_Uninitialized = pynvml.NVMLError_Uninitialized
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM

    def __init__(self, gpus: list[FakeGpu], init_error: type[BaseException] | None = None,
                 call_delay_s: float = 0.0) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.call_delay_s = call_delay_s
        self.init_calls = 0
        self.shutdown_calls = 0
        self.initialised = False
        self.call_threads: set[int] = set()
        self.calls = 0

    def _enter(self, handle: _Handle | None, fn: str) -> FakeGpu | None:
        self.calls += 1
        self.call_threads.add(threading.get_ident())
        if self.call_delay_s:
            time.sleep(self.call_delay_s)
        if not self.initialised:
            raise pynvml.NVMLError_Uninitialized()
        if handle is None:
            return None
        gpu = self.gpus[handle.index]
        error = gpu.errors.get(fn)
        if error is not None:
            raise error()
        return gpu

    def nvmlInit(self) -> None:
        self.init_calls += 1
        self.call_threads.add(threading.get_ident())
        if self.init_error is not None:
            raise self.init_error()
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self._enter(None, "nvmlShutdown")
        self.shutdown_calls += 1
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        self._enter(None, "nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._enter(None, "nvmlDeviceGetHandleByIndex")
        if index >= len(self.gpus):
            raise pynvml.NVMLError_InvalidArgument()
        error = self.gpus[index].errors.get("nvmlDeviceGetHandleByIndex")
        if error is not None:
            raise error()
        return _Handle(index)

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return self._enter(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        return self._enter(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._enter(handle, "nvmlDeviceGetTemperature").temperature_c

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> Any:
        gpu = self._enter(handle, "nvmlDeviceGetUtilizationRates")
        return pynvml.c_nvmlUtilization_t(gpu=gpu.util_gpu, memory=gpu.util_mem)

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: Any = None) -> Any:
        gpu = self._enter(handle, "nvmlDeviceGetMemoryInfo")
        total, used = gpu.mem_total_mib * 1024 * 1024, gpu.mem_used_mib * 1024 * 1024
        return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        return self._enter(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:
        return self._enter(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetFanSpeed(self, handle: _Handle) -> int:
        return self._enter(handle, "nvmlDeviceGetFanSpeed").fan_pct

    def nvmlDeviceGetClockInfo(self, handle: _Handle, clock_type: int) -> int:
        gpu = self._enter(handle, "nvmlDeviceGetClockInfo")
        return {pynvml.NVML_CLOCK_SM: gpu.clock_sm_mhz, pynvml.NVML_CLOCK_MEM: gpu.clock_mem_mhz}[clock_type]


def m1_gpus() -> list[FakeGpu]:
    """The user's M1: an RTX 2060, four GTX 1660 SUPER and an RTX 3080."""
    gpus = [FakeGpu("NVIDIA GeForce RTX 2060", "GPU-2060aaaa-0000-4000-8000-000000000000", 52,
                    mem_total_mib=6144, power_limit_mw=160_000)]
    for i in range(4):
        gpus.append(FakeGpu("NVIDIA GeForce GTX 1660 SUPER", f"GPU-1660bbbb-0000-4000-8000-00000000000{i}",
                            60 + i, mem_total_mib=6144, power_limit_mw=125_000))
    gpus.append(FakeGpu("NVIDIA GeForce RTX 3080", "GPU-3080cccc-0000-4000-8000-000000000000", 71,
                        util_gpu=97, mem_total_mib=10240, mem_used_mib=9012, power_mw=312_450,
                        power_limit_mw=320_000, fan_pct=78, clock_sm_mhz=1905, clock_mem_mhz=9501))
    return gpus


# ----------------------------------------------------------------- loopback exporter


class LoopbackExporter:
    """A real HTTP server on 127.0.0.1 serving a programmable /metrics page."""

    def __init__(self) -> None:
        self.body = ""
        self.status = 200
        self.delay_s = 0.0
        self.hits = 0
        self._release = threading.Event()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's API
                exporter.hits += 1
                if exporter.delay_s:
                    exporter._release.wait(exporter.delay_s)
                body = exporter.body.encode("utf-8")
                try:
                    self.send_response(exporter.status)
                    self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the scraper gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------- exporter pages

M1_MODELS = ["NVIDIA GeForce RTX 2060"] + ["NVIDIA GeForce GTX 1660 SUPER"] * 4 + ["NVIDIA GeForce RTX 3080"]
_DCGM_HELP = {
    "DCGM_FI_DEV_SM_CLOCK": ("SM clock frequency (in MHz).", "gauge"),
    "DCGM_FI_DEV_MEM_CLOCK": ("Memory clock frequency (in MHz).", "gauge"),
    "DCGM_FI_DEV_GPU_TEMP": ("GPU temperature (in C).", "gauge"),
    "DCGM_FI_DEV_POWER_USAGE": ("Power draw (in W).", "gauge"),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": ("Total energy consumption since boot (in mJ).", "counter"),
    "DCGM_FI_DEV_GPU_UTIL": ("GPU utilization (in %).", "gauge"),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("Memory utilization (in %).", "gauge"),
    "DCGM_FI_DEV_FB_FREE": ("Framebuffer memory free (in MiB).", "gauge"),
    "DCGM_FI_DEV_FB_USED": ("Framebuffer memory used (in MiB).", "gauge"),
}


def dcgm_page(temps: list[float], models: list[str] | None = None, hostname: str = "m1") -> str:
    """A DCGM exporter page (default counters, HELP/TYPE lines, real label set) for len(temps) GPUs."""
    models = models or (M1_MODELS if len(temps) == 6 else ["NVIDIA GeForce RTX 3080"] * len(temps))
    lines: list[str] = []
    for metric, (help_text, kind) in _DCGM_HELP.items():
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for i, temp in enumerate(temps):
            total = 10240 if "3080" in models[i] else 6144
            value = {"DCGM_FI_DEV_SM_CLOCK": 1800, "DCGM_FI_DEV_MEM_CLOCK": 7000, "DCGM_FI_DEV_GPU_TEMP": temp,
                     "DCGM_FI_DEV_POWER_USAGE": 100.5 + i, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": 123456789,
                     "DCGM_FI_DEV_GPU_UTIL": 50 + i, "DCGM_FI_DEV_MEM_COPY_UTIL": 20,
                     "DCGM_FI_DEV_FB_FREE": total - 2048, "DCGM_FI_DEV_FB_USED": 2048}[metric]
            labels = (f'gpu="{i}",UUID="GPU-{hostname}-{i:04d}-4000-8000-000000000000",'
                      f'pci_bus_id="00000000:{i + 1:02X}:00.0",device="nvidia{i}",modelName="{models[i]}",'
                      f'Hostname="{hostname}",DCGM_FI_DRIVER_VERSION="550.54.14"')
            lines.append(f"{metric}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"
