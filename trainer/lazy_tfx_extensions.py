"""`tfx.v1.extensions` imported on first use instead of at `from tfx import v1`.

`tfx/v1/__init__.py` imports its Google Cloud extensions eagerly, and they import the Vertex AI
SDK (`google.cloud.aiplatform`): about 7 s of every process's start-up on two cores, half of
what importing `tfx.v1` costs, for modules no local run calls. `defer` registers in their place
a module whose attributes (`google_cloud_ai_platform`, `google_cloud_big_query`, all that
`tfx/v1/extensions/__init__.py` holds) import the real submodules when first read, so
`tfx.v1.extensions...` still works for whoever uses it. (The standard library's
`importlib.util.LazyLoader` does not help here: `from tfx.v1 import extensions` reads the
module's `__spec__`, which makes it load at once.) It must run before anything imports
`tfx.v1`: trainer/__init__.py calls it, and components/ and pipeline/ import trainer first.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

NAME = "tfx.v1.extensions"
SUBMODULES = ("google_cloud_ai_platform", "google_cloud_big_query")


class _OnFirstUse(types.ModuleType):
    def __getattr__(self, name: str):
        if name not in SUBMODULES:
            raise AttributeError(f"module {NAME!r} has no attribute {name!r}")
        return importlib.import_module(f"{NAME}.{name}")


def _register() -> None:
    """Puts the module in `sys.modules` in place of the real one (which is never executed:
    it only imports the submodules that `_OnFirstUse` imports on demand)."""
    if NAME in sys.modules:
        return
    tfx_spec = importlib.util.find_spec("tfx")
    if tfx_spec is None or not tfx_spec.submodule_search_locations:
        return
    folders = [os.path.join(path, "v1") for path in tfx_spec.submodule_search_locations]
    spec = importlib.machinery.PathFinder.find_spec(NAME, [f for f in folders if os.path.isdir(f)])
    if spec is None or not spec.submodule_search_locations:
        return
    module = _OnFirstUse(NAME, "TFX extensions (their submodules import on first use).")
    module.__spec__, module.__path__ = spec, list(spec.submodule_search_locations)
    module.__file__, module.__all__ = spec.origin, list(SUBMODULES)
    sys.modules[NAME] = module


class _BeforeTfxV1(importlib.abc.MetaPathFinder):
    """Registers the module just before `tfx.v1` is imported (and not before: a process that
    never imports TFX keeps no trace of it), then leaves the import to the usual finders."""

    def find_spec(self, name, path=None, target=None):
        if name == "tfx.v1":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register()
        return None


def defer() -> None:
    """Makes `tfx.v1.extensions` import its submodules on first use (no-op once tfx.v1 is
    loaded)."""
    if "tfx.v1" in sys.modules or any(isinstance(f, _BeforeTfxV1) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BeforeTfxV1())
