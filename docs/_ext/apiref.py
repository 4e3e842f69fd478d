"""The API reference: one page per public module, one entry per name in its ``__all__``.

The pages are generated at every build (``builder-inited``) into ``docs/api/`` from the
modules' ``__all__``, so a name added to ``__all__`` gets its entry without editing the docs;
``tests/test_docs.py`` checks that every public name has a docstring (or a ``#:`` comment for
data) and an entry, and that every subpackage of ``ann``, ``snn`` and ``bridge`` is listed here.
To document a new public module, add it to :data:`API_MODULES`.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import types
from pathlib import Path
from typing import Any

#: public modules, in the order of the API index: (module, one line on what it holds)
API_MODULES: list[tuple[str, str]] = [
    ("ann", "wake side: data, tasks, the bias-free MLP, training, evaluation"),
    ("ann.baselines", "continual-learning methods on the same MLP and protocol"),
    ("ann.representations", "hidden-layer measures of the paper's Figs 4-6"),
    ("ann.devices", "where the wake side computes (CPU or CUDA)"),
    ("ann.corruptions", "image distortions for robustness tests: Gaussian noise, salt-and-pepper, blur"),
    ("ann.sampling", "seeded class-stratified subsets: validation holdout, limited-data percentages"),
    ("ann.errors", "typed errors of the wake side"),
    ("snn", "sleep side: the sleep network, spike data, the engine registry"),
    ("snn.activity", "firing rates, population rates and rasters of a sleep"),
    ("snn.export", "HDF5 files and NIR graphs of the sleep network"),
    ("snn.export.pynn_script", "the frozen network as a standalone PyNN script"),
    ("snn.neo_export", "sleep spikes as Neo blocks and files"),
    ("snn.brian2", "the brian2 engine"),
    ("snn.pynn", "the pynn.nest and pynn.brian2 engines"),
    ("snn.nestmodule", "the SRC rule inside NEST: the src_synapse module, its build, cache and bulk weight readout"),
    ("snn.errors", "typed errors of the sleep side"),
    ("bridge", "the front door: sleep, SleepReplay, presets, calibration, conversion"),
    ("bridge.experiments", "the experiment harness behind sleep-replay run"),
    ("bridge.protocols", "the robustness and limited-data protocols (sleep-replay run)"),
    ("bridge.analysis", "sleep analyses (sleep-replay analyze)"),
    ("bridge.tuning", "sleep-parameter search (sleep-replay tune, rescore)"),
    ("bridge.nir_check", "running an exported NIR graph in snnTorch"),
    ("bridge.errors", "typed errors of the bridge"),
]
#: subpackages that are implementation detail, not public API (each with the reason)
INTERNAL_PACKAGES: dict[str, str] = {
    "ann.resources": "data files only (the embedded MNIST subset and its README), no code",
    "snn.pynn.backends": "simulator back ends behind snn.pynn.PyNNEngine (selected by its simulator option)",
}
TOP_PACKAGES = ("ann", "snn", "bridge")


def public_names(module_name: str) -> list[str]:
    """The public names of a module: its ``__all__``."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        raise ValueError(f"public module {module_name} has no __all__")
    return list(names)


def subpackages() -> list[str]:
    """Every (sub)package under the top packages (folders with ``__init__.py``), found without importing them."""
    found = []
    for top in TOP_PACKAGES:
        root = importlib.import_module(top)
        for info in pkgutil.walk_packages(root.__path__, prefix=top + ".", onerror=lambda name: None):
            if info.ispkg:
                found.append(info.name)
    return sorted(found)


def kind(obj: Any) -> str:
    """``module``, ``class``, ``function`` or ``data``."""
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj) and (inspect.isfunction(obj) or inspect.isbuiltin(obj) or hasattr(obj, "__wrapped__")):
        return "function"
    return "data"


def data_doc(module_name: str, name: str) -> str | None:
    """The ``#:`` comment (or docstring after the assignment) of data ``name``, from the module
    or, for a re-exported name, the module of its package that assigns it."""
    from sphinx.pycode import ModuleAnalyzer

    top = module_name.split(".")[0]
    candidates = [module_name] + [m for m in _package_modules(top) if m != module_name]
    for mod in candidates:
        try:
            docs = ModuleAnalyzer.for_module(mod).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source is simply not a candidate
            continue
        lines = docs.get(("", name))
        if lines and "".join(lines).strip():
            return "\n".join(line for line in lines).strip()
    return None


def _package_modules(top: str) -> list[str]:
    root = importlib.import_module(top)
    return [top] + [info.name for info in pkgutil.walk_packages(root.__path__, prefix=top + ".",
                                                                 onerror=lambda name: None)]


