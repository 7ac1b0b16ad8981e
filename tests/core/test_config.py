"""Config loading: the broken-config corpus, lookup order, warnings, the starter file."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.cli import main
from jarvis_tui.config import ConfigError, load_config, starter_config_text
from jarvis_tui.paths import data_file

GOOD_NODE = """
[[nodes]]
name = "M2"
kind = "openai"
url = "http://127.0.0.1:1234"
model = "m"
weight = 1.4
"""

# (case, TOML text, expected fragment of the message, expected line or None)
BROKEN = [
    ("toml-syntax", '[[nodes]]\nname = "M2\nkind = "openai"\n', "TOML syntax error", 2),
    ("unknown-kind", GOOD_NODE.replace('"openai"', '"ollamaa"'), "unknown kind 'ollamaa'", 4),
    ("url-not-http", GOOD_NODE.replace("http://127.0.0.1:1234", "ftp://127.0.0.1:1234"),
     "url must be an http:// or https:// URL", 5),
    ("url-no-host", GOOD_NODE.replace("http://127.0.0.1:1234", "http://"), "url must be an http", 5),
    ("weight-wrong-type", GOOD_NODE.replace("weight = 1.4", 'weight = "heavy"'), "weight must be a number", 7),
    ("timeout-wrong-type", GOOD_NODE + "timeout_s = true\n", "timeout_s must be a number", 8),
    ("weight-zero", GOOD_NODE.replace("weight = 1.4", "weight = 0"), "weight must be > 0", 7),
    ("weight-negative", GOOD_NODE.replace("weight = 1.4", "weight = -1.0"), "weight must be > 0", 7),
    ("duplicate-name", GOOD_NODE + GOOD_NODE, "duplicate node name 'M2'", 10),
    ("routing-unknown-node", GOOD_NODE + '\n[routing]\nsimple = ["M2", "OL9"]\n', "unknown node 'OL9'", 10),
    ("routing-not-list", GOOD_NODE + '\n[routing]\nsimple = "M2"\n', "must be a list of node names", 10),
    ("missing-kind", '[[nodes]]\nname = "A"\nurl = "http://127.0.0.1:1"\n', "has no kind", 1),
    ("missing-url", '[[nodes]]\nname = "A"\nkind = "openai"\n', "has no url", 1),
    ("key-in-api_key_env", GOOD_NODE + 'api_key_env = "sk-ant-123 456"\n', "NAME of an environment variable", 8),
    ("nodes-not-array", '[nodes]\nname = "A"\n', "array of tables", 1),
    ("name-wrong-type", '[[nodes]]\nname = 5\nkind = "openai"\nurl = "http://127.0.0.1:1"\n',
     "name must be a string", 2),
    ("negative-timeout", GOOD_NODE + "timeout_s = -3\n", "timeout_s must be > 0", 8),
    ("breaker-zero", GOOD_NODE + "\n[breaker]\nfailures = 0\n", "failures must be > 0", 10),
]


@pytest.mark.parametrize("case,text,fragment,line", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_is_one_located_error(tmp_path: Path, case: str, text: str, fragment: str,
                                            line: int | None) -> None:
    path = tmp_path / f"{case}.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert fragment in caught.value.message
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_secret_pasted_into_api_key_env_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD_NODE + 'api_key_env = "sk-ant-SECRET-VALUE"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("case", ["missing", "directory", "binary", "not-utf8", "parent-is-file"])
def test_unreadable_files(tmp_path: Path, case: str) -> None:
    path = tmp_path / "c.toml"
    expected = {
        "missing": "file not found",
        "directory": "is a directory",
        "binary": "is a binary file",
        "not-utf8": "is not UTF-8",
        "parent-is-file": "cannot read the file",
    }[case]
    if case == "directory":
        path.mkdir()
    elif case == "binary":
        path.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    elif case == "not-utf8":
        path.write_bytes(b"name = \"caf\xe9\"\n")
    elif case == "parent-is-file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "c.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert expected in caught.value.message


def test_cli_prints_exactly_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(GOOD_NODE.replace("weight = 1.4", "weight = 0"))
    code = main(["--config", str(path), "--once", "hi"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"jarvis: config error: {path}:7: ")


def test_unknown_keys_warn_but_load(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("colour = 'blue'\n" + GOOD_NODE + "tempreature = 0.2\n")
    config = load_config(str(path))
    assert [n.name for n in config.nodes] == ["M2"]
    messages = [str(w) for w in config.warnings]
    assert any("unknown key 'colour'" in m for m in messages)
    assert any("unknown key 'tempreature' in [nodes]" in m and ":9:" in m for m in messages)


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = tmp_path / "explicit.toml"
    env = tmp_path / "env.toml"
    xdg = tmp_path / "xdg" / "jarvis-tui" / "config.toml"
    xdg.parent.mkdir(parents=True)
    for path, name in ((explicit, "A"), (env, "B"), (xdg, "C")):
        path.write_text(GOOD_NODE.replace('"M2"', f'"{name}"'))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("JARVIS_CONFIG", str(env))
    assert load_config(str(explicit)).nodes[0].name == "A"
    assert load_config(None).nodes[0].name == "B"
    monkeypatch.delenv("JARVIS_CONFIG")
    assert load_config(None).nodes[0].name == "C"
    xdg.unlink()
    assert load_config(None).nodes == ()


def test_shipped_cluster_example_loads_with_the_users_weights_and_routes() -> None:
    config = load_config(str(data_file("cluster.example.toml")))
    assert not config.warnings
    weights = {n.name: n.weight for n in config.nodes}
    assert weights["M2"] == 1.4 and weights["OL1"] == 1.3 and weights["M3"] == 1.0 and weights["M1"] == 0.7
    assert 1.0 <= weights["GEMINI"] <= 1.2
    assert config.routing["consensus"] == ("M2", "OL1", "M3", "M1", "GEMINI")
    assert config.routing["simple"] == ("OL1", "M3")
    assert config.routing["architecture"] == ("GEMINI", "M2")
    assert config.node("OL1").think is False
    assert all(n.url.startswith("http://127.0.0.1") for n in config.nodes if n.kind not in ("gemini", "anthropic"))


def test_init_config_writes_a_starter_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JARVIS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["--init-config"]) == 0
    written = tmp_path / "jarvis-tui" / "config.toml"
    assert written.read_text() == starter_config_text()
    assert not load_config(None).warnings
    assert main(["--init-config"]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err


# ---------------------------------------------------------------- the cockpit's parsed-TOML cache


def test_the_parsed_toml_cache_gives_the_same_config_and_follows_the_text(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import jarvis_tui.config as config_module

    path = tmp_path / "c.toml"
    path.write_text('[[nodes]]\nname = "A"\nkind = "openai"\nurl = "http://127.0.0.1:9"\n\n[health]\ninterval_s = 7\n'
                    '[trading]\nleverage = 5\n')
    cache = tmp_path / "cache" / "config.marshal"
    plain = load_config(str(path))
    assert load_config(str(path), parsed_cache=cache) == plain  # parsed, then written
    assert cache.exists()
    parses = []
    real = config_module._parse_toml
    monkeypatch.setattr(config_module, "_parse_toml", lambda *args: parses.append(args) or real(*args))
    assert load_config(str(path), parsed_cache=cache) == plain  # from the cache
    assert parses == []
    path.write_text(path.read_text().replace("interval_s = 7", "interval_s = 8"))
    assert load_config(str(path), parsed_cache=cache).health.interval_s == 8.0  # a changed text is parsed
    assert len(parses) == 1
    cache.write_bytes(b"\x00damaged")
    assert load_config(str(path), parsed_cache=cache).health.interval_s == 8.0
    assert len(parses) == 2
    path.write_text(path.read_text().replace("interval_s = 8", "interval_s = 8\nwhen = 2026-12-06"))
    assert load_config(str(path), parsed_cache=cache).warnings  # a date does not marshal: parsed each time
    load_config(str(path), parsed_cache=cache)
    assert len(parses) == 4
    path.write_text("nodes = [")  # a syntax error is reported as before, cache or not
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_config(str(path), parsed_cache=cache)
