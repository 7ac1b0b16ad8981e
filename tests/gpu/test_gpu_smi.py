"""nvidia-smi fallback: the CSV parser on realistic output, and the real subprocess path
against a stand-in `nvidia-smi` script (no driver exists on this machine)."""

from __future__ import annotations

import stat
import subprocess
import time
from pathlib import Path

import pytest

from jarvis_tui.gpu.smi import QUERY_FIELDS, SMI_ARGS, SmiOutput, parse_smi_csv, read_smi

# What `nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits` prints on the user's M1.
M1_OUTPUT = """\
0, NVIDIA GeForce RTX 2060, GPU-0d3f1c2b-8a9e-4f5d-b6c7-1e2f3a4b5c6d, 52, 12, 5, 1203, 6144, 35.20, 160.00, 40, 1365, 6801
1, NVIDIA GeForce GTX 1660 SUPER, GPU-11f6a0b9-2c3d-4e5f-8a9b-0c1d2e3f4a5b, 63, 100, 55, 5632, 6144, 118.12, 125.00, 65, 1890, 6999
2, NVIDIA GeForce GTX 1660 SUPER, GPU-22f6a0b9-2c3d-4e5f-8a9b-0c1d2e3f4a5b, 61, 99, 54, 5630, 6144, [N/A], 125.00, 62, 1890, 6999
3, NVIDIA GeForce GTX 1660 SUPER, GPU-33f6a0b9-2c3d-4e5f-8a9b-0c1d2e3f4a5b, 60, 0, 0, 5, 6144, 9.87, 125.00, 35, 300, 405
4, NVIDIA GeForce GTX 1660 SUPER, GPU-44f6a0b9-2c3d-4e5f-8a9b-0c1d2e3f4a5b, 59, 0, 0, 5, 6144, 10.02, 125.00, 35, 300, 405
5, NVIDIA GeForce RTX 3080, GPU-5b2a6f1e-3c4d-4e9f-a0b1-c2d3e4f5a6b7, 71, 97, 41, 9012, 10240, 312.45, 320.00, 78, 1905, 9501
"""

# A passively cooled datacentre card: no fan reading.
A100_OUTPUT = """\
0, NVIDIA A100-SXM4-40GB, GPU-9f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f, 34, 0, 0, 4, 40960, 52.31, 400.00, [N/A], 210, 1215
1, NVIDIA A100-SXM4-40GB, GPU-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d, 36, 0, 0, 4, 40960, 54.02, 400.00, [N/A], 210, 1215
"""


def test_m1_six_gpus() -> None:
    readings = parse_smi_csv(M1_OUTPUT, node="M1", ts=5.0)
    assert [r.index for r in readings] == [0, 1, 2, 3, 4, 5]
    assert [r.name for r in readings] == ["NVIDIA GeForce RTX 2060"] + ["NVIDIA GeForce GTX 1660 SUPER"] * 4 + [
        "NVIDIA GeForce RTX 3080"]
    rtx3080 = readings[5]
    assert rtx3080.uuid == "GPU-5b2a6f1e-3c4d-4e9f-a0b1-c2d3e4f5a6b7"
    assert (rtx3080.temperature_c, rtx3080.util_gpu_pct, rtx3080.util_mem_pct) == (71.0, 97.0, 41.0)
    assert (rtx3080.mem_used_mb, rtx3080.mem_total_mb) == (9012.0, 10240.0)
    assert (rtx3080.power_w, rtx3080.power_limit_w, rtx3080.fan_pct) == (312.45, 320.0, 78.0)
    assert (rtx3080.clock_sm_mhz, rtx3080.clock_mem_mhz) == (1905.0, 9501.0)
    assert all(r.source == "smi" and r.node == "M1" and r.ts == 5.0 and r.error is None for r in readings)
    assert readings[2].power_w is None and readings[2].power_limit_w == 125.0  # [N/A] draw


def test_a100_fan_not_available() -> None:
    readings = parse_smi_csv(A100_OUTPUT)
    assert [r.fan_pct for r in readings] == [None, None]
    assert readings[0].mem_total_mb == 40960.0 and readings[0].power_limit_w == 400.0


