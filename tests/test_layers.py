"""Who may import whom (docs/design.md, "Layers"), read from the source."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
# samplers/, bottom up: leaves; log Z; chain kernels; assembly; façades. A
# module imports from its own layer or lower ones, never from a higher one; a
# leaf imports no other module but _checks and programs, and programs none.
# docs/design.md draws the same table.
SAMPLER_LAYERS = [
    {
        "_checks",
        "programs",
        "base",
        "health",
        "diagnostics",
        "precondition",
        "checkpoint",
        "surrogate",
        "gradient",
        "chunks",
    },
    {
        "moves",
        "rejection",
        "reference",
        "islands",
        "ais",
        "annealing",
        "log_z_types",
        "estimate",
        "batches",
        "standard_errors",
        "thermodynamic",
        "bridging",
    },
    {"nested", "exchange", "exchange_moves", "inner", "sgld", "optimize", "joint"},
    {
        "target",
        "methods",
        "keywords",
        "record",
        "run",
        "gibbs",
        "scout",
        "stochastic",
        "chains",
        "settings",
        "runs",
    },
    {
        "log_partition",
        "mode",
        "sample",
        "draws",
        "smc",
        "predict",
        "compare",
        "__init__",
    },
]


def _imports(path: pathlib.Path) -> set[str]:
    """Top-level names of the packages and modules ``path`` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sampler_modules(path: pathlib.Path) -> set[str]:
    # "from samplers import exchange" and "from samplers.exchange import x"
    # both name the module exchange.
    modules = set()
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "samplers" and len(parts) > 1:
            modules.add(parts[1])
    return modules


def test_every_sampler_module_has_a_layer():
    modules = {path.stem for path in (ROOT / "samplers").glob("*.py")}
    assert modules == set().union(*SAMPLER_LAYERS)


def test_sampler_modules_import_only_lower_layers():
    layer_of = {m: i for i, layer in enumerate(SAMPLER_LAYERS) for m in layer}
    wrong = []
    for path in (ROOT / "samplers").glob("*.py"):
        own = layer_of[path.stem]
        for module in _sampler_modules(path) - {path.stem}:
            if layer_of[module] > own:
                wrong.append(f"{path.stem} (layer {own}) imports {module}")
            allowed = set() if path.stem == "programs" else {"_checks", "programs"}
            if own == 0 and module not in allowed:
                wrong.append(f"leaf {path.stem} imports {module}")
    assert not wrong, wrong


def test_what_and_how_stay_apart():
    # samplers/ works on plain JAX functions: no posterior, no NumPyro;
    # posterior/ never reaches for a sampler.
    crossings = []
    for package, banned in (
        ("samplers", {"posterior", "numpyro"}),
        ("posterior", {"samplers"}),
    ):
        for path in (ROOT / package).glob("*.py"):
            found = {name.split(".")[0] for name in _imports(path)} & banned
            if found:
                crossings.append(f"{package}/{path.name} imports {sorted(found)}")
    assert not crossings, crossings
