"""GpuMonitor end to end: real loopback exporters over HTTP, the injected NVML library,
events on the real bus, thermal transitions with hysteresis, timeouts, no overlap."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
import pynvml
import pytest
from tests.gpu.gpu_fakes import FakeNvml, dcgm_page, m1_gpus

from jarvis_tui.config import NodeConfig
from jarvis_tui.core.clock import ManualClock
from jarvis_tui.core.events import EventBus
from jarvis_tui.gpu.events import GpuReadingsUpdated, GpuThresholdCrossed, ThermalStatusChanged
from jarvis_tui.gpu.monitor import GpuMonitor
from jarvis_tui.gpu.settings import GpuSettings
from jarvis_tui.gpu.smi import SmiOutput
from jarvis_tui.gpu.status import format_gpu_row, gpu_rows_for_status

DATA = Path(__file__).parent / "data"


def node(name: str, url: str | None) -> NodeConfig:
    return NodeConfig(name=name, kind="ollama", url="http://127.0.0.1:1", gpu_metrics_url=url)


def drain(sub) -> list:
    events = []
    while (event := sub.get_nowait()) is not None:
        events.append(event)
    return events


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


def monitor_for(nodes, http, nvml=None, clock=None, smi_runner=None, **settings) -> tuple[GpuMonitor, EventBus]:
    bus = EventBus()
    nvml = nvml if nvml is not None else FakeNvml([], init_error=pynvml.NVMLError_LibraryNotFound)
    monitor = GpuMonitor(GpuSettings(**settings), nodes, bus, http=http, clock=clock or ManualClock(),
                         nvml_lib=nvml, smi_runner=smi_runner,
                         smi_binary=None if smi_runner else "/nonexistent/nvidia-smi-not-here")
    return monitor, bus


async def test_remote_exporters_of_both_kinds_are_scraped(exporter, exporter_b, http) -> None:
    exporter.body = dcgm_page([52, 60, 61, 62, 63, 71])
    exporter_b.body = (DATA / "nvidia_gpu_exporter_m2.prom").read_text()
    monitor, bus = monitor_for([node("M1", exporter.url), node("M2", exporter_b.url), node("OL1", None)], http)
    sub = bus.subscribe(GpuReadingsUpdated)
    await monitor.poll_once()
    readings = monitor.readings()
    assert [r.name for r in readings["M1"]][-1] == "NVIDIA GeForce RTX 3080" and len(readings["M1"]) == 6
    assert readings["M1"][0].source == "dcgm" and readings["M2"][0].source == "nvidia_gpu_exporter"
    assert monitor.thermal_status("M1").status == "normal"
    assert monitor.thermal_status("M2").max_temp == 71.0
    assert monitor.thermal_status("OL1").status == "unknown"       # no exporter configured
    (event,) = drain(sub)
    assert set(event.readings) == {"local", "M1", "M2"} and len(event.readings["M1"]) == 6
    assert event.thermal["M1"].status == "normal"


async def test_node_at_90_degrees_goes_critical_and_an_event_says_so(exporter, http) -> None:
    exporter.body = dcgm_page([52, 60, 61, 62, 63, 90])
    monitor, bus = monitor_for([node("M1", exporter.url)], http)
    sub = bus.subscribe(ThermalStatusChanged)
    await monitor.poll_once()
    status = monitor.thermal_status("M1")
    assert status.status == "critical" and status.should_skip and status.max_temp == 90.0
    assert [(g.index, g.name) for g in status.hot_gpus] == [(5, "NVIDIA GeForce RTX 3080")]
    events = [e for e in drain(sub) if e.node == "M1"]
    assert [(e.old, e.new) for e in events] == [("unknown", "critical")]
    assert events[0].status is status


async def test_hysteresis_through_the_monitor_publishes_only_real_crossings(exporter, http) -> None:
    monitor, bus = monitor_for([node("M1", exporter.url)], http)
    sub = bus.subscribe(ThermalStatusChanged)
    statuses = []
    for temp in [74.9, 75.0, 84.9, 85.0, 84.0, 85.0, 83.0, 82.9, 73.0, 72.9]:
        exporter.body = dcgm_page([temp], models=["NVIDIA GeForce RTX 3080"])
        await monitor.poll_once()
        statuses.append(monitor.thermal_status("M1").status)
    assert statuses == ["normal", "warning", "warning", "critical", "critical", "critical", "critical",
                        "warning", "warning", "normal"]
    changes = [(e.old, e.new) for e in drain(sub) if e.node == "M1"]
    assert changes == [("unknown", "normal"), ("normal", "warning"), ("warning", "critical"),
                       ("critical", "warning"), ("warning", "normal")]


async def test_each_gpu_crossing_a_threshold_is_its_own_event(exporter, http) -> None:
    """Per GPU, with hysteresis: a second card of an already critical node is reported too."""
    monitor, bus = monitor_for([node("M1", exporter.url)], http)
    gpus = bus.subscribe(GpuThresholdCrossed)
    nodes = bus.subscribe(ThermalStatusChanged)
    for temps in ([60, 70, 76], [86, 70, 76], [86, 85, 76], [84, 70, 74], [80, 70, 72.9]):
        exporter.body = dcgm_page(temps, models=["NVIDIA GeForce RTX 2060", "NVIDIA GeForce GTX 1660 SUPER",
                                                 "NVIDIA GeForce RTX 3080"])
        await monitor.poll_once()
    crossings = [[(e.index, e.old, e.new, e.temperature_c) for e in drain(gpus) if e.node == "M1"]]
    assert crossings == [[
        (2, "unknown", "warning", 76.0),   # poll 1: a first reading is news only when hot
        (0, "normal", "critical", 86.0),   # poll 2
        (1, "normal", "critical", 85.0),   # poll 3: the node was already critical, the card is still reported
        (1, "critical", "normal", 70.0),   # poll 4: 85 -> 70 leaves both bands; GPU0 84 and GPU2 74 hold (hysteresis)
        (0, "critical", "warning", 80.0),  # poll 5
        (2, "warning", "normal", 72.9),
    ]]
    assert [(e.old, e.new) for e in drain(nodes)] == [("unknown", "warning"), ("warning", "critical"),
                                                     ("critical", "warning")]


async def test_unreachable_exporter_is_unknown_and_others_still_report(exporter, closed_port_url, http) -> None:
    exporter.body = dcgm_page([50])
    monitor, bus = monitor_for([node("M1", closed_port_url), node("M2", exporter.url)], http)
    await monitor.poll_once()
    m1 = monitor.state("M1")
    assert m1.state == "unknown" and "cannot connect" in m1.message and m1.readings == ()
    assert monitor.thermal_status("M1").status == "unknown"
    assert monitor.thermal_status("M2").status == "normal"


async def test_hanging_exporter_times_out_without_delaying_the_others(exporter, exporter_b, http) -> None:
    exporter.delay_s = 30
    exporter.body = dcgm_page([50])
    exporter_b.body = dcgm_page([60])
    monitor, _ = monitor_for([node("M1", exporter.url), node("M2", exporter_b.url)], http, scrape_timeout_s=0.3)
    started = time.monotonic()
    await monitor.poll_once()
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed
    assert monitor.state("M1").state == "unknown"
    assert "did not answer within 0.3 s" in monitor.state("M1").message
    assert monitor.thermal_status("M2").max_temp == 60.0


async def test_exporter_going_down_turns_a_critical_node_unknown(exporter, http) -> None:
    exporter.body = dcgm_page([91])
    monitor, bus = monitor_for([node("M1", exporter.url)], http)
    sub = bus.subscribe(ThermalStatusChanged)
    await monitor.poll_once()
    exporter.status = 500
    await monitor.poll_once()
    assert monitor.thermal_status("M1").status == "unknown"
    assert [(e.old, e.new) for e in drain(sub)] == [("unknown", "critical"), ("critical", "unknown")]


async def test_concurrent_poll_calls_share_one_poll(exporter, http) -> None:
    exporter.body = dcgm_page([50])
    exporter.delay_s = 0.2
    monitor, _ = monitor_for([node("M1", exporter.url)], http)
    await asyncio.gather(monitor.poll_once(), monitor.poll_once(), monitor.poll_once())
    assert exporter.hits == 1 and monitor.polls == 1
    exporter._release.set()


async def test_local_nvml_runs_off_the_event_loop_under_the_local_node(http) -> None:
    lib = FakeNvml(m1_gpus())
    monitor, bus = monitor_for([node("M1", "http://127.0.0.1:9/never-scraped")], http, nvml=lib, local_node="M1")
    await monitor.poll_once()
    assert threading.get_ident() not in lib.call_threads           # every NVML call ran in a worker thread
    assert monitor.node_names == ["M1"]                             # M1 is read locally, not scraped too
    assert [r.source for r in monitor.readings()["M1"]] == ["nvml"] * 6
    assert monitor.local_state == "6 GPUs via nvml"
    await monitor.stop()
    assert lib.shutdown_calls == 1


async def test_lost_local_gpu_is_marked_and_the_node_still_has_a_status(http) -> None:
    gpus = m1_gpus()
    gpus[5].temperature_c = 88
    gpus[2].errors["nvmlDeviceGetTemperature"] = pynvml.NVMLError_GpuIsLost
    monitor, _ = monitor_for([], http, nvml=FakeNvml(gpus))
    await monitor.poll_once()
    assert monitor.local_state == "6 GPUs via nvml, 1 errored"
    status = monitor.thermal_status("local")
    assert status.status == "critical" and status.errored_gpus == (2,)
    rows = gpu_rows_for_status(monitor)
    assert rows[2]["state"] == "error" and "fallen off the bus" in rows[2]["error"]
    assert rows[5]["thermal"] == "critical"


async def test_no_driver_is_reported_once_and_never_raises(http, caplog) -> None:
    lib = FakeNvml([], init_error=pynvml.NVMLError_LibraryNotFound)
    monitor, _ = monitor_for([], http, nvml=lib)
    assert monitor.local_state == "not polled yet"
    with caplog.at_level("INFO", logger="jarvis_tui.gpu.monitor"):
        for _ in range(3):
            await monitor.poll_once()
    assert monitor.local_state == "no local NVIDIA GPU (NVML Shared Library Not Found)"
    assert lib.init_calls == 1
    assert sum("no local NVIDIA GPU" in r.getMessage() for r in caplog.records) == 1
    assert monitor.thermal_status("local").status == "unknown"
    (row,) = gpu_rows_for_status(monitor)
    assert row["state"] == "no_gpu" and row["index"] is None and row["message"].startswith("no local NVIDIA GPU")
    await monitor.stop()


async def test_real_pynvml_through_the_monitor(http) -> None:
    """No injection at all: on this GPU-less machine the real NVML path says so."""
    bus = EventBus()
    monitor = GpuMonitor(GpuSettings(), [], bus, http=http)
    await monitor.poll_once()
    import ctypes.util
    import shutil

    if ctypes.util.find_library("nvidia-ml") is None and shutil.which("nvidia-smi") is None:
        assert monitor.local_state.startswith("no local NVIDIA GPU")
        assert monitor.state("local").state == "no_gpu"
    await monitor.stop()


async def test_smi_fallback_when_nvml_cannot_load(http) -> None:
    calls = []

    def runner(argv: list[str], timeout: float) -> SmiOutput:
        calls.append((threading.get_ident(), timeout))
        return SmiOutput(0, "0, NVIDIA GeForce RTX 2060, GPU-a, 76, 12, 5, 1203, 6144, 35.20, 160.00, 40, 1365, 6801\n")

    lib = FakeNvml([], init_error=pynvml.NVMLError_LibraryNotFound)
    monitor, _ = monitor_for([], http, nvml=lib, smi_runner=runner, smi_timeout_s=1.5)
    await monitor.poll_once()
    await monitor.poll_once()
    assert monitor.local_state == "1 GPU via smi"
    assert monitor.thermal_status("local").status == "warning"
    assert lib.init_calls == 1 and len(calls) == 2
    assert calls[0][0] != threading.get_ident() and calls[0][1] == 1.5


async def test_wedged_nvml_call_is_not_started_twice(http, monkeypatch) -> None:
    import jarvis_tui.gpu.monitor as monitor_module

    monkeypatch.setattr(monitor_module, "LOCAL_READ_GRACE_S", 0.0)
    lib = FakeNvml([m1_gpus()[0]], call_delay_s=0.05)               # one read: 12 calls, ~0.6 s
    monitor, _ = monitor_for([], http, nvml=lib, smi_timeout_s=0.05)
    await monitor.poll_once()
    assert monitor.state("local").state == "unknown" and "did not finish" in monitor.state("local").message
    await monitor.poll_once()                                       # the first read is still inside the lib
    assert "still blocked" in monitor.state("local").message
    assert lib.init_calls == 1
    for _ in range(100):
        if monitor._local_future.done():
            break
        await asyncio.sleep(0.05)
    calls_after_first_read = lib.calls
    assert calls_after_first_read == 12                             # no second read ran beside it
    await monitor.stop()


async def test_history_keeps_the_last_history_s(exporter, http) -> None:
    clock = ManualClock()
    monitor, _ = monitor_for([node("M1", exporter.url)], http, clock=clock, poll_interval_s=2.0, history_s=6.0)
    for temp in [50, 51, 52, 53, 54, 55]:
        exporter.body = dcgm_page([temp])
        await monitor.poll_once()
        clock.advance(2.0)
    assert monitor.temperature_history("M1", 0) == [53.0, 54.0, 55.0]
    assert monitor.temperature_history("M1", 7) == []
    assert list(monitor.history()) == [("M1", 0)]


async def test_start_polls_on_the_interval_and_stop_ends_it(exporter, http) -> None:
    exporter.body = dcgm_page([50])
    lib = FakeNvml(m1_gpus())
    monitor, bus = monitor_for([node("M1", exporter.url)], http, nvml=lib, poll_interval_s=0.1)
    sub = bus.subscribe(GpuReadingsUpdated)
    await monitor.start()
    await asyncio.sleep(0.45)
    await monitor.stop()
    polls = monitor.polls
    assert 3 <= polls <= 6
    await asyncio.sleep(0.25)
    assert monitor.polls == polls                                   # stopped for real
    assert len(drain(sub)) == polls
    assert lib.init_calls == 1 and lib.shutdown_calls == 1


async def test_disabled_monitor_does_nothing(exporter, http) -> None:
    monitor, bus = monitor_for([node("M1", exporter.url)], http, enabled=False)
    await monitor.start()
    await monitor.poll_once()
    assert exporter.hits == 0
    assert monitor.local_state.startswith("GPU telemetry disabled")
    assert monitor.thermal_status("M1").status == "unknown"
    await monitor.stop()


async def test_status_rows_are_json_and_printable(exporter, closed_port_url, http) -> None:
    exporter.body = dcgm_page([52, 60, 61, 62, 63, 86])
    monitor, _ = monitor_for([node("M1", exporter.url), node("M3", closed_port_url)], http,
                             nvml=FakeNvml([], init_error=pynvml.NVMLError_LibraryNotFound))
    await monitor.poll_once()
    rows = gpu_rows_for_status(monitor)
    assert [(r["node"], r["index"]) for r in rows] == [("local", None)] + [("M1", i) for i in range(6)] + [
        ("M3", None)]
    assert rows[6]["thermal"] == "critical" and rows[6]["temperature_c"] == 86.0
    assert rows[-1]["state"] == "unknown" and "cannot connect" in rows[-1]["message"]
    json.dumps(rows)
    lines = [format_gpu_row(r) for r in rows]
    assert "86°C" in lines[6] and "critical" in lines[6] and "RTX 3080" in lines[6]
    assert lines[0].startswith("local") and "no local NVIDIA GPU" in lines[0]


async def test_owned_http_client_is_created_and_closed(exporter) -> None:
    exporter.body = dcgm_page([50])
    monitor = GpuMonitor(GpuSettings(local_source="off"), [node("M1", exporter.url)], EventBus())
    await monitor.poll_once()
    assert monitor.thermal_status("M1").status == "normal"
    assert monitor.local_state.startswith("local GPUs not read")
    await monitor.stop()
    assert monitor._http is None


async def test_stop_in_the_middle_of_a_local_read_still_shuts_nvml_down(http) -> None:
    lib = FakeNvml(m1_gpus()[:2], call_delay_s=0.01)                # one read: 22 calls, ~0.25 s
    monitor, _ = monitor_for([], http, nvml=lib)
    poll = asyncio.ensure_future(monitor.poll_once())
    await asyncio.sleep(0.05)
    await monitor.stop()
    await asyncio.gather(poll, return_exceptions=True)
    assert lib.init_calls == 1 and lib.shutdown_calls == 1 and not lib.initialised


def test_importing_the_gpu_package_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, jarvis_tui.gpu.monitor, jarvis_tui.gpu.status, jarvis_tui.gpu.events, "
            "jarvis_tui.core.thermal; "
            "print(sorted(m for m in ('pynvml', 'httpx', 'prometheus_client', 'textual') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
