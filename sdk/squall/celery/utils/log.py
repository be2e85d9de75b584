"""Celery's ``get_task_logger``: a logger under ``celery.task``, so that Celery's logging configuration applies.

On Lambda, the worker's Powertools logger writes JSON to CloudWatch; records of these loggers reach it through the
root logger like any other.
"""

from __future__ import annotations

import logging

#: The parent of every task logger (Celery's name).
TASK_LOGGER = "celery.task"


def get_task_logger(name: str) -> logging.Logger:
    """A logger for task module ``name`` (``get_task_logger(__name__)``), a child of ``celery.task``."""
    if name in (TASK_LOGGER, "celery"):
        raise ValueError(f"get_task_logger({name!r}): that name is reserved; pass the module's __name__")
    logger = logging.getLogger(name)
    logger.parent = logging.getLogger(TASK_LOGGER)
    return logger


def get_logger(name: str) -> logging.Logger:
    """A plain logger (Celery's ``celery.utils.log.get_logger``)."""
    return logging.getLogger(name)


__all__ = ["get_logger", "get_task_logger"]
