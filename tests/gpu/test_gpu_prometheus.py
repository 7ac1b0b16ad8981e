"""The exporter-page parser on realistic DCGM exporter and nvidia_gpu_exporter output."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jarvis_tui.gpu.prometheus import ScrapeError, parse_gpu_metrics, scrape_gpu_metrics

DATA = Path(__file__).parent / "data"


def test_dcgm_page_gives_one_reading_per_gpu_in_dcgm_units() -> None:
    result = parse_gpu_metrics((DATA / "dcgm_a100.prom").read_text(), "DGX", ts=123.0)
    assert result.source == "dcgm"
    first, second = result.readings
    assert (first.node, first.index, first.name) == ("DGX", 0, "NVIDIA A100-SXM4-40GB")
    assert first.uuid == "GPU-9f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
    assert first.temperature_c == 66.0           # not DCGM_FI_DEV_MEMORY_TEMP (61)
    assert first.util_gpu_pct == 94.0 and first.util_mem_pct == 37.0
    assert first.mem_used_mb == 36908.0
    assert first.mem_total_mb == 36908.0 + 3421.0 + 631.0  # used + free + reserved: 40 GiB card
    assert first.power_w == pytest.approx(287.412)
    assert (first.clock_sm_mhz, first.clock_mem_mhz) == (1410.0, 1215.0)
    assert first.fan_pct is None and first.power_limit_w is None  # not in the default counters
    assert first.ts == 123.0
    # The MIG slice's series (GPU_I_ID="7", 4500 MiB) must not overwrite the whole card's value.
    assert second.index == 1 and second.mem_used_mb == 0.0 and second.temperature_c == 33.0


def test_dcgm_total_metric_and_power_limit_when_exported() -> None:
    page = (
        "# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).\n"
        "# TYPE DCGM_FI_DEV_GPU_TEMP gauge\n"
        'DCGM_FI_DEV_GPU_TEMP{gpu="3",UUID="GPU-aa",device="nvidia3",modelName="NVIDIA GeForce GTX 1660 SUPER",'
        'Hostname="m1"} 86\n'
        "# HELP DCGM_FI_DEV_FB_TOTAL Framebuffer memory total (in MiB).\n"
        "# TYPE DCGM_FI_DEV_FB_TOTAL gauge\n"
        'DCGM_FI_DEV_FB_TOTAL{gpu="3",UUID="GPU-aa",device="nvidia3",modelName="NVIDIA GeForce GTX 1660 SUPER",'
        'Hostname="m1"} 6144\n'
        "# HELP DCGM_FI_DEV_POWER_MGMT_LIMIT Power management limit (in W).\n"
        "# TYPE DCGM_FI_DEV_POWER_MGMT_LIMIT gauge\n"
        'DCGM_FI_DEV_POWER_MGMT_LIMIT{gpu="3",UUID="GPU-aa",device="nvidia3",modelName="NVIDIA GeForce GTX 1660 '
        'SUPER",Hostname="m1"} 125\n'
    )
    (gpu,) = parse_gpu_metrics(page, "M1").readings
    assert (gpu.index, gpu.temperature_c, gpu.mem_total_mb, gpu.power_limit_w) == (3, 86.0, 6144.0, 125.0)
    assert gpu.mem_used_mb is None


def test_nvidia_gpu_exporter_page_converts_base_units_back() -> None:
    result = parse_gpu_metrics((DATA / "nvidia_gpu_exporter_m2.prom").read_text(), "M2")
    assert result.source == "nvidia_gpu_exporter"
    rtx, gtx = result.readings
    assert (rtx.index, rtx.name) == (0, "NVIDIA GeForce RTX 3080")
    assert rtx.uuid == "5b2a6f1e-3c4d-4e9f-a0b1-c2d3e4f5a6b7"
    assert rtx.temperature_c == 71.0
    assert rtx.util_gpu_pct == 97.0 and rtx.util_mem_pct == 41.0   # ratios -> percent
    assert rtx.mem_total_mb == 10240.0                               # bytes -> MiB
    assert rtx.mem_used_mb == pytest.approx(9012.0, abs=0.01)
    assert rtx.power_w == 312.45 and rtx.power_limit_w == 320.0
    assert rtx.fan_pct == 78.0
    assert (rtx.clock_sm_mhz, rtx.clock_mem_mhz) == (1905.0, 9501.0)  # Hz -> MHz
    assert (gtx.index, gtx.name, gtx.temperature_c, gtx.util_gpu_pct) == (1, "NVIDIA GeForce GTX 1660 SUPER",
                                                                          63.0, 100.0)
    assert gtx.mem_total_mb == 6144.0


def test_nvidia_gpu_exporter_without_gpu_info_numbers_gpus_in_order() -> None:
    page = (
        "# HELP nvidia_smi_temperature_gpu temperature.gpu\n# TYPE nvidia_smi_temperature_gpu gauge\n"
        'nvidia_smi_temperature_gpu{uuid="GPU-b"} 80\nnvidia_smi_temperature_gpu{uuid="GPU-a"} 40\n'
    )
    readings = parse_gpu_metrics(page, "M3").readings
    assert [(r.index, r.uuid, r.temperature_c) for r in readings] == [(0, "GPU-b", 80.0), (1, "GPU-a", 40.0)]


def test_exporter_whose_collection_failed_is_an_error_not_zero_gpus() -> None:
    page = (
        "# HELP nvidia_smi_command_exit_code Exit code of the most recent nvidia-smi run\n"
        "# TYPE nvidia_smi_command_exit_code gauge\nnvidia_smi_command_exit_code 9\n"
        "# HELP nvidia_smi_last_collect_success Whether the most recent collection succeeded (1) or not (0)\n"
        "# TYPE nvidia_smi_last_collect_success gauge\nnvidia_smi_last_collect_success 0\n"
    )
    with pytest.raises(ScrapeError, match="exit code 9"):
        parse_gpu_metrics(page, "M3")


def test_nan_sample_becomes_none() -> None:
    page = ('# TYPE DCGM_FI_DEV_GPU_TEMP gauge\nDCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-x"} NaN\n'
            '# TYPE DCGM_FI_DEV_GPU_UTIL gauge\nDCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-x"} 5\n')
    (gpu,) = parse_gpu_metrics(page, "N").readings
    assert gpu.temperature_c is None and gpu.util_gpu_pct == 5.0


def test_terminal_escapes_in_labels_are_stripped() -> None:
    page = ('# TYPE DCGM_FI_DEV_GPU_TEMP gauge\n'
            'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-x",modelName="\x1b[31mEvil\x1b[0m \\"GPU\\"\\n2"} 50\n')
    (gpu,) = parse_gpu_metrics(page, "N").readings
    assert "\x1b" not in gpu.name and "\n" not in gpu.name
    assert gpu.name == '[31mEvil[0m "GPU"2'


@pytest.mark.parametrize("page, message", [
    ("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.42\n", "not a DCGM"),
    ("<html><body>Grafana</body></html>\n", "not Prometheus text format"),
    ("", "not a DCGM"),
])
def test_pages_without_gpu_metrics_raise_scrape_error(page: str, message: str) -> None:
    with pytest.raises(ScrapeError, match=message):
        parse_gpu_metrics(page, "N")


async def test_scrape_over_loopback_http(exporter) -> None:
    exporter.body = (DATA / "nvidia_gpu_exporter_m2.prom").read_text()
    async with httpx.AsyncClient() as client:
        result = await scrape_gpu_metrics(client, exporter.url, "M2", timeout=2.0)
    assert [r.name for r in result.readings] == ["NVIDIA GeForce RTX 3080", "NVIDIA GeForce GTX 1660 SUPER"]
    assert exporter.hits == 1


async def test_scrape_http_error_status(exporter) -> None:
    exporter.status = 503
    exporter.body = "collector busy"
    async with httpx.AsyncClient() as client:
        with pytest.raises(ScrapeError, match="HTTP 503"):
            await scrape_gpu_metrics(client, exporter.url, "M2", timeout=2.0)


async def test_scrape_unreachable(closed_port_url: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ScrapeError, match="cannot connect"):
            await scrape_gpu_metrics(client, closed_port_url, "M2", timeout=1.0)


async def test_scrape_hanging_exporter_times_out(exporter) -> None:
    import time

    exporter.delay_s = 10
    exporter.body = (DATA / "dcgm_a100.prom").read_text()
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        with pytest.raises(ScrapeError, match="did not answer within 0.3 s"):
            await scrape_gpu_metrics(client, exporter.url, "M2", timeout=0.3)
    assert time.monotonic() - started < 2.0
