"""The package's folders are the pipeline: each step imports only the steps before it."""
import ast
from pathlib import Path

import sdvag

PACKAGE = Path(sdvag.__file__).resolve().parent
# Step of each top-level module or subpackage; the package's __init__ and api join them all.
STEPS = {"version": 0, "errors": 0, "files": 0, "formatting": 0, "progress": 0, "data": 0, "shipped": 0,
         "model": 1, "simulation": 2, "analysis": 3, "report": 4, "api": 5, "explorer": 6, "cli": 7}


def step_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "sdvag":
        return None
    if len(parts) == 1:
        return 99  # the package itself: only what sits above every step may import it
    return STEPS[parts[1]]


def imports(path: Path) -> list[str]:
    """Every sdvag module a file imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; use sdvag.<step>.<module>"
            base = node.module or ""
            found += [f"{base}.{a.name}" if base == "sdvag" else base for a in node.names]
    return [m for m in found if m.split(".")[0] == "sdvag"]


def test_every_module_belongs_to_a_step():
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert top in STEPS or top in ("__init__", "__main__"), f"{path}: not in any step"


def test_each_step_imports_only_the_steps_before_it():
    offending = []
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top in ("__init__", "__main__"):
            continue
        own = STEPS[top]
        for module in imports(path):
            other = step_of(module)
            same_unit = module.split(".")[1] == top if "." in module else False
            if other is not None and other > own or (other == own and own > 0 and not same_unit):
                offending.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offending == []


def test_there_is_no_import_cycle_between_modules():
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        name = ".".join(("sdvag", *rel.parts)).removesuffix(".__init__")
        graph[name] = {m for m in imports(path) if m != name}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in graph:
        if node not in state and node != "sdvag":
            visit(node, [])
