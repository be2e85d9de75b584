"""``squall:tracing``: X-Ray active tracing by default; off, no tracing mode, no X-Ray grant, and the environment
tells Powertools so the worker builds no Tracer. A bundle without bytecode is announced at synth."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_support import Synth, synthesize

from squall.cdk import bytecode, packaging
from squall.cdk.environment import RESERVED_ENVIRONMENT
from squall.deploy.context import TRACING

XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.fixture(scope="module")
def untraced(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-untraced"), {TRACING: "false"})


def functions(synth: Synth) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in synth.resources("AWS::Lambda::Function").items()}


def policy_actions(synth: Synth) -> set[str]:
    found: set[str] = set()
    for policy in synth.resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            found.update([actions] if isinstance(actions, str) else actions)
    return found


def test_by_default_every_function_traces_and_the_environment_leaves_powertools_tracing_on(shop: Synth) -> None:
    props = functions(shop)

    assert props
    assert all(p["TracingConfig"] == {"Mode": "Active"} for p in props.values())
    assert all("POWERTOOLS_TRACE_DISABLED" not in p["Environment"]["Variables"] for p in props.values())
    assert policy_actions(shop) >= XRAY_ACTIONS


def test_tracing_off_sets_no_tracing_mode_grants_no_xray_and_turns_powertools_tracing_off(untraced: Synth) -> None:
    props = functions(untraced)

    assert props
    assert all("TracingConfig" not in p for p in props.values())
    assert all(p["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == "true" for p in props.values())
    assert not XRAY_ACTIONS & policy_actions(untraced)


def test_the_trace_switch_cannot_be_set_apart_from_squall_tracing() -> None:
    assert "POWERTOOLS_TRACE_DISABLED" in RESERVED_ENVIRONMENT


def test_a_bundle_shipped_as_source_is_announced_at_synth_and_one_with_bytecode_is_not(shop: Synth) -> None:
    # Whether this machine has a Python of the functions' version to compile with decides which it is.
    source_only = bytecode.interpreter(packaging.PYTHON_VERSION) is None

    found = Annotations.from_stack(shop.stack).find_info("*", Match.string_like_regexp("squall:bytecode"))

    assert bool(found) is source_only
