"""Celery's ``celery.utils`` as far as task code imports it: :mod:`squall.celery.utils.log`."""
