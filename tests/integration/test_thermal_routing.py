"""The thermal guard end to end: a loopback DCGM exporter reports GPU temperatures for a node."""

from __future__ import annotations

import json
from pathlib import Path

from jarvis_tui.config import load_config
from jarvis_tui.core.orchestrator import Orchestrator
from tests.gpu.gpu_fakes import LoopbackExporter, dcgm_page
from tests.integration.cluster_config import write_toml
from tests.integration.test_cli_headless import run_cli


def _cluster(tmp_path: Path, loopback_node, exporter: LoopbackExporter) -> Path:  # type: ignore[no-untyped-def]
    hot = loopback_node(reply="from the hot node", model="m1")
    cool = loopback_node(reply="from the cool node", model="m2")
    return write_toml(tmp_path / "c.toml", [
        {"name": "M1", "kind": "openai", "url": hot.url, "model": "m1", "gpu_metrics_url": exporter.url},
        {"name": "M2", "kind": "openai", "url": cool.url, "model": "m2"},
    ], {"simple": ["M1", "M2"], "consensus": ["M1", "M2"]}, tmp_path / "j.db",
        extra="\n[gpu]\nlocal_source = \"off\"\n")


async def test_a_critical_node_is_skipped_with_the_reason_recorded(loopback_node, tmp_path: Path) -> None:
    exporter = LoopbackExporter()
    exporter.body = dcgm_page([62, 90, 71, 64, 60, 58])
    try:
        config = load_config(str(_cluster(tmp_path, loopback_node, exporter)))
        orchestrator = Orchestrator(config)
        await orchestrator.start(bootstrap=False)
        try:
            await orchestrator.prime_thermal()
            result = await orchestrator.ask("hello")
            assert result.node == "M2"
            skipped = result.attempts[0]
            assert (skipped.node, skipped.outcome) == ("M1", "skipped")
            assert "thermal guard" in skipped.error and "90" in skipped.error

            exporter.body = dcgm_page([62, 70, 71, 64, 60, 58])  # cooled below critical - hysteresis
            await orchestrator.gpu.poll_once()
            assert (await orchestrator.ask("hello")).node == "M1"
        finally:
            await orchestrator.close()
    finally:
        exporter.close()


async def test_a_warning_node_drops_behind_cool_ones(loopback_node, tmp_path: Path) -> None:
    exporter = LoopbackExporter()
    exporter.body = dcgm_page([79, 60])
    try:
        config = load_config(str(_cluster(tmp_path, loopback_node, exporter)))
        orchestrator = Orchestrator(config)
        await orchestrator.start(bootstrap=False)
        try:
            await orchestrator.prime_thermal()
            assert orchestrator.thermal("M1").status == "warning"
            result = await orchestrator.ask("hello")
            assert result.node == "M2" and [a.node for a in result.attempts] == ["M2"]
        finally:
            await orchestrator.close()
    finally:
        exporter.close()


def test_once_json_and_status_show_the_guard(loopback_node, tmp_path: Path) -> None:
    exporter = LoopbackExporter()
    exporter.body = dcgm_page([88, 60, 61, 62, 63, 64])
    try:
        config = _cluster(tmp_path, loopback_node, exporter)
        done = run_cli(["--config", str(config), "--once", "hello", "--json"], tmp_path)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["node"] == "M2"
        assert result["attempts"][0]["outcome"] == "skipped" and "thermal guard" in result["attempts"][0]["error"]

        status = run_cli(["--config", str(config), "--status", "--json"], tmp_path)
        gpus = [g for g in json.loads(status.stdout)["gpus"] if g["node"] == "M1"]
        assert len(gpus) == 6
        assert gpus[0]["temperature_c"] == 88 and gpus[0]["thermal"] == "critical"
        text = run_cli(["--config", str(config), "--status"], tmp_path).stdout
        assert "GPUs" in text and "RTX 2060" in text and "critical" in text
    finally:
        exporter.close()


def test_consensus_skips_the_critical_node_with_the_reason(loopback_node, tmp_path: Path) -> None:
    exporter = LoopbackExporter()
    exporter.body = dcgm_page([90, 60, 61, 62, 63, 64])
    try:
        config = _cluster(tmp_path, loopback_node, exporter)
        done = run_cli(["--config", str(config), "--once", "hello", "--consensus", "--json"], tmp_path)
        assert done.returncode == 0, done.stderr
        votes = {v["node"]: v for v in json.loads(done.stdout)["votes"]}
        assert votes["M1"]["status"] == "failed" and "thermal guard" in votes["M1"]["error"]
        assert votes["M2"]["status"] == "answered"
    finally:
        exporter.close()
