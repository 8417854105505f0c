"""The layout holds: three wings that import only downwards, and no import cycle anywhere (deferred imports count).

    app.py, train.py  ->  webapp/  ->  vae/ and pictures/
    vae/       the model library: torch and safetensors (no Gradio, no OpenCV, nothing of the page)
    pictures/  picture -> MNIST-style 28x28 digit (knows nothing of VAEs, nor of the page)
    webapp/    the Gradio page, one module per view
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PRODUCT = ["app.py", "train.py", "vae", "pictures", "webapp", "scripts", "benchmarks"]
# What each wing may never import, directly or inside a function.
FORBIDDEN = {
    "vae": {"gradio", "cv2", "pictures", "webapp", "app", "train"},
    "pictures": {"gradio", "torchvision", "vae", "webapp", "app", "train"},
    "webapp": {"app", "train"},
}


def module_name(path: Path) -> str:
    """The dotted module name of a .py file under ROOT."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def modules() -> dict[str, Path]:
    """Every product module (tests apart) by name."""
    files = [ROOT / p for p in PRODUCT if p.endswith(".py")]
    files += [f for p in PRODUCT if not p.endswith(".py") for f in (ROOT / p).rglob("*.py")]
    return {module_name(f): f for f in files if "__pycache__" not in f.parts}


def imports(path: Path) -> set[str]:
    """Every module name a file imports, at any depth of its code."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imported_names(path.read_text(encoding="utf-8"), package)


def imported_names(source: str, package: str) -> set[str]:
    """Every module name `source` imports, inside functions too; relative imports resolved from `package`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


def graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports."""
    mods = modules()
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges[name] = set()
        for imported in imports(path):
            while imported and imported not in mods:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                edges[name].add(imported)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_one() -> None:
    """The check above can fail: a cycle through a deferred import is found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("wing", sorted(FORBIDDEN))
def test_each_wing_imports_only_downwards(wing: str) -> None:
    offending = {f"{name} imports {imported}" for name, path in modules().items() if name.split(".")[0] == wing
                 for imported in imports(path) if imported.split(".")[0] in FORBIDDEN[wing]}
    assert not offending, sorted(offending)


def test_the_import_reader_sees_deferred_and_relative_imports() -> None:
    """A deferred `import gradio` is seen, so it cannot hide a forbidden import; a relative one is resolved."""
    source = "def f():\n    import gradio\n    from .model import VAE\n"
    assert imported_names(source, "vae") == {"gradio", "vae.model", "vae.model.VAE"}
