"""Workflows of tasks: :func:`chain`, :func:`group`, :func:`chord`, and the callbacks ``link`` / ``link_error``.

A workflow is frozen before anything is sent: every task in it gets its id then, so the handle returned at once
names the results to come (``.parent`` walks a chain back), and a step sent twice (a crash between sending a
callback and acknowledging its parent) carries the same id and runs once. Frozen, a workflow is a tree of
*node documents*, JSON like a signature's:

* a signature: ``{"task": ..., "args": [...], "kwargs": {...}, "options": {"task_id": ...}, "immutable": true}``
* a chain: ``{"chain": [node, ...]}``; a group: ``{"group": [node, ...], "id": "<group id>"}``
* a chord: ``{"chord": <group node>, "body": node, "on_failure": "dead" | "run"}``

:func:`plan` turns a node into the messages to send now, each a signature and the envelope options that carry the
rest: ``chain`` (what runs after this task succeeds), ``chord`` (the group this task finishes a member of, and
the body to send when the last member is done), ``chord_body`` (this task is a chord's body: the worker prepends the
members' results), ``link`` and ``link_error`` (callbacks). The producer sends the first messages; the worker sends
each next step before it acknowledges the task that finished (:mod:`squall.worker.workflows`).

Group members are numbered: member ``i`` of group ``g`` finishes as task ``g.i``, so a group's results are read by
id alone (``app.GroupResult(g)``), in the header's order, with BatchGetItem.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from squall import limits
from squall.errors import EnqueueError, InvalidArguments
from squall.state.result import AsyncResult, GroupResult, group_id
from squall.tasks.signature import ON_FAILURE, Chain, Group, Node, Signature, document_problems, group
from squall.wire import codec
from squall.wire.options import declare_option

if TYPE_CHECKING:
    from squall.protocols import App

#: The envelope options that carry a workflow (declared at the end of this module).
WORKFLOW_OPTIONS = frozenset({"chain", "link", "link_error", "chord", "chord_body"})
#: The parent's result is prepended to a step's arguments unless it is immutable; a first step has none.
NOTHING: Any = object()


@dataclass(frozen=True, slots=True)
class MemberFailed:
    """What a chord body with ``on_failure="run"`` is given in place of a DEAD member's result."""

    task_id: str
    reason: str


# --- freezing: every id decided, every call checked, before anything is sent --------------------------------


