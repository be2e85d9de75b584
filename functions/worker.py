"""Lambda entry point of the Squall worker, as the repository names it.

Deployments run the same handler from the installed package, ``squall.functions.worker.handler``; this file
keeps the repository's ``functions/`` layout importable (``functions.worker.handler``).
"""

from __future__ import annotations

from squall.functions.worker import handler as handler
