"""Lambda entry point of the Squall REST API, as the repository names it.

Deployments run the same handler from the installed package, ``squall.functions.api.handler``; this file
keeps the repository's ``functions/`` layout importable (``functions.api.handler``).
"""

from __future__ import annotations

from squall.functions.api import handler as handler
