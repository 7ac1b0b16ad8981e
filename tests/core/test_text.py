"""Untrusted text never reaches the terminal as control sequences."""

from jarvis_tui.core.text import neutralize_terminal, one_line


def test_escape_sequences_become_visible() -> None:
    hostile = "ok\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x9b31m end"
    safe = neutralize_terminal(hostile)
    assert "\x1b" not in safe and "\x07" not in safe and "\x9b" not in safe
    assert "␛[2J" in safe and "␛]0;pwned␇" in safe and "\\x9b31m" in safe


def test_newlines_tabs_and_markup_are_kept_literally() -> None:
    text = "[bold red]not bold[/]\n\tindented\r\nnext"
    assert neutralize_terminal(text) == "[bold red]not bold[/]\n\tindented\nnext"


def test_one_line_flattens_and_truncates() -> None:
    assert one_line("a\nb\x1bc", 50) == "a b␛c"
    assert one_line("x" * 300, 10) == "x" * 9 + "…"
