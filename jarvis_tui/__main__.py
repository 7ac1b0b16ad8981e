"""`python -m jarvis_tui` is the same as the `jarvis` command."""

from jarvis_tui.cli import main

raise SystemExit(main())
