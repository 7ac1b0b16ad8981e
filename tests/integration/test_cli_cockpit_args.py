"""`jarvis` and `jarvis --config PATH` open the cockpit without argparse (a first-paint cost), as if parsed by it."""

from __future__ import annotations

import pytest

from jarvis_tui.cli import _cockpit_args, build_parser

PLAIN = [[], ["--config", "c.toml"], ["--live"], ["--config", "c.toml", "--live"], ["--live", "--config", "c.toml"],
         ["--config", "my config.toml"]]


@pytest.mark.parametrize("argv", PLAIN)
def test_a_plain_cockpit_start_reads_as_argparse_reads_it(argv: list[str]) -> None:
    fast = _cockpit_args(argv)
    assert fast is not None
    assert vars(fast) == vars(build_parser().parse_args(argv))


# Each goes to argparse, which reads it its own way or answers with its own error.
OTHERS = [["--config=c.toml"], ["--conf", "c.toml"], ["--li"], ["--config", "-c.toml"], ["--config", ""],
          ["--config"], ["--live", "--live"], ["--config", "a", "--config", "b"], ["--help"], ["--version"],
          ["--once", "hi"], ["--status"], ["--json"], ["--config", "c.toml", "--node", "A"], ["prompt"]]


@pytest.mark.parametrize("argv", OTHERS)
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert _cockpit_args(argv) is None


def test_the_parser_class_still_loads_on_demand(capsys: pytest.CaptureFixture[str]) -> None:
    """`jarvis_tui.cli` imports argparse only when asked for its parser (tests/ui/test_first_paint_imports.py)."""
    from jarvis_tui.cli import OneLineParser

    with pytest.raises(SystemExit) as stopped:
        OneLineParser(prog="jarvis bench").parse_args(["--nope"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error == "jarvis bench: error: unrecognized arguments: --nope (see `jarvis bench --help`)\n"
