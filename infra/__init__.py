"""Squall's AWS CDK app and constructs.

``cdk deploy`` (cdk.json runs :mod:`infra.app`) deploys :class:`SquallStack`; your own CDK app can
embed :class:`SquallService` instead (docs/deploy.md shows both).
"""

from infra.options import DeployOptions
from infra.stack import SquallService, SquallStack

__all__ = ["DeployOptions", "SquallService", "SquallStack"]
