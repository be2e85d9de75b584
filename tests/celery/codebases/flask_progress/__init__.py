"""A Flask app whose long task reports its progress, polled by the page (flask-celery-example's ``app.py``)."""
