"""TFX's umbrella packages import their members on first use instead of all at once.

`tfx/v1/__init__.py` imports `tfx.v1.extensions`, whose Google Cloud extensions import the
Vertex AI SDK (`google.cloud.aiplatform`): about 7 s of every process's start-up on two cores,
half of what importing `tfx.v1` costs, for modules no local run calls. It also imports
`tfx.v1.components`, which, like `tfx.components`, imports every TFX component: the
InfraValidator (its Kubernetes and Docker clients) and the Tuner (KerasTuner) too; and
`tfx.v1.orchestration`, which imports the Kubeflow runner (the KFP SDK and its Kubernetes
client): ~2 s together that a local run without `--tune` never uses.

`defer` registers, in place of each of those packages, a module whose attributes (the names its
`__init__.py` imports: `from M import N`) import their source when first read, so
`tfx.v1.extensions...`, `tfx.components.Tuner`, `tfx.v1.orchestration.experimental` and
`from tfx.components import X` still work for whoever uses them, and their submodules import
as usual. (The standard library's
`importlib.util.LazyLoader` does not help here: `from tfx.v1 import extensions` reads the
module's `__spec__`, which makes it load at once.) It must run before anything imports TFX:
trainer/__init__.py calls it, and components/ and pipeline/ import trainer first. No TFX
option does this; it is written here by hand.
"""
import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Dict, Tuple

# The packages made lazy (their __init__.py holds only `from M import N` lines and __all__).
PACKAGES = ("tfx.v1.extensions", "tfx.v1.components", "tfx.components", "tfx.v1.orchestration")


class _OnFirstUse(types.ModuleType):
    """A package whose public names import their source module when first read."""

    def __init__(self, name: str, sources: Dict[str, Tuple[str, str]]):
        super().__init__(name, f"{name} (its members import on first use).")
        self._sources = sources

    def __getattr__(self, name: str):
        sources = self.__dict__.get("_sources", {})
        if name not in sources:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module_name, attribute = sources[name]
        if module_name == self.__name__:  # `from package import submodule`, in the package
            value = importlib.import_module(f"{module_name}.{attribute}")
        else:
            value = getattr(importlib.import_module(module_name), attribute)
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_sources", {})))


def _sources(init_file: str) -> Dict[str, Tuple[str, str]]:
    """{public name: (module, attribute)} of the `from M import N [as A]` lines of a package's
    __init__.py; empty when it holds anything else that runs (then it is left as it is)."""
    with open(init_file, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and getattr(node.targets[0], "id", None) == "__all__"):
            continue
        else:
            return {}
    return found


def _register(name: str) -> None:
    """Puts the lazy module in `sys.modules` in place of the real one (which is never
    executed: `_OnFirstUse` imports what it would have imported, name by name)."""
    if name in sys.modules:
        return
    parent = name.rpartition(".")[0]
    parent_spec = importlib.util.find_spec(parent.split(".")[0])
    if parent_spec is None or not parent_spec.submodule_search_locations:
        return
    folders = [os.path.join(path, *parent.split(".")[1:])
               for path in parent_spec.submodule_search_locations]
    spec = importlib.machinery.PathFinder.find_spec(name, [f for f in folders if os.path.isdir(f)])
    if spec is None or not spec.submodule_search_locations or not spec.origin:
        return
    sources = _sources(spec.origin)
    if not sources:
        return
    module = _OnFirstUse(name, sources)
    module.__spec__, module.__path__ = spec, list(spec.submodule_search_locations)
    module.__file__, module.__all__ = spec.origin, list(sources)
    module.__package__ = name
    sys.modules[name] = module


class _BeforeTfx(importlib.abc.MetaPathFinder):
    """Registers the lazy packages just before `tfx` is imported (and not before: a process
    that never imports TFX keeps no trace of them), then leaves the import to the usual
    finders."""

    def find_spec(self, name, path=None, target=None):
        if name == "tfx":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            for package in PACKAGES:
                _register(package)
        return None


def defer() -> None:
    """Makes TFX's umbrella packages import their members on first use (no-op once TFX is
    loaded)."""
    if "tfx" in sys.modules or any(isinstance(f, _BeforeTfx) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BeforeTfx())
