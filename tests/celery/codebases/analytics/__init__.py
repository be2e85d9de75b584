"""An analytics product's Celery setup (in the style of PostHog's ``posthog/celery.py`` and ``posthog/tasks``).

``settings`` stands in for the Django settings module (``CELERY_``-prefixed names); each sub-package is a
"Django app" whose ``tasks`` module declares ``shared_task`` tasks, found by ``autodiscover_tasks``.
"""
