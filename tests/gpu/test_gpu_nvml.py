"""NVML through an injected library object with pynvml's real names, structures and
error classes; and the real pynvml on this machine."""

from __future__ import annotations

import ctypes.util

import pynvml
import pytest
from tests.gpu.gpu_fakes import FakeGpu, FakeNvml, m1_gpus

from jarvis_tui.gpu.nvml import GPU_LOST_MESSAGE, NvmlReader, read_nvml


def test_reads_m1_six_gpus_with_units_converted(fake_nvml: FakeNvml) -> None:
    result = read_nvml(fake_nvml, node="M1")
    assert result.state == "ok" and result.source == "nvml"
    assert [r.name for r in result.readings] == ["NVIDIA GeForce RTX 2060"] + ["NVIDIA GeForce GTX 1660 SUPER"] * 4 + [
        "NVIDIA GeForce RTX 3080"]
    rtx3080 = result.readings[5]
    assert rtx3080.index == 5 and rtx3080.node == "M1"
    assert rtx3080.uuid == "GPU-3080cccc-0000-4000-8000-000000000000"
    assert rtx3080.temperature_c == 71.0
    assert (rtx3080.util_gpu_pct, rtx3080.util_mem_pct) == (97.0, 5.0)
    assert (rtx3080.mem_used_mb, rtx3080.mem_total_mb) == (9012.0, 10240.0)   # bytes -> MiB
    assert (rtx3080.power_w, rtx3080.power_limit_w) == (312.45, 320.0)         # mW -> W
    assert (rtx3080.fan_pct, rtx3080.clock_sm_mhz, rtx3080.clock_mem_mhz) == (78.0, 1905.0, 9501.0)
    assert fake_nvml.init_calls == 1 and fake_nvml.shutdown_calls == 1


def test_bytes_names_from_older_bindings_are_decoded() -> None:
    lib = FakeNvml([FakeGpu("NVIDIA GeForce RTX 2060", "GPU-a")])
    lib.nvmlDeviceGetName = lambda handle: b"NVIDIA GeForce RTX 2060"  # type: ignore[method-assign]
    assert read_nvml(lib).readings[0].name == "NVIDIA GeForce RTX 2060"


def test_not_supported_field_is_none_and_the_rest_reads() -> None:
    gpus = m1_gpus()
    gpus[0].errors["nvmlDeviceGetFanSpeed"] = pynvml.NVMLError_NotSupported
    gpus[0].errors["nvmlDeviceGetEnforcedPowerLimit"] = pynvml.NVMLError_NotSupported
    result = read_nvml(FakeNvml(gpus))
    first = result.readings[0]
    assert first.fan_pct is None and first.power_limit_w is None
    assert first.temperature_c == 52.0 and first.error is None
    assert result.readings[1].fan_pct == 40.0


def test_gpu_is_lost_marks_that_gpu_and_the_others_keep_reporting() -> None:
    gpus = m1_gpus()
    gpus[3].errors["nvmlDeviceGetTemperature"] = pynvml.NVMLError_GpuIsLost
    result = read_nvml(FakeNvml(gpus))
    assert result.state == "ok"
    lost = result.readings[3]
    assert lost.error == GPU_LOST_MESSAGE and "fallen off the bus" in lost.error
    assert lost.index == 3 and lost.temperature_c is None
    assert [r.error is None for r in result.readings] == [True, True, True, False, True, True]
    assert result.readings[5].temperature_c == 71.0


def test_gpu_lost_when_opening_its_handle() -> None:
    gpus = m1_gpus()
    gpus[1].errors["nvmlDeviceGetHandleByIndex"] = pynvml.NVMLError_GpuIsLost
    result = read_nvml(FakeNvml(gpus))
    assert result.readings[1].error == GPU_LOST_MESSAGE
    assert result.readings[0].error is None and result.readings[2].error is None


def test_library_not_found_is_a_state_not_an_exception() -> None:
    lib = FakeNvml([], init_error=pynvml.NVMLError_LibraryNotFound)
    reader = NvmlReader(lib)
    first = reader.read()
    assert first.state == "no_gpu" and first.permanent
    assert first.message == "no local NVIDIA GPU (NVML Shared Library Not Found)"
    # Reported once: later reads reuse the answer without calling nvmlInit again.
    assert reader.read() is first
    assert lib.init_calls == 1
    reader.close()
    assert lib.shutdown_calls == 0


def test_driver_not_loaded_is_no_gpu_too() -> None:
    result = read_nvml(FakeNvml([], init_error=pynvml.NVMLError_DriverNotLoaded))
    assert result.state == "no_gpu" and "Driver Not Loaded" in result.message


def test_init_once_across_reads_and_shutdown_on_close(fake_nvml: FakeNvml) -> None:
    reader = NvmlReader(fake_nvml)
    for _ in range(5):
        assert reader.read().state == "ok"
    assert fake_nvml.init_calls == 1 and fake_nvml.shutdown_calls == 0
    reader.close()
    reader.close()
    assert fake_nvml.shutdown_calls == 1


def test_zero_gpus_reported_by_driver() -> None:
    result = read_nvml(FakeNvml([]))
    assert result.state == "no_gpu" and "0 GPUs" in result.message and not result.permanent


def test_real_pynvml_on_this_machine() -> None:
    """The real library, no injection.  On this GPU-less machine: "no local NVIDIA GPU"."""
    result = read_nvml()
    if ctypes.util.find_library("nvidia-ml") is None:
        assert result.state == "no_gpu"
        assert result.message == "no local NVIDIA GPU (NVML Shared Library Not Found)"
        assert result.readings == ()
    else:  # pragma: no cover - only on a machine with an NVIDIA driver
        assert result.state in ("ok", "no_gpu")
        assert all(r.source == "nvml" for r in result.readings)


@pytest.mark.parametrize("sensor_constant", ["NVML_TEMPERATURE_GPU", "NVML_CLOCK_SM", "NVML_CLOCK_MEM"])
def test_fake_uses_the_real_constants(sensor_constant: str) -> None:
    assert getattr(FakeNvml, sensor_constant) == getattr(pynvml, sensor_constant)
