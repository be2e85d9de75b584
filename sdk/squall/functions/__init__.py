"""The Lambda entry points a deployment runs: ``squall.functions.worker.handler`` and
``squall.functions.reconciler.handler``. Importing one builds its handler from the environment the stack sets
(``SQUALL_APP``, ``SQUALL_CONFIG``); everything else lives in :mod:`squall.handler`.
"""
