"""The lazy ccxt packages keep every public name of the real ones and load one exchange only.

Each check runs in a fresh interpreter: ``sys.modules`` is process-wide, and other tests import ccxt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from jarvis_tui.trading import ccxt_lazy

PUBLIC_NAMES = textwrap.dedent("""
    import json, sys, types
    {setup}
    import ccxt, ccxt.async_support, ccxt.pro
    def describe(module):
        out = {{}}
        for name in dir(module):
            value = getattr(module, name)
            if name.startswith("_") or isinstance(value, types.ModuleType):
                continue  # subpackages (base, abstract) show up once something imported them
            out[name] = f"{{getattr(value, '__module__', '')}}.{{getattr(value, '__qualname__', type(value).__name__)}}"
        return out
    print(json.dumps({{pkg.__name__: describe(pkg) for pkg in (ccxt, ccxt.async_support, ccxt.pro)}}))
""")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_lazy_packages_have_the_real_packages_names_and_values():
    real = json.loads(run_python(PUBLIC_NAMES.format(setup="")))
    lazy = json.loads(run_python(PUBLIC_NAMES.format(
        setup="from jarvis_tui.trading import ccxt_lazy; assert ccxt_lazy.install()")))
    assert lazy == real
    assert real["ccxt.async_support"]["mexc"] == "ccxt.async_support.mexc.mexc"
    assert len(real["ccxt.pro"]) > 50


def test_reading_mexc_loads_mexc_and_no_other_exchange():
    out = run_python(textwrap.dedent("""
        import json, sys
        from jarvis_tui.trading import ccxt_lazy
        client = ccxt_lazy.pro().mexc({"options": {"defaultType": "swap"}})
        rest = ccxt_lazy.async_support()
        exchanges = set(rest.exchanges)
        loaded = sorted(m for m in sys.modules if m.startswith("ccxt.") and m.rpartition(".")[2] in exchanges)
        print(json.dumps({"loaded": loaded, "mro": [c.__module__ for c in type(client).__mro__[:2]],
                          "error": rest.NetworkError.__module__, "version": rest.__version__}))
    """))
    found = json.loads(out)
    assert found["loaded"] == ["ccxt.abstract.mexc", "ccxt.async_support.mexc", "ccxt.pro.mexc"]
    assert found["mro"] == ["ccxt.pro.mexc", "ccxt.async_support.mexc"]
    assert found["error"] == "ccxt.base.errors"


def test_importing_an_exchange_module_directly_leaves_the_class_on_the_package():
    # ccxt.pro.mexc subclasses ``ccxt.async_support.mexc``: that name must stay the class even when
    # the submodule was imported by its dotted name first.
    out = run_python(textwrap.dedent("""
        from jarvis_tui.trading import ccxt_lazy
        ccxt_lazy.install()
        import ccxt.async_support.mexc
        import ccxt.async_support
        from ccxt.pro.mexc import mexc
        print(isinstance(ccxt.async_support.mexc, type), mexc.__mro__[1].__module__)
    """))
    assert out.split() == ["True", "ccxt.async_support.mexc"]


def test_an_already_imported_ccxt_is_left_alone():
    out = run_python(textwrap.dedent("""
        import ccxt
        from jarvis_tui.trading import ccxt_lazy
        print(ccxt_lazy.install(), type(ccxt_lazy.async_support()).__name__)
    """))
    assert out.split() == ["False", "module"]


def test_a_package_without_exchange_imports_is_not_replaced(tmp_path, monkeypatch):
    package = tmp_path / "notccxt"
    package.mkdir()
    (package / "__init__.py").write_text("from notccxt.base import errors\nVALUE = 1\n")
    (package / "base.py").write_text("errors = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ccxt_lazy._lazy_package("notccxt") is None
    assert "notccxt" not in sys.modules
