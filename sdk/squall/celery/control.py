"""``app.control``: Celery's remote control, as far as an app without worker processes has one (``revoke``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall.celery import result

if TYPE_CHECKING:
    from squall.celery.app import Celery


class Control:
    """``app.control``: ``revoke`` only (``inspect``, ``broadcast`` have no workers to ask)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def revoke(self, task_id: str | list[str], terminate: bool = False, **kwargs: Any) -> None:
        """Revoke each task (``terminate=True`` is refused: a running Lambda cannot be stopped)."""
        for one in [task_id] if isinstance(task_id, str) else task_id:
            result.AsyncResult(one, app=self.app).revoke(terminate=terminate)

    def inspect(self, *args: Any, **kwargs: Any) -> Any:
        """No worker processes to inspect: ``squall stats`` shows queues and failures."""
        raise NotImplementedError("app.control.inspect(): there are no worker processes to ask; use `squall stats`")
