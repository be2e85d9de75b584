"""Security: JSON only on the wire, and nothing named by a message is ever imported or called.

The package is scanned as syntax (comments and strings cannot trip it); then the worker processes
messages that name dangerous callables while every import and every dangerous call is recorded.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from squall import Squall
from squall.local import Runtime
from squall.worker.deadletters import REASON_ATTRIBUTE

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [ROOT / "sdk" / "squall", ROOT / "functions"]
#: Modules that turn bytes into objects or code: never imported by the package.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}
#: Calls that run text as code or build arbitrary objects from it.
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRIBUTE_CALLS = {("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "load_all")}
#: The only places that import a module by name, and why each is safe: (file, enclosing function).
IMPORT_BY_NAME_ALLOWED = {
    ("squall/app.py", "load_app"): "the app named by SQUALL_APP, set by whoever deployed the stack",
    ("squall/cli/__init__.py", "main"): "the CLI's own command modules, a constant list",
    ("squall/cli/_appimport.py", "import_app_module"): "the module the operator names with --app on the command line",
    # squall.celery, as Celery: task modules and settings the app's own code names (include=, imports,
    # autodiscover_tasks, config_from_object), never a message's.
    ("squall/celery/app.py", "finalize"): "the task modules the app's code names (include=, the imports setting)",
    ("squall/celery/app.py", "_import_discovered"): "<package>.tasks of the packages the app's code names",
    ("squall/celery/conf.py", "_resolve"): "the settings module the app's code names (config_from_object)",
}


def python_files() -> Iterator[Path]:
    for root in SCANNED:
        yield from sorted(root.rglob("*.py"))


def findings(path: Path) -> list[str]:
    """Every unsafe import or call in ``path``, as 'file:line what'."""
    tree = ast.parse(path.read_text(), filename=str(path))
    relative = path.relative_to(ROOT / "sdk") if "sdk" in path.parts else path.relative_to(ROOT)
    found: list[str] = []
    functions = {
        child: node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.walk(node)
    }
    for node in ast.walk(tree):
        where = f"{relative}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{where} from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_CALLS:
                found.append(f"{where} {func.id}(...)")
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                pair = (func.value.id, func.attr)
                deserializes = func.attr in ("loads", "load") and func.value.id in UNSAFE_MODULES
                if pair in UNSAFE_ATTRIBUTE_CALLS or deserializes:
                    found.append(f"{where} {func.value.id}.{func.attr}(...)")
                if pair == ("importlib", "import_module") and (str(relative), functions.get(node)) not in (
                    IMPORT_BY_NAME_ALLOWED
                ):
                    found.append(f"{where} importlib.import_module(...) outside the allowed places")
    return found


def test_package_never_deserializes_code_or_evaluates_text() -> None:
    files = list(python_files())
    assert len(files) > 20  # the scan really looked at the package

    problems = [problem for path in files for problem in findings(path)]

    assert problems == []


def test_the_scan_catches_what_it_looks_for(tmp_path: Path) -> None:
    # Given code with every forbidden construct, in code (not in comments or strings)
    package = tmp_path / "sdk" / "squall"
    package.mkdir(parents=True)
    sample = package / "bad.py"
    sample.write_text(
        "import pickle\nfrom marshal import loads\nimport yaml\n# eval(comment)\ns = 'exec(string)'\n"
        "def f(x):\n    eval(x)\n    exec(x)\n    yaml.load(x)\n    pickle.loads(x)\n    __import__(x)\n"
        "    import importlib\n    importlib.import_module(x)\n"
    )

    # When scanned
    with mock.patch(f"{__name__}.ROOT", tmp_path):
        found = findings(sample)

    # Then each is found, and the comment, the string and the safe yaml import are not
    assert sorted(f.split(" ", 1)[1] for f in found) == sorted(
        [
            "import pickle",
            "from marshal import ...",
            "eval(...)",
            "exec(...)",
            "yaml.load(...)",
            "pickle.loads(...)",
            "__import__(...)",
            "importlib.import_module(...) outside the allowed places",
        ]
    )


def test_bandit_rules_pass_on_the_package() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "S", "--no-cache", "sdk", "functions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the worker, given hostile messages ---------------------------------------------------------------------

HOSTILE_NAMES = [
    "os.system",
    "builtins.eval",
    "builtins.exec",
    "subprocess.run",
    "subprocess.Popen",
    "importlib.import_module",
    "posix.system",
    "webbrowser.open",
    "this.s",
    "squall.app.Squall",
    "pickle.loads",
]
BENIGN_NAMES = [f"nothing.here{i}" for i in range(len(HOSTILE_NAMES))]


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(name="tasks.echo")
    def echo(*args: Any, **kwargs: Any) -> Any:
        return {"args": list(args), "kwargs": kwargs}

    return SimpleNamespace(echo=echo)


def batch(names: list[str], echo: str) -> list[str]:
    """Message bodies that name ``names`` as tasks, as argument values, and as value tags."""
    bodies = []
    for name in names:
        base = {"v": 1, "task": name, "args": [name, "rm -rf /"], "kwargs": {"cmd": name}, "queue": "default"}
        bodies.append(json.dumps({**base, "id": f"m-{uuid.uuid4().hex[:12]}"}))
        tagged = {"__squall__": name, "v": "id"}
        bodies.append(json.dumps({**base, "id": f"t-{uuid.uuid4().hex[:12]}", "task": echo, "args": [tagged]}))
        bodies.append(json.dumps({**base, "id": f"e-{uuid.uuid4().hex[:12]}", "task": echo}))
    return bodies


@contextmanager
def recording() -> Iterator[SimpleNamespace]:
    """Record every import and refuse every dangerous call while the block runs."""
    seen = SimpleNamespace(imports=set(), calls=[])
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def record_import(name: str, *args: Any, **kwargs: Any) -> Any:
        seen.imports.add(name)
        return real_import(name, *args, **kwargs)

    def record_import_module(name: str, package: str | None = None) -> Any:
        seen.imports.add(name)
        return real_import_module(name, package)

    def refuse(what: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen.calls.append((what, args))
            raise AssertionError(f"{what} was called with {args!r}")

        return call

    with (
        mock.patch("builtins.__import__", record_import),
        mock.patch("importlib.import_module", record_import_module),
        mock.patch("os.system", refuse("os.system")),
        mock.patch("subprocess.run", refuse("subprocess.run")),
        mock.patch("subprocess.Popen", refuse("subprocess.Popen")),
        mock.patch("builtins.eval", refuse("eval")),
        mock.patch("builtins.exec", refuse("exec")),
    ):
        yield seen


def process(rt: Runtime, bodies: list[str], send_raw: Callable[..., str]) -> None:
    for body in bodies:
        send_raw(body)
    rt.drain()


def test_worker_imports_and_calls_nothing_a_message_names(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str]
) -> None:
    # Given the worker warmed up, and what it imports for harmless messages of the same shapes
    loaded_before = set(sys.modules)
    process(rt, batch(BENIGN_NAMES, tasks.echo.name), send_raw)
    with recording() as benign:
        process(rt, batch(BENIGN_NAMES, tasks.echo.name), send_raw)

    # When it processes messages naming dangerous callables as tasks, values and value tags
    bodies = batch(HOSTILE_NAMES, tasks.echo.name)
    with recording() as hostile:
        process(rt, bodies, send_raw)

    # Then it imported nothing the harmless messages did not make it import, and called nothing dangerous
    assert hostile.calls == []
    assert hostile.imports - benign.imports == set()
    assert not {"webbrowser", "this", "pickle"} & (set(sys.modules) - loaded_before)

    # And each message naming a task that is not registered is DEAD, saying so; so is each unknown value tag
    reasons = [m.attributes[REASON_ATTRIBUTE] for m in rt.dead_letters()]
    for name in HOSTILE_NAMES:
        assert any(f"no task named {name!r}" in reason for reason in reasons), name
        assert any(f"unknown value tag {name!r}" in reason for reason in reasons), name

    # And the registered task received the names as the plain strings they are
    for body in bodies:
        doc = json.loads(body)
        if doc["id"].startswith("e-"):
            expected = {"args": doc["args"], "kwargs": doc["kwargs"]}
            assert rt.app.AsyncResult(doc["id"]).get(timeout=0) == expected


def test_the_recorder_would_see_a_worker_that_imports_what_a_message_names(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str]
) -> None:
    # Given a worker with the flaw this module guards against: it imports the module a task name names
    real_get_task = Squall.get_task

    def get_task(self: Squall, name: str) -> Any:
        module = name.rpartition(".")[0]
        if module:
            with suppress(ImportError):
                importlib.import_module(module)
        return real_get_task(self, name)

    process(rt, batch(BENIGN_NAMES, tasks.echo.name), send_raw)
    with mock.patch.object(Squall, "get_task", get_task):
        with recording() as benign:
            process(rt, batch(BENIGN_NAMES, tasks.echo.name), send_raw)

        # When it processes messages naming modules
        with recording() as hostile:
            process(rt, batch(["pickle.loads", "this.s"], tasks.echo.name), send_raw)

    # Then the recording shows the imports the messages caused. (A module that libraries import anyway while
    # processing, such as subprocess, cannot stand out this way: the refused calls cover those.)
    assert {"pickle", "this"} <= hostile.imports - benign.imports
