"""The import rule import-linter cannot check (.importlinter): pipeline_config.py, the bottom
layer, is a module rather than a package, so its own imports are checked here."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
UPPER_LAYERS = ("pipeline", "components", "trainer")


def _imported(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_pipeline_config_imports_no_upper_layer():
    upward = [name for name in _imported(ROOT / "pipeline_config.py")
              if name.split(".")[0] in UPPER_LAYERS]
    assert upward == [], f"pipeline_config.py imports {upward}: it is the bottom layer"


def test_the_tf_free_helpers_stay_tf_free():
    """The report and the runner read checkpoints and run files through these without
    TensorFlow (checkpoints/files.py imports it inside a function, for a URI only)."""
    heavy = {"tensorflow", "tf_keras", "transformers"}
    for module in ("trainer/uris.py", "trainer/run_files.py", "trainer/checkpoints/files.py"):
        body = ast.parse((ROOT / module).read_text()).body
        names = set()
        for node in body:
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        assert not names & heavy, (module, names & heavy)
