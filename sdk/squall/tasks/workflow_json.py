"""Workflows written as JSON (``squall send --workflow``, the REST API): node documents to nodes, ids optional.

The documents are :mod:`squall.tasks.canvas`'s: a signature (``{"task": ..., "args": [...]}``, with ``"immutable":
true``, ``"link"`` and ``"link_error"`` lists), ``{"chain": [...]}``, ``{"group": [...]}`` and
``{"chord": {"group": [...]}, "body": ..., "on_failure": "dead"}``. Task names are looked up in the app's registry
only; nothing is imported by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from squall.errors import DecodeError, InvalidArguments
from squall.tasks.signature import ON_FAILURE, Chain, Chord, Group, Node, Signature
from squall.wire import codec

if TYPE_CHECKING:
    from squall.protocols import App


def node_from_doc(app: App, doc: object) -> Node:
    """The workflow a node document describes (``squall send`` reads one as JSON); ids may be left out.

    InvalidArguments names what is wrong, and where (``chain step 2: ...``).
    """
    return _node(app, doc, "workflow", 0)


def _node(app: App, doc: object, where: str, depth: int) -> Node:
    if depth > codec.MAX_DEPTH:
        raise InvalidArguments(f"{where}: nested too deeply (over {codec.MAX_DEPTH} levels)")
    if not isinstance(doc, dict):
        raise InvalidArguments(f"{where}: a workflow step is an object, got {type(doc).__name__}")
    for kind in ("chain", "group"):
        if kind in doc:
            steps = doc[kind]
            if not isinstance(steps, list) or not steps:
                raise InvalidArguments(f"{where}: {kind!r} must list one step or more")
            nodes = tuple(_node(app, step, f"{where} {kind} step {i + 1}", depth + 1) for i, step in enumerate(steps))
            return Chain(nodes) if kind == "chain" else Group(nodes)
    if "chord" in doc:
        header = _node(app, doc["chord"], f"{where} chord header", depth + 1)
        if not isinstance(header, Group):
            raise InvalidArguments(f'{where}: a chord\'s header is a group, {{"group": [...]}}')
        body = _node(app, doc.get("body"), f"{where} chord body", depth + 1)
        on_failure = doc.get("on_failure", "dead")
        if on_failure not in ON_FAILURE:
            raise InvalidArguments(f"{where}: a chord's on_failure is one of {', '.join(ON_FAILURE)}")
        return Chord(header, body, on_failure)
    callbacks = {kind: doc.get(kind, []) for kind in ("link", "link_error")}
    signature = {k: v for k, v in doc.items() if k not in callbacks}
    try:
        plain = Signature.from_dict(app, signature)
    except DecodeError as exc:
        raise InvalidArguments(f"{where}: {exc.reason}") from None
    linked = {
        kind: tuple(_signature_node(app, c, f"{where} {kind} {i + 1}", depth) for i, c in enumerate(_as_list(docs)))
        for kind, docs in callbacks.items()
    }
    return replace(plain, callbacks=linked["link"], errbacks=linked["link_error"])


def _signature_node(app: App, doc: object, where: str, depth: int) -> Signature[Any]:
    node = _node(app, doc, where, depth + 1)
    if not isinstance(node, Signature):
        raise InvalidArguments(f"{where}: a callback is one task call, not a chain, group or chord")
    return node


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]