@dataclass
class _Freezer:
    app: App
    count: int = 0

    def freeze(self, node: Node, *, receives: bool, terminal: str | None, where: str) -> tuple[dict[str, Any], Any]:
        """The node's document with every id set, and its handle; ``receives``: a parent result comes first."""
        self.count += 1
        if self.count > limits.MAX_WORKFLOW_TASKS:
            raise InvalidArguments(f"the workflow has over {limits.MAX_WORKFLOW_TASKS:,} tasks: split it")
        if isinstance(node, Signature):
            return self._signature(node, receives=receives, terminal=terminal, where=where)
        if isinstance(node, Chain):
            return self._chain(node, receives=receives, terminal=terminal, where=where)
        if isinstance(node, Group):
            if terminal is not None:
                raise InvalidArguments(f"{where}: a group cannot end a group member or a chord; make it a chord")
            doc, handle = self._group(node, receives=receives, where=where)
            return doc, handle
        body = node.body
        if body is None:
            raise InvalidArguments(f"{where}: chord has no body")
        if _takes_result(body):
            for index, member in enumerate(group(node.header.members).members):
                _check_passes_result(member, f"{where} header member {index}")
        header, group_handle = self._group(node.header, receives=receives, where=f"{where} header")
        body_doc, body_handle = self.freeze(body, receives=True, terminal=terminal, where=f"{where} body")
        if isinstance(body_handle, AsyncResult):
            body_handle.parent = group_handle
        return {"chord": header, "body": body_doc, "on_failure": node.on_failure}, body_handle

    def _signature(
        self, sig: Signature[Any], *, receives: bool, terminal: str | None, where: str
    ) -> tuple[dict[str, Any], Any]:
        task = sig.task  # TaskNotRegistered names an unknown task
        args = (NOTHING, *sig.args) if receives and not sig.immutable else sig.args
        try:
            task.bind_arguments(tuple(None if a is NOTHING else a for a in args), sig.kwargs)
        except InvalidArguments as exc:
            takes = (
                ' (it is given its parent\'s result first; make it immutable: .si(...), or "immutable": true in JSON)'
                if args is not sig.args
                else ""
            )
            raise InvalidArguments(f"{where} ({task.name}): {exc}{takes}") from None
        given = sig.options.get("task_id")
        if terminal is not None and given is not None and given != terminal:
            raise InvalidArguments(
                f"{where}: task_id {given!r} is set, but a group member's id is its group's: drop it"
            )
        task_id = terminal or given or str(uuid.uuid4())
        doc = replace(sig, options={**sig.options, "task_id": task_id}).to_dict()
        for kind in ("link", "link_error"):
            callbacks = [
                self._signature(c, receives=True, terminal=None, where=f"{where} {kind}")[0]
                for c in (sig.callbacks if kind == "link" else sig.errbacks)
            ]
            if callbacks:
                doc[kind] = callbacks
        return doc, AsyncResult(task_id, app=self.app)

    def _chain(self, node: Chain, *, receives: bool, terminal: str | None, where: str) -> tuple[dict[str, Any], Any]:
        if not node.links:
            raise InvalidArguments(f"{where}: the chain has no steps")
        docs, previous = [], None
        last = len(node.links) - 1
        for index, link in enumerate(node.links):
            if index < last and _takes_result(node.links[index + 1]):
                _check_passes_result(link, f"{where} step {index + 1}")
            doc, handle = self.freeze(
                link,
                receives=receives or index > 0,
                terminal=terminal if index == last else None,
                where=f"{where} step {index + 1}",
            )
            if previous is not None and isinstance(handle, AsyncResult) and handle.parent is None:
                handle.parent = previous
            docs.append(doc)
            previous = handle
        return {"chain": docs}, previous

    def _group(self, node: Group, *, receives: bool, where: str) -> tuple[dict[str, Any], GroupResult]:
        members = group(node.members).members if node.members else ()
        if not members:
            raise InvalidArguments(f"{where}: the group has no members")
        if len(members) > limits.MAX_GROUP_MEMBERS:
            raise InvalidArguments(
                f"{where}: {len(members):,} members, over the {limits.MAX_GROUP_MEMBERS:,} a group may have: split it"
            )
        gid = node.id or group_id(len(members), uuid.uuid4().hex)
        docs, handles = [], []
        for index, member in enumerate(members):
            doc, handle = self.freeze(
                member, receives=receives, terminal=f"{gid}.{index}", where=f"{where} member {index}"
            )
            docs.append(doc)
            handles.append(handle)
        return {"group": docs, "id": gid}, GroupResult(gid, app=self.app, size=len(members), results=handles)


def _takes_result(node: Node) -> bool:
    """Whether a step is given the result of the one before it (all but an immutable signature are)."""
    return not (isinstance(node, Signature) and node.immutable)


def _check_passes_result(node: Node, where: str) -> None:
    """Refuse a step whose result is passed on although its task keeps none (``ignore_result=True``): a redelivery
    would pass None, and a chord body reads results from the records."""
    last = node.links[-1] if isinstance(node, Chain) and node.links else node
    if isinstance(last, Signature) and last.task.options.ignore_result:
        raise InvalidArguments(
            f"{where} ({last.name}) has ignore_result=True, but its result is passed on: store its result, or make "
            "the step after it immutable (.si(...))"
        )