def own_doc(obj: Any) -> str | None:
    """The object's own docstring (not a base class's, not a dataclass's generated signature)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if doc and doc.startswith(f"{obj.__name__}(") and hasattr(obj, "__dataclass_fields__"):
            return None
        return doc.strip() if doc else None
    doc = getattr(obj, "__doc__", None)
    return doc.strip() if doc else None


def undocumented(module_name: str) -> list[str]:
    """Public names of the module without a docstring or ``#:`` comment."""
    module = importlib.import_module(module_name)
    missing = []
    for name in public_names(module_name):
        obj = getattr(module, name)
        k = kind(obj)
        if k == "module":
            continue
        doc = data_doc(module_name, name) if k == "data" else own_doc(obj)
        if not doc:
            missing.append(f"{module_name}.{name}")
    return missing


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _first_sentence(text: str) -> str:
    para = " ".join(text.strip().split("\n\n")[0].split())
    end = para.find(". ")
    return para if end < 0 else para[:end + 1]


def home_modules() -> dict[int, str]:
    """``id(object)`` -> the API module that documents it in full: of the API modules that export
    it, the one whose name is the longest prefix of the module that defines it (else the first)."""
    exporters: dict[int, list[str]] = {}
    objects: dict[int, Any] = {}
    for module_name, _ in API_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(module, name)
            if kind(obj) in ("class", "function"):
                exporters.setdefault(id(obj), []).append(module_name)
                objects[id(obj)] = obj
    homes = {}
    for key, mods in exporters.items():
        defined = getattr(objects[key], "__module__", "") or ""
        prefixes = [m for m in mods if defined == m or defined.startswith(m + ".")]
        homes[key] = max(prefixes, key=len) if prefixes else mods[0]
    return homes


def _stub(module_name: str, name: str, obj: Any, home: str | None) -> str:
    k = kind(obj)
    head = _title(name) + f"\n.. currentmodule:: {module_name}\n\n"
    if k in ("class", "function") and home is not None and home != module_name:
        role = "class" if k == "class" else "func"
        return head + (f"``{module_name}.{name}`` is :{role}:`{home}.{name}`, documented there "
                       f"(:doc:`/api/{home}`).\n")
    if k == "class":
        bases = "   :show-inheritance:\n" if obj.__bases__ != (object,) else ""
        return head + f".. autoclass:: {name}\n   :members:\n{bases}"
    if k == "function":
        return head + f".. autofunction:: {name}\n"
    doc = data_doc(module_name, name) or ""
    body = "\n".join("   " + line if line else "" for line in doc.splitlines())
    return head + f".. py:data:: {name}\n   :type: {type(obj).__name__}\n\n{body}\n"


def generate(out_dir: str | Path) -> dict[str, Path]:
    """Write ``index.rst``, one page per module and one stub per public name into ``out_dir``
    (emptied first). Returns full name -> the file that documents it."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "generated").mkdir(parents=True)
    pages: dict[str, Path] = {}
    index = [_title("API reference"),
             "Every public name of ``ann``, ``snn`` and ``bridge``: the ``__all__`` of each module below. "
             "The wake side (``ann``) knows nothing of spikes, the sleep side (``snn``) nothing of training "
             "or torch; ``bridge`` is the only package that knows both (:doc:`/architecture`).\n",
             ".. list-table::\n   :widths: 30 70\n"]
    for module_name, summary in API_MODULES:
        index.append(f"   * - :doc:`{module_name}`\n     - {summary}")
    index.append("\n.. toctree::\n   :hidden:\n\n" + "\n".join(f"   {m}" for m, _ in API_MODULES) + "\n")
    (out / "index.rst").write_text("\n".join(index))
    module_names = {m for m, _ in API_MODULES}
    homes = home_modules()
    for module_name, summary in API_MODULES:
        module = importlib.import_module(module_name)
        lines = [_title(module_name), f".. automodule:: {module_name}\n   :no-members:\n",
                 f".. currentmodule:: {module_name}\n"]
        table, data_rows, submodules, stubs = [], [], [], []
        for name in public_names(module_name):
            obj = getattr(module, name)
            full = f"{module_name}.{name}"
            k = kind(obj)
            if k == "module":
                target = obj.__name__ if obj.__name__ in module_names else None
                submodules.append(f"* :doc:`{target}`" if target else f"* ``{obj.__name__}``")
                pages[full] = out / f"{target or module_name}.rst"
                continue
            if k == "data":
                first = _first_sentence(data_doc(module_name, name) or "")
                data_rows.append(f"   * - :py:data:`{name}`\n     - {first}")
            else:
                table.append(f"   {name}")
            stub = out / "generated" / f"{full}.rst"
            stub.write_text(_stub(module_name, name, obj, homes.get(id(obj))))
            stubs.append(f"   generated/{full}")
            pages[full] = stub
        if submodules:
            lines.append("Submodules\n----------\n\n" + "\n".join(submodules) + "\n")
        if table:
            lines.append("Classes and functions\n---------------------\n\n.. autosummary::\n   :nosignatures:\n\n"
                         + "\n".join(table) + "\n")
        if data_rows:
            lines.append("Constants\n---------\n\n.. list-table::\n   :widths: 30 70\n\n" + "\n".join(data_rows) + "\n")
        if stubs:
            lines.append(".. toctree::\n   :hidden:\n\n" + "\n".join(stubs) + "\n")
        page = out / f"{module_name}.rst"
        page.write_text("\n".join(lines))
        pages[module_name] = page
    return pages


def _on_builder_inited(app: Any) -> None:
    generate(Path(app.srcdir) / "api")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