@pytest.mark.parametrize("marker", ["[N/A]", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]",
                                    "N/A"])
def test_unavailable_markers_become_none(marker: str) -> None:
    line = f"0, NVIDIA GeForce RTX 2060, GPU-x, 50, {marker}, {marker}, 100, 6144, {marker}, 160.00, {marker}, 300, 405"
    (reading,) = parse_smi_csv(line)
    assert reading.temperature_c == 50.0
    assert (reading.util_gpu_pct, reading.util_mem_pct, reading.power_w, reading.fan_pct) == (None,) * 4
    assert reading.mem_used_mb == 100.0


def test_names_with_commas_and_spaces_keep_columns_aligned() -> None:
    line = "0, Acme, Inc. Compute Card, Rev 2, GPU-abc, 77, 10, 2, 100, 8192, 50.00, 150.00, 30, 1000, 5000"
    (reading,) = parse_smi_csv(line)
    assert reading.name == "Acme, Inc. Compute Card, Rev 2"
    assert reading.uuid == "GPU-abc" and reading.temperature_c == 77.0 and reading.clock_mem_mhz == 5000.0


def test_gpu_fallen_off_the_bus_is_marked_while_others_report() -> None:
    text = (M1_OUTPUT.splitlines()[0] + "\n"
            "Unable to determine the device handle for GPU0000:0B:00.0: Unknown Error\n"
            + M1_OUTPUT.splitlines()[5].replace("5, ", "1, ", 1) + "\n")
    readings = parse_smi_csv(text)
    assert [r.error is None for r in readings] == [True, True, False]
    lost = readings[2]
    assert "fallen off the bus" in lost.error and "0000:0B:00.0" in lost.error
    assert lost.index == 2 and lost.temperature_c is None


def test_gpu_is_lost_values_mark_the_gpu() -> None:
    line = "0, NVIDIA GeForce RTX 3080, GPU-x, " + ", ".join(["[GPU is lost]"] * 10)
    (reading,) = parse_smi_csv(line)
    assert reading.error == "GPU is lost (fallen off the bus)" and reading.name == "NVIDIA GeForce RTX 3080"


def test_read_smi_with_runner_reports_driver_failure_as_no_gpu() -> None:
    def runner(argv: list[str], timeout: float) -> SmiOutput:
        return SmiOutput(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                            "Make sure that the latest NVIDIA driver is installed and running.\n")

    result = read_smi(runner=runner)
    assert result.state == "no_gpu" and result.message.startswith("no local NVIDIA GPU")


def test_read_smi_timeout_from_runner() -> None:
    def runner(argv: list[str], timeout: float) -> SmiOutput:
        raise subprocess.TimeoutExpired(argv, timeout)

    result = read_smi(runner=runner, timeout=0.5)
    assert result.state == "unknown" and "0.5 s" in result.message


def test_read_smi_without_binary_is_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = read_smi()
    assert result.state == "no_gpu" and result.permanent


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "nvidia-smi"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_real_subprocess_gets_exact_query_and_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "out.csv").write_text(M1_OUTPUT)
    args_file = tmp_path / "args"
    binary = _script(tmp_path, f'printf "%s\\n" "$@" > {args_file}\ncat {tmp_path / "out.csv"}\n')
    result = read_smi(node="M1", binary=str(binary), timeout=5.0)
    assert result.state == "ok" and len(result.readings) == 6
    assert args_file.read_text().split("\n")[:2] == list(SMI_ARGS)
    assert SMI_ARGS[0] == "--query-gpu=" + ",".join(QUERY_FIELDS)
    assert SMI_ARGS[0] == ("--query-gpu=index,name,uuid,temperature.gpu,utilization.gpu,utilization.memory,"
                           "memory.used,memory.total,power.draw,power.limit,fan.speed,clocks.sm,clocks.mem")


def test_real_subprocess_hanging_is_killed_by_timeout(tmp_path: Path) -> None:
    binary = _script(tmp_path, "exec sleep 30\n")
    started = time.monotonic()
    result = read_smi(binary=str(binary), timeout=0.3)
    assert result.state == "unknown" and "did not answer within 0.3 s" in result.message
    assert time.monotonic() - started < 3.0
