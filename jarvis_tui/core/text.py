"""Untrusted text (model output, node errors) made safe for a terminal.

Model output must never drive the terminal: an ESC, OSC or C1 control in an
answer could retitle the window, write to the clipboard (OSC 52) or hide text.
Every control character except newline and tab is replaced by its visible
Unicode "control picture" (ESC becomes U+241B), so the user still sees that
something odd was there.  Rich markup is not a concern here: faces print this
text as plain text, never through a markup parser.
"""

from __future__ import annotations

import re

# C0 controls except \t (09) and \n (0a), DEL, and the C1 range (which includes CSI 0x9b and OSC 0x9d).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return f"\\x{code:02x}"


def neutralize_terminal(text: str) -> str:
    """Replace terminal control characters with visible stand-ins; keep \\n and \\t."""
    if not text:
        return text
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub(_picture, text)


def one_line(text: str, limit: int = 200) -> str:
    """A single safe line, for error messages and table cells."""
    flat = neutralize_terminal(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
