"""Module aliases: `hxtorch[.X]` is `frontend[.X]`, and `...ann[.X]` is `...perceptron[.X]`.

The real hxtorch duplicates its `sys.modules` entries (`hxtorch.ann*` = `hxtorch.perceptron*`).
Copying entries only covers modules imported so far, so a meta-path finder resolves every later
import of an alias name to the canonical module object: importing a module under a second name
must never execute it a second time (that would split the global state).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

CANONICAL = "frontend"
ALIAS = "hxtorch"
# (alias prefix, canonical prefix), applied in this order
_RULES = ((ALIAS, CANONICAL), (f"{CANONICAL}.ann", f"{CANONICAL}.perceptron"))


def _rewrite(name: str, alias: str, canonical: str) -> str:
    if name == alias or name.startswith(alias + "."):
        return canonical + name[len(alias):]
    return name


def canonical_name(name: str) -> str | None:
    """The canonical module name behind `name`, or None if `name` is no alias."""
    target = name
    for alias, canonical in _RULES:
        target = _rewrite(target, alias, canonical)
    return None if target == name else target


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds alias names and "loads" them as the already imported canonical module."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname, path=None, target=None):
        canonical = canonical_name(fullname)
        if canonical is None or fullname == ALIAS:
            return None  # `hxtorch` itself is the package file that replaces itself
        try:
            module = importlib.import_module(canonical)
        except ModuleNotFoundError as e:
            if e.name == canonical:
                return None  # no such module under either name
            raise
        # If importing the canonical module registered the alias already, the import system
        # would now load the canonical *spec* a second time: let this finder's spec win.
        sys.modules.pop(fullname, None)
        self._specs[fullname] = getattr(module, "__spec__", None)
        is_package = hasattr(module, "__path__")
        origin = getattr(self._specs[fullname], "origin", None)  # runpy's sys.argv[0]
        return importlib.machinery.ModuleSpec(fullname, self, origin=origin,
                                              is_package=is_package)

    def create_module(self, spec) -> ModuleType:
        return sys.modules[canonical_name(spec.name)]

    def exec_module(self, module: ModuleType) -> None:
        # the import system has set __spec__ to the alias spec; the module keeps its own
        module.__spec__ = self._specs.pop(module.__spec__.name, None)

    def get_code(self, fullname: str):
        """The canonical module's code, for `python -m hxtorch.X` (runpy runs it as
        `__main__`)."""
        canonical = canonical_name(fullname)
        return importlib.util.find_spec(canonical).loader.get_code(canonical)


_FINDER = _AliasFinder()


def install() -> None:
    """Register the finder and alias every canonical module imported so far."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    for name, module in list(sys.modules.items()):
        if not name.startswith(CANONICAL + "."):
            continue
        for alias in _aliases_of(name):
            sys.modules.setdefault(alias, module)


def _aliases_of(name: str) -> list[str]:
    """Alias names of canonical module `name` (frontend.perceptron.nn -> hxtorch.perceptron.nn,
    hxtorch.ann.nn, frontend.ann.nn)."""
    names = [ALIAS + name[len(CANONICAL):]]
    perceptron = f"{CANONICAL}.perceptron"
    if name == perceptron or name.startswith(perceptron + "."):
        rest = name[len(perceptron):]
        names += [f"{CANONICAL}.ann{rest}", f"{ALIAS}.ann{rest}"]
    return names
