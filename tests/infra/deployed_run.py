"""Send one task to a deployed stack and run it through the worker of the code bundle Lambda would run.

tests/infra/test_wheel_deploy.py runs this file in a fresh interpreter (``python -S -P``) whose path is the
bundle first, then this directory and the test venv's site-packages (boto3 and Powertools, which Lambda's runtime
and layer provide), in the deployed worker's environment, with ``AWS_ENDPOINT_URL`` naming the moto server the
stack was deployed into:

    python -S -P deployed_run.py OUT.json HANDLER TASK

It writes what happened, and where each module it imported came from, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bundle_run import context, entry_point, receive, record

from squall import config
from squall.app import load_app


def main(out: Path, handler: str, task: str) -> None:
    """Send ``task`` with the app's producer, hand its message to the worker as Lambda's poller would."""
    app = load_app(os.environ[config.ENV_APP])
    worker = entry_point(handler)
    task_id = app.get_task(task).delay().id
    queue = app.settings.queue(app.default_queue)
    (sent,) = receive(queue.url)
    delivered = record(sent["MessageId"], sent["Body"], queue.arn, sent["Attributes"])
    response = worker({"Records": [delivered]}, context("worker"))
    stored = app.store.get(task_id)
    report = {
        "worker": response,
        "state": None if stored is None else str(stored.state),
        "result": None if stored is None else stored.result_json,
        "modules": {
            name: getattr(module, "__file__", None)
            for name, module in sorted(sys.modules.items())
            if name.partition(".")[0] in {"squall", "tinydep", "tinyarm"}
        },
    }
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
