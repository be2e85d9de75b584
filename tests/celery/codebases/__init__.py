"""Three code bases written against Celery itself, in the style of public projects that use it.

* :mod:`.flask_progress`: a Flask app with a progress bar (miguelgrinberg/flask-celery-example);
* :mod:`.webhooks`: an e-commerce platform's webhook deliveries, retried with backoff (Saleor's transport);
* :mod:`.analytics`: an analytics product's Celery module, tasks per Django app and beat schedules (PostHog's).

Their imports are Celery's (``from celery import ...``). tests/celery/test_codebases.py runs each as it is under
Celery, and rewritten by ``squall migrate`` (its imports only) under Squall, and compares what the two do.
"""
