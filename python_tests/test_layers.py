"""The package's layers (docs/design.md): every module's imports, including those deferred into
functions, point down the layer list or stay within their layer, and no two modules import
each other, directly or through a chain. Also: ``import phnet_cuda`` needs only torch and numpy,
and the old module paths keep working."""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import phnet_cuda

PACKAGE_DIR = pathlib.Path(phnet_cuda.__file__).parent

#: Layer of every module, bottom first: a module may import modules of its own layer or below.
#: A key names a module or a whole package (its submodules inherit the package's layer).
LAYERS = {
    0: ["conventions", "_checks", "_lib", "_version"],
    1: ["fem", "walsh", "shapes", "grid", "geometry", "voxel_io"],
    2: ["materials", "ops"],
    3: ["reference", "testing", "linalg"],
    4: ["problem"],
    5: ["solver"],
    6: ["post", "data"],
    7: ["surrogate", "design"],
    8: ["cli"],
    # The old module paths, kept as thin re-exports for users: nothing inside imports them.
    9: ["model", "predict", "train", "plots", "export"],
    10: ["__init__"],
}
RANK = {name: rank for rank, names in LAYERS.items() for name in names}


def _modules() -> dict[str, pathlib.Path]:
    """Dotted module name relative to the package ('linalg.krylov', 'data', '__init__') -> file."""
    out = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE_DIR).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _rank(module: str) -> int:
    top = module.split(".")[0]
    if top not in RANK:
        raise AssertionError(f"module {module!r} has no layer in LAYERS: add it (and to docs/design.md)")
    return RANK[top]


def _package_of(module: str, path: pathlib.Path) -> list[str]:
    parts = [] if module == "__init__" else module.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _imports(module: str, path: pathlib.Path) -> set[str]:
    """The package modules ``module`` imports anywhere in its file (module level or deferred)."""
    found = set()
    package = _package_of(module, path)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] if node.level > 1 else package
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "phnet_cuda":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # 'from . import ops' names a module, not a symbol
                sub = ".".join(target + [alias.name])
                found.add(sub if sub in MODULES else ".".join(target) or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "phnet_cuda":
                    found.add(".".join(parts[1:]) or "__init__")
    found.discard(module)
    return {m for m in found if m in MODULES}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        _rank(module)


def test_imports_point_down():
    upward = [f"{m} (layer {_rank(m)}) imports {t} (layer {_rank(t)})"
              for m, targets in GRAPH.items() for t in sorted(targets) if _rank(t) > _rank(m)]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    # A package's __init__ importing its own submodules is how packages work; the cycle that
    # matters is between modules, so the edge submodule -> its own package __init__ is ignored.
    def edges(m):
        return {t for t in GRAPH[m] if not (m.startswith(t + ".") and MODULES[t].name == "__init__.py")}

    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges(m)):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_checker_sees_planted_violations(monkeypatch):
    # The two checks above must be able to fail: plant an upward import and a cycle.
    monkeypatch.setitem(GRAPH, "conventions", {"solver"})
    with pytest.raises(AssertionError, match="upward imports"):
        test_imports_point_down()
    monkeypatch.setitem(GRAPH, "conventions", set())
    monkeypatch.setitem(GRAPH, "grid", {"fem", "shapes"})
    monkeypatch.setitem(GRAPH, "shapes", {"grid"})
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycles()


def test_import_needs_only_torch_and_numpy():
    code = ("import sys, phnet_cuda; heavy = {'scipy', 'matplotlib', 'h5py', 'yaml', 'skimage', 'meshio', "
            "'torch.distributed.run', 'phnet_cuda.surrogate.train', 'tifffile', 'trimesh'}; "
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("old, new, names", [
    ("phnet_cuda.model", "phnet_cuda.surrogate.model", ["PHNet", "PHNetConfig", "widen_model"]),
    ("phnet_cuda.predict", "phnet_cuda.surrogate.predict", ["predict", "DEFAULT_CHECKPOINT", "load_model"]),
    ("phnet_cuda.train", "phnet_cuda.surrogate.train", ["TrainConfig", "Trainer", "main", "export_checkpoint"]),
    ("phnet_cuda.plots", "phnet_cuda.post.plots", ["plot_young_surface", "plot_slices"]),
    ("phnet_cuda.export", "phnet_cuda.post.export", ["write_json", "write_stl"]),
    ("phnet_cuda.solver", "phnet_cuda.linalg", ["pcg", "MultigridPreconditioner", "spd_inverse"]),
])
def test_old_paths_are_the_new_objects(old, new, names):
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_mod, name) is getattr(new_mod, name), f"{old}.{name}"


def test_package_attributes_survive_submodule_imports():
    importlib.import_module("phnet_cuda.predict")  # must not rebind phnet_cuda.predict to the module
    assert callable(phnet_cuda.predict) and phnet_cuda.predict is importlib.import_module(
        "phnet_cuda.surrogate.predict").predict
    for name in phnet_cuda.__all__:
        assert getattr(phnet_cuda, name) is not None, name
