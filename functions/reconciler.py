"""Lambda entry point of the Squall reconciler, as the repository names it.

Deployments run the same handler from the installed package, ``squall.functions.reconciler.handler``.
"""

from __future__ import annotations

from squall.functions.reconciler import handler as handler
