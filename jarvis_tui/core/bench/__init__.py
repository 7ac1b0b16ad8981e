"""The 10-level benchmark: level files in data/bench/, scorers, a sandboxed runner, weight proposals.

    levels.py    load and validate data/bench/level_NN.toml
    sandbox.py   run untrusted code against hidden tests: subprocess, timeout, rlimits, no network
    scorers.py   0-5 points per answer (hidden tests for code, required facts for reasoning/design)
    runner.py    every node in parallel, progress events, report JSON + SQLite
    proposal.py  weights and routing derived from score and latency
    apply.py     write an accepted proposal into the config file (backup, comments kept)
"""
