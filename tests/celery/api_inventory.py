"""Which Celery APIs the three code bases under tests/celery/codebases use, found in their source.

``python -m tests.celery.api_inventory`` prints each API with the code bases that use it and the mark the coverage
table of docs/coming-from-celery.md gives it (✔ same, ≈ differs, ✘ refused). The inventory is read statically:

- every name imported from ``celery`` (``from celery.signals import task_retry`` is ``celery.signals.task_retry``);
- every keyword given to a task decorator (``@app.task(bind=True)``), to ``apply_async``, ``retry``,
  ``update_state``, ``Celery(...)``, ``add_periodic_task`` and ``autodiscover_tasks``;
- every attribute read or method called whose name is public on Celery's app, task, request, result or signature
  classes, except names that builtin containers also have (``dict.get``) and names the code bases define
  themselves (their models' ``id``): such uses cannot be told apart from the code's own, so they are left out;
- every setting the code bases give: ``CELERY_``-prefixed module constants (Django's namespace, the Flask config)
  and keys of ``conf.update`` / ``app.conf.<name> =``, read as Celery's lower-case names and kept when Celery
  knows them; and the keys of each ``beat_schedule`` entry and its ``options``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import celery
import celery.app.defaults
import celery.app.task
import celery.canvas
import celery.result

ROOT = Path(__file__).parent / "codebases"
DOC = Path(__file__).parents[2] / "docs" / "coming-from-celery.md"
CODEBASES = ("flask_progress", "webhooks", "analytics")

#: Calls whose keywords are Celery options.
_KEYWORD_CALLS = {"task", "shared_task", "apply_async", "retry", "update_state", "Celery", "add_periodic_task",
                  "autodiscover_tasks", "config_from_object", "signature"}  # fmt: skip
_CLASSES = (
    celery.Celery,
    celery.app.task.Task,
    celery.app.task.Context,
    celery.result.AsyncResult,
    celery.result.GroupResult,
    celery.canvas.Signature,
)
_BUILTIN_NAMES = {name for kind in (dict, list, str, set, tuple) for name in dir(kind)}


def celery_attributes() -> set[str]:
    """Public attribute names of Celery's app, task, request, result and signature classes."""
    names = {name for kind in _CLASSES for name in dir(kind) if not name.startswith("_")}
    return names - _BUILTIN_NAMES


def celery_settings() -> set[str]:
    """Every setting name Celery knows (lower case)."""
    return {key for key, _ in celery.app.defaults.flatten(celery.app.defaults.NAMESPACES)}


def _own_names(trees: list[ast.Module]) -> set[str]:
    """Names the code bases define: functions, classes, their attributes and fields, assigned attributes."""
    own: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
    return own


def _setting(name: str, known: set[str]) -> str | None:
    lowered = name.removeprefix("CELERY_").lower()
    return lowered if lowered in known else None


def inventory() -> dict[str, set[str]]:
    """Each Celery API the code bases use (see the module docstring), with the code bases using it."""
    found: dict[str, set[str]] = defaultdict(set)
    trees = {base: [ast.parse(path.read_text()) for path in sorted((ROOT / base).rglob("*.py"))] for base in CODEBASES}
    own = _own_names([tree for group in trees.values() for tree in group])
    attributes, settings = celery_attributes() - own, celery_settings()
    for base, group in trees.items():
        for tree in group:
            for node in ast.walk(tree):
                for api in _uses(node, attributes, settings):
                    found[api].add(base)
    return dict(found)


def _uses(node: ast.AST, attributes: set[str], settings: set[str]) -> list[str]:
    uses: list[str] = []
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "celery":
        uses += [f"{node.module}.{alias.name}" for alias in node.names]
    elif isinstance(node, ast.Call):
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if called in _KEYWORD_CALLS:
            uses += [f"{called}({keyword.arg}=)" for keyword in node.keywords if keyword.arg]
        if called == "update" and isinstance(node.func, ast.Attribute) and _is_conf(node.func.value):
            uses += [f"setting {s}" for arg in node.args for s in _dict_settings(arg, settings)]
    elif isinstance(node, ast.Attribute) and node.attr in attributes:
        uses.append(f".{node.attr}")
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            name = target.id if isinstance(target, ast.Name) else None
            if isinstance(target, ast.Attribute) and _is_conf(target.value):
                name = target.attr
            elif isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                name = str(target.slice.value)  # app.config["CELERY_BROKER_URL"] = ... (Flask's config)
            setting = (
                _setting(name, settings) if name and (name.startswith("CELERY_") or _is_conf_target(target)) else None
            )
            if setting is not None:
                uses.append(f"setting {setting}")
                if setting == "beat_schedule" and isinstance(node.value, ast.Dict):
                    uses += _entry_keys(node.value)
    return uses


def _is_conf(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "conf"


def _is_conf_target(target: ast.AST) -> bool:
    return isinstance(target, ast.Attribute) and _is_conf(target.value)


def _dict_settings(node: ast.AST, settings: set[str]) -> list[str]:
    if not isinstance(node, ast.Dict):
        return []
    keys = [key.value for key in node.keys if isinstance(key, ast.Constant) and isinstance(key.value, str)]
    return [s for s in (_setting(key, settings) for key in keys) if s is not None]


def _entry_keys(schedule: ast.Dict) -> list[str]:
    keys: list[str] = []
    for entry in schedule.values:
        if not isinstance(entry, ast.Dict):
            continue
        for key, value in zip(entry.keys, entry.values, strict=True):
            if isinstance(key, ast.Constant):
                keys.append(f"beat entry {key.value}")
                if key.value == "options" and isinstance(value, ast.Dict):
                    keys += [f"beat entry options.{k.value}" for k in value.keys if isinstance(k, ast.Constant)]
    return keys


def coverage_marks() -> dict[str, str]:
    """Each backticked name in the coverage table of docs/coming-from-celery.md, with its row's mark."""
    text = DOC.read_text()
    table = text[text.index("### Coverage") :]
    marks: dict[str, str] = {}
    for line in table.splitlines():
        cells = line.split(" | ")
        if len(cells) < 3 or cells[1].strip() not in {"✔", "≈", "✘"}:
            continue
        for token in re.findall(r"`([^`]+)`", cells[0]):
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", token):
                for part in {name, name.rsplit(".", 1)[-1]}:  # ``self.retry`` names ``retry`` too
                    marks.setdefault(part, cells[1].strip())
    return marks


def mark_of(api: str, marks: dict[str, str]) -> str | None:
    """The mark of the coverage row naming ``api`` (by its last name), or None if no row names it."""
    name = re.sub(r"^(setting |beat entry (options\.)?|\.)", "", api)
    name = re.sub(r"^\w+\((\w+)=\)$", r"\1", name)
    for candidate in (name, name.rsplit(".", 1)[-1]):
        if candidate in marks:
            return marks[candidate]
    return None


def main() -> int:
    found, marks = inventory(), coverage_marks()
    counts: dict[str | None, int] = defaultdict(int)
    for api in sorted(found):
        mark = mark_of(api, marks)
        counts[mark] += 1
        print(f"{mark or '?':2} {api:48} {', '.join(sorted(found[api]))}")
    total = len(found)
    print(
        f"\n{total} distinct APIs: "
        + ", ".join(f"{counts[m]} {m or 'not in the table'}" for m in ("✔", "≈", "✘", None))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
