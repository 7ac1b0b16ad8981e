"""The [gpu] table through the real config loader: defaults, validation with path:line."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import jarvis_tui.gpu.settings as settings_module
from jarvis_tui.config import ConfigError, load_config
from jarvis_tui.gpu.settings import GpuSettings


def write(tmp_path: Path, gpu_table: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text('[[nodes]]\nname = "M1"\nkind = "ollama"\nurl = "http://127.0.0.1:11434"\n'
                    'gpu_metrics_url = "http://127.0.0.1:9400/metrics"\n\n[gpu]\n' + gpu_table)
    return str(path)


def test_defaults_without_a_gpu_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[nodes]]\nname = "M1"\nkind = "ollama"\nurl = "http://127.0.0.1:11434"\n')
    settings = load_config(str(path)).section("gpu")
    assert settings == GpuSettings()
    assert (settings.poll_interval_s, settings.warning_c, settings.critical_c) == (2.0, 75.0, 85.0)
    assert settings.local_node_name == "local" and settings.history_points == 151


def test_full_table(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'poll_interval_s = 1\nwarning_c = 70\ncritical_c = 80\n'
                                          'hysteresis_c = 1.5\nscrape_timeout_s = 0.8\nlocal_node = "M1"\n'
                                          'local_source = "smi"\nhistory_s = 600\nenabled = true\n'))
    gpu = config.section("gpu")
    assert gpu == GpuSettings(poll_interval_s=1.0, warning_c=70.0, critical_c=80.0, hysteresis_c=1.5,
                              scrape_timeout_s=0.8, local_node="M1", local_source="smi", history_s=600.0)
    assert config.warnings == ()


@pytest.mark.parametrize("table, message, line", [
    ("warning_c = 85\ncritical_c = 85\n", "warning_c (85) must be below critical_c (85)", 8),
    ("critical_c = 70\n", "warning_c (75) must be below critical_c (70)", 8),
    ("hysteresis_c = 10\n", "hysteresis_c (10) must be smaller than critical_c - warning_c (10)", 8),
    ("hysteresis_c = -1\n", "hysteresis_c must be >= 0", 8),
    ("poll_interval_s = 0\n", "poll_interval_s must be > 0", 8),
    ("local_source = \"gpu\"\n", "local_source must be one of auto, nvml, smi, off", 8),
    ("warning_c = \"hot\"\n", "warning_c must be a number", 8),
    ("critical_c = 300\n", "critical_c must be a GPU temperature", 8),
    ("history_s = 1\n", "history_s (1) must be at least poll_interval_s (2)", 8),
    ("local_node = \"  \"\n", "local_node must be a node name", 8),
])
def test_bad_values_are_one_clear_error_with_the_line(tmp_path: Path, table: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, table))
    assert message in caught.value.message
    assert caught.value.line == line


def test_unknown_key_and_slow_scrape_are_warnings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "poll_interval_s = 1\nscrape_timeout_s = 3\ncolour = \"red\"\n"))
    messages = [w.message for w in config.warnings]
    assert any("unknown key 'colour' in [gpu]" in m for m in messages)
    assert any("scrape_timeout_s (3) is longer than poll_interval_s (1)" in m for m in messages)


def test_settings_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(settings_module.__file__).read_text())
    imported = set()
    for item in ast.walk(tree):
        if isinstance(item, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in item.names}
        elif isinstance(item, ast.ImportFrom):
            imported.add((item.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
