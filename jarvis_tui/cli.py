"""Argument parsing only: dispatches to the headless faces or the cockpit.

Exit codes (documented in the README):
  0   ok
  2   usage or config error
  3   no node could answer (or none is healthy, for --status)
  130 interrupted

This module and everything the headless faces import stay light: Textual is
imported only when the cockpit opens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from jarvis_tui import __version__

if TYPE_CHECKING:
    import argparse

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NO_NODE = 3
EXIT_INTERRUPTED = 130

SUBCOMMANDS = ("trade", "bench")


def __getattr__(name: str) -> Any:
    # argparse (and the gettext it imports) is loaded only when something is parsed with it: the plain cockpit
    # (`jarvis`, `jarvis --config PATH`) does without it (_cockpit_args).
    if name == "OneLineParser":
        return _one_line_parser_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _one_line_parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class OneLineParser(argparse.ArgumentParser):
        """argparse, but a usage error is one line and exit code 2, never a usage dump."""

        def error(self, message: str) -> None:  # type: ignore[override]
            sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
            raise SystemExit(EXIT_USAGE)

    return OneLineParser


def build_parser() -> argparse.ArgumentParser:
    parser = _one_line_parser_class()(
        prog="jarvis",
        description="A terminal cockpit for a cluster of LLM nodes. With no prompt flag it opens the cockpit.",
        epilog="subcommands: `jarvis trade status|close|replay ...`, `jarvis bench [--quick] [--nodes A,B]`. "
               "Exit codes: 0 ok, 2 usage/config error, 3 no node could answer, 130 interrupted.",
    )
    face = parser.add_mutually_exclusive_group()
    face.add_argument("--once", metavar="PROMPT", help="answer one prompt headless ('-' reads stdin) and exit")
    face.add_argument("--status", action="store_true", help="check every node concurrently and exit")
    face.add_argument("--init-config", action="store_true", help="write a commented starter config and exit")
    face.add_argument("--voice-test", metavar="FILE.wav", help="transcribe, correct and match one WAV file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--node", metavar="NAME", help="force one node (no fallback)")
    parser.add_argument("--consensus", action="store_true", help="with --once: weighted consensus across nodes")
    parser.add_argument("--verify", action="store_true", help="with --once: score the answer and re-dispatch weak ones")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $JARVIS_CONFIG, then XDG)")
    parser.add_argument("--live", action="store_true", help="allow live trading (still needs keys and a typed confirmation)")
    parser.add_argument("--version", action="version", version=f"jarvis-tui {__version__}")
    return parser


def _cockpit_args(args_list: list[str]) -> SimpleNamespace | None:
    """The arguments of a plain cockpit start, read without argparse; None when argparse must read them.

    Only ``--config PATH`` and ``--live``, each at most once and spelled out: importing argparse and gettext
    cost ~3.5 ms of the cockpit's first paint (docs/cockpit.md).  Anything else (another flag, ``--config=PATH``,
    an abbreviation, a PATH that starts with "-", ``--help``) goes to the parser as before, so every error and
    message stays argparse's.  The namespace has the attributes the parser's has, with the same values.
    """
    config: str | None = None
    live = False
    index = 0
    while index < len(args_list):
        arg = args_list[index]
        if arg == "--live" and not live:
            live = True
        elif (arg == "--config" and config is None and index + 1 < len(args_list)
              and args_list[index + 1][:1] not in ("", "-")):
            index += 1
            config = args_list[index]
        else:
            return None
        index += 1
    return SimpleNamespace(once=None, status=False, init_config=False, voice_test=None, json=False, node=None,
                           consensus=False, verify=False, config=config, live=live)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            return _run_subcommand(args_list[0], args_list[1:])
        args: Any = _cockpit_args(args_list) or build_parser().parse_args(args_list)
        if args.once is not None or args.status or args.init_config or args.voice_test:
            from jarvis_tui import headless

            return headless.run(args)
        if args.json or args.node or args.consensus or args.verify:
            sys.stderr.write("jarvis: error: --json, --node, --consensus and --verify need --once or --status "
                             "(see `jarvis --help`)\n")
            return EXIT_USAGE
        from jarvis_tui.ui.launch import run_cockpit

        return run_cockpit(args)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("jarvis: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped reading (`jarvis --status | head -3`): end quietly, as `head`'s other writers do.
        # stdout goes to /dev/null so the interpreter's last flush at exit cannot fail again on stderr.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _run_subcommand(name: str, rest: list[str]) -> int:
    if name == "trade":
        from jarvis_tui.headless import run_trade

        return run_trade(rest)
    from jarvis_tui.headless import run_bench

    return run_bench(rest)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