def freeze(app: App, node: Node) -> tuple[dict[str, Any], AsyncResult[Any] | GroupResult]:
    """The node's document with every id decided and every call checked (InvalidArguments names the step)."""
    doc, handle = _Freezer(app).freeze(node, receives=False, terminal=None, where="workflow")
    return doc, handle


# --- planning: what to send now, and what each message carries on -----------------------------------------


@dataclass(frozen=True, slots=True)
class Launch:
    """One message to send: the call (its id frozen, the parent's result prepended) and its envelope options."""

    signature: Signature[Any]
    options: Mapping[str, Any]


def plan(
    app: App,
    doc: Mapping[str, Any],
    *,
    parent: Any = NOTHING,
    rest: Sequence[Mapping[str, Any]] = (),
    member: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[Launch]:
    """The messages that start node ``doc``: ``rest`` runs after it, ``member`` is the group it finishes a member of."""
    if "chain" in doc:
        first, *after = doc["chain"]
        return plan(app, first, parent=parent, rest=[*after, *rest], member=member, extra=extra)
    if "group" in doc:
        if rest:  # a group followed by more steps is a chord whose body is the next step
            chord_doc = {"chord": doc, "body": rest[0], "on_failure": "dead"}
            return plan(app, chord_doc, parent=parent, rest=rest[1:], member=member, extra=extra)
        return [launch for member_doc in doc["group"] for launch in plan(app, member_doc, parent=parent, extra=extra)]
    if "chord" in doc:
        header = doc["chord"]
        size = len(header["group"])
        then = {"node": doc["body"], "rest": list(rest), "member": member}
        return [
            launch
            for index, member_doc in enumerate(header["group"])
            for launch in plan(
                app,
                member_doc,
                parent=parent,
                member={
                    "group": header["id"],
                    "index": index,
                    "size": size,
                    "on_failure": doc["on_failure"],
                    "then": then,
                },
                extra=extra,
            )
        ]
    signature = Signature.from_dict(
        app, {k: v for k, v in doc.items() if k in ("task", "args", "kwargs", "options", "immutable")}
    )
    if parent is not NOTHING and not signature.immutable:
        signature = replace(signature, args=(parent, *signature.args))
    options: dict[str, Any] = dict(extra or {})
    if "chord_body" in options:  # the worker prepends the members' results, unless the body is immutable
        options["chord_body"] = {**options["chord_body"], "prepend": not signature.immutable}
    if rest:
        options["chain"] = list(rest)
    if member is not None:
        options["chord"] = dict(member)
    for kind in ("link", "link_error"):
        if doc.get(kind):
            options[kind] = list(doc[kind])
    return [Launch(signature, options)]


def plan_body(app: App, member: Mapping[str, Any]) -> list[Launch]:
    """The messages that start a chord's body once every member of ``member``'s group has finished."""
    then = member["then"]
    body = {"group": member["group"], "size": member["size"], "on_failure": member["on_failure"]}
    return plan(app, then["node"], rest=then["rest"], member=then["member"], extra={"chord_body": body})


def send(app: App, node: Node, **options: Any) -> AsyncResult[Any] | GroupResult:
    """Freeze ``node`` and send its first messages (``countdown``/``eta``/``queue`` apply to each of them)."""
    if isinstance(node, Signature) and not (node.callbacks or node.errbacks):
        return app.send(node, **options)
    if options.get("task_id") is not None:
        raise InvalidArguments(
            "a workflow's task ids are decided when it is sent, one per step: give a step its own with "
            ".set(task_id=...), not the whole workflow"
        )
    doc, handle = freeze(app, node)
    launches = plan(app, doc)
    try:
        app.send_launches(launches, **options)
    except EnqueueError as exc:
        raise WorkflowPartlySent(app, launches, options, handle, exc) from exc
    return handle


class WorkflowPartlySent(EnqueueError):
    """Some of a workflow's first messages were not sent (``failed``; ``sent`` went). Its tasks' ids are frozen:
    :meth:`send_rest` sends the others again, and any sent twice runs once. ``handle`` is the workflow's."""

    def __init__(
        self,
        app: App,
        launches: Sequence[Launch],
        options: Mapping[str, Any],
        handle: AsyncResult[Any] | GroupResult,
        cause: EnqueueError,
    ) -> None:
        super().__init__(cause.failed, cause.sent)
        self.handle = handle
        self._app, self._options = app, dict(options)
        self._launches = [launch for launch in launches if launch.signature.options.get("task_id") in self.failed]

    def send_rest(self) -> AsyncResult[Any] | GroupResult:
        """Send the messages that did not go (EnqueueError again if some still do not); return the handle."""
        self._app.send_launches(self._launches, **self._options)
        return self.handle


# --- the envelope options that carry a workflow -----------------------------------------------------------


def node_problem(doc: object, depth: int = 0) -> str | None:
    """What is wrong with a node document (None: usable)."""
    if depth > codec.MAX_DEPTH:
        return "is nested too deeply"
    if not isinstance(doc, dict):
        return f"a workflow step is an object, got {type(doc).__name__}"
    if "chain" in doc or "group" in doc:
        steps = doc.get("chain", doc.get("group"))
        if not isinstance(steps, list) or not steps:
            return "a chain or group lists one step or more"
        if "group" in doc and not isinstance(doc.get("id"), str):
            return "a group has an id"
        return next((p for step in steps if (p := node_problem(step, depth + 1)) is not None), None)
    if "chord" in doc:
        if doc.get("on_failure") not in ON_FAILURE:
            return f"a chord's on_failure is one of {', '.join(ON_FAILURE)}"
        return node_problem(doc["chord"], depth + 1) or node_problem(doc.get("body"), depth + 1)
    signature = {k: v for k, v in doc.items() if k not in ("link", "link_error")}
    problems = document_problems(signature)
    options = signature.get("options")
    if not problems and not (isinstance(options, dict) and isinstance(options.get("task_id"), str)):
        problems.append("a step carried in a message has its task id (options.task_id): it is frozen when sent")
    for kind in ("link", "link_error"):
        if kind in doc:
            problems += [p for c in _as_list(doc[kind]) if (p := node_problem(c, depth + 1)) is not None]
    return "; ".join(problems) or None


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _nodes_problem(value: object) -> str | None:
    if not isinstance(value, list):
        return f"must be a list of workflow steps, got {type(value).__name__}"
    return next((f"step {i}: {p}" for i, doc in enumerate(value) if (p := node_problem(doc)) is not None), None)


def _member_problem(value: object) -> str | None:
    keys = {"group", "index", "size", "on_failure", "then"}
    if not isinstance(value, dict) or set(value) != keys:
        return f"must be an object with {', '.join(sorted(keys))}"
    if not (codec.is_int(value["index"]) and codec.is_int(value["size"]) and 0 <= value["index"] < value["size"]):
        return "must give an index below its size"
    if value["on_failure"] not in ON_FAILURE:
        return f"on_failure must be one of {', '.join(ON_FAILURE)}"
    if not isinstance(value["group"], str):
        return "must name its group by id"
    then = value["then"]
    if not isinstance(then, dict) or set(then) != {"node", "rest", "member"}:
        return "'then' must be an object with node, rest and member"
    problem = node_problem(then["node"]) or _nodes_problem(then["rest"]) if then["rest"] else node_problem(then["node"])
    if problem is None and then["member"] is not None:
        problem = _member_problem(then["member"])
    return None if problem is None else f"'then' {problem}"


def _body_problem(value: object) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("group"), str) or not codec.is_int(value.get("size")):
        return "must be an object with a group id and its size"
    return None


declare_option("chain", _nodes_problem, required=True)
declare_option("link", _nodes_problem, required=True)
declare_option("link_error", _nodes_problem, required=True)
declare_option("chord", _member_problem, required=True)
declare_option("chord_body", _body_problem, required=True)
