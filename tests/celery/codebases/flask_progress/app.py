"""Flask + Celery with a progress bar, as in miguelgrinberg/flask-celery-example.

``POST /longtask`` starts :func:`long_task` and answers 202 with the status URL in ``Location``; the page's
JavaScript then polls ``GET /status/<task_id>`` every two seconds and draws the bar from ``current``/``total``.
"""

from __future__ import annotations

import random
import time
from typing import Any

from celery import Celery
from flask import Flask, jsonify, url_for
from flask.typing import ResponseReturnValue

app = Flask(__name__)
app.config["SECRET_KEY"] = "top-secret!"

# Celery configuration, in Flask's config as the example keeps it.
app.config["CELERY_BROKER_URL"] = "redis://localhost:6379/0"
app.config["CELERY_RESULT_BACKEND"] = "redis://localhost:6379/0"

# Initialize Celery
celery = Celery(app.name, broker=app.config["CELERY_BROKER_URL"])
celery.conf.update(app.config)

VERBS = ["Starting up", "Booting", "Repairing", "Loading", "Checking"]
ADJECTIVES = ["master", "radiant", "silent", "harmonic", "fast"]
NOUNS = ["solar array", "particle reshaper", "cosmic ray", "orbiter", "bit"]


@celery.task(bind=True)
def long_task(self: Any) -> dict[str, Any]:
    """Background task that runs a long function with progress reports."""
    message = ""
    total = random.randint(10, 50)
    for i in range(total):
        if not message or random.random() < 0.25:
            message = f"{random.choice(VERBS)} {random.choice(ADJECTIVES)} {random.choice(NOUNS)}..."
        self.update_state(state="PROGRESS", meta={"current": i, "total": total, "status": message})
        time.sleep(1)
    return {"current": 100, "total": 100, "status": "Task completed!", "result": 42}


@app.route("/longtask", methods=["POST"])
def longtask() -> ResponseReturnValue:
    """Start the task; the page polls the URL in ``Location``."""
    task = long_task.apply_async()
    return jsonify({}), 202, {"Location": url_for("taskstatus", task_id=task.id)}


@app.route("/status/<task_id>")
def taskstatus(task_id: str) -> ResponseReturnValue:
    """The task's state and progress, as the page's progress bar reads them."""
    task = long_task.AsyncResult(task_id)
    if task.state == "PENDING":
        # job did not start yet
        response = {"state": task.state, "current": 0, "total": 1, "status": "Pending..."}
    elif task.state != "FAILURE":
        response = {
            "state": task.state,
            "current": task.info.get("current", 0),
            "total": task.info.get("total", 1),
            "status": task.info.get("status", ""),
        }
        if "result" in task.info:
            response["result"] = task.info["result"]
    else:
        # something went wrong in the background job
        response = {
            "state": task.state,
            "current": 1,
            "total": 1,
            "status": str(task.info),  # this is the exception raised
        }
    return jsonify(response)
