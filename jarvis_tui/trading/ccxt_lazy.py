"""ccxt's three packages with their exchange classes loaded on first use.

``import ccxt.async_support`` runs ``ccxt/__init__.py`` and ``ccxt/async_support/__init__.py``, and
each imports every exchange ccxt supports (~100 of them, plus ~100 more for ``ccxt.pro``): ~75 MB
of class bodies and API tables for a cockpit that talks to one exchange (ccxt/ccxt#29573).

``install()`` registers ``ccxt``, ``ccxt.async_support`` and ``ccxt.pro`` in ``sys.modules`` built
from ccxt's own ``__init__`` source, minus the per-exchange ``from ccxt.X import X`` lines.  An
exchange name is imported the first time it is read (``ccxt.async_support.mexc``), so every name the
real package has is still there with the same value: errors, ``Exchange``, ``exchanges``,
``__version__``, ``__all__``.  When ccxt is already imported, or its ``__init__`` no longer has the
shape this expects, nothing is replaced and ccxt loads as it always did.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

PACKAGES = ("ccxt", "ccxt.async_support", "ccxt.pro")

_install_lock = threading.Lock()


class LazyExchangePackage(types.ModuleType):
    """A ccxt package whose exchange classes are imported when first read."""

    _lazy_exchanges: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        # Only called for names not yet in the module's namespace.
        if name not in self._lazy_exchanges:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        submodule = importlib.import_module(f"{self.__name__}.{name}")
        exchange_class = getattr(submodule, name)
        self.__dict__[name] = exchange_class
        return exchange_class

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | self._lazy_exchanges)

    def __setattr__(self, name: str, value: Any) -> None:
        # The import system binds a loaded submodule on its parent (``ccxt.pro.mexc`` = the module);
        # the real package has the class under that name, because its __init__ imported it.
        if name in self._lazy_exchanges and isinstance(value, types.ModuleType):
            value = getattr(value, name, value)
        super().__setattr__(name, value)


def _is_exchange_import(node: ast.stmt, package: str) -> str | None:
    """The exchange name of ``from <package>.X import X``, else None."""
    if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
        return None
    parent, _, leaf = node.module.rpartition(".")
    if parent != package or len(node.names) != 1:
        return None
    alias = node.names[0]
    if alias.name != leaf or alias.asname is not None or leaf == "base":
        return None
    return leaf


def _lazy_package(name: str) -> LazyExchangePackage | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        return None
    with open(spec.origin, encoding="utf-8") as source_file:
        tree = ast.parse(source_file.read(), spec.origin)
    body: list[ast.stmt] = []
    exchanges: set[str] = set()
    for node in tree.body:
        exchange = _is_exchange_import(node, name)
        if exchange is None:
            body.append(node)
        else:
            exchanges.add(exchange)
    if not exchanges:
        return None
    tree.body = body
    module = LazyExchangePackage(name)
    object.__setattr__(module, "_lazy_exchanges", frozenset(exchanges))
    module.__spec__ = spec
    module.__file__ = spec.origin
    module.__path__ = list(spec.submodule_search_locations)
    module.__package__ = name
    module.__loader__ = spec.loader
    code = compile(tree, spec.origin, "exec")
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - ccxt's own __init__, minus its exchange imports
    except BaseException:
        del sys.modules[name]
        raise
    parent, _, leaf = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], leaf, module)
    return module


def install() -> bool:
    """Register the lazy ccxt packages; False when ccxt was already imported or has another shape."""
    with _install_lock:
        if PACKAGES[0] in sys.modules:
            return isinstance(sys.modules[PACKAGES[0]], LazyExchangePackage)
        installed: list[str] = []
        for name in PACKAGES:
            try:
                module = _lazy_package(name)
            except (ImportError, SyntaxError, OSError):
                module = None
            if module is None:
                # A layout this does not know: undo, and let ccxt load whole.
                for done in reversed(installed):
                    sys.modules.pop(done, None)
                return False
            installed.append(name)
        return True


def async_support() -> types.ModuleType:
    """``ccxt.async_support``, lazily when possible."""
    install()
    import ccxt.async_support

    return ccxt.async_support


def pro() -> types.ModuleType:
    """``ccxt.pro``, lazily when possible."""
    install()
    import ccxt.pro

    return ccxt.pro
