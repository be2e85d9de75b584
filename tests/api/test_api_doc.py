"""docs/api.md: a curl example for every operation of the OpenAPI document, and the dev server's real port."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.api.api_client import operation_for

from squall import limits
from squall.api import openapi

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
_BASH = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def curl_calls(text: str) -> set[tuple[str, str]]:
    """(method, path) of every curl call to ``$API`` in the doc's bash blocks."""
    calls = set()
    for block in _BASH.findall(text):
        words = shlex.split(block, comments=True)
        starts = [i for i, word in enumerate(words) if word == "curl"]
        for start, end in zip(starts, [*starts[1:], len(words)], strict=False):
            command = words[start:end]
            urls = [w for w in command if w.startswith("$API/")]
            if not urls:
                continue
            method = command[command.index("-X") + 1] if "-X" in command else ("POST" if "-d" in command else "GET")
            calls.add((method, "/v1/" + urls[0].removeprefix("$API/")))
    return calls


def test_every_documented_operation_has_a_curl_example() -> None:
    operations = {(method.upper(), path) for path, item in openapi.document()["paths"].items() for method in item}
    covered = set()
    for method, path in curl_calls(DOC.read_text()):
        for template, item in openapi.document()["paths"].items():
            if operation_for(method, path) is not None and operation_for(method, path) == item.get(method.lower()):
                covered.add((method, template))

    assert operations - covered == set()


def test_the_doc_shows_the_api_where_squall_dev_serves_it_by_default() -> None:
    text = DOC.read_text()

    assert f"api: http://127.0.0.1:{limits.DEV_PORT + 1}/v1" in text
    assert f"API=http://127.0.0.1:{limits.DEV_PORT + 1}/v1" in text
