"""Squall's AWS CDK constructs (``pip install "squall[cdk]"``).

:class:`SquallService` is everything one app runs on, for a CDK app of your own; :class:`SquallStack` holds one
with the outputs producers need, and is what ``squall deploy`` (:mod:`squall.cdk.app`) deploys. :mod:`squall.cdk.nag`
holds the cdk-nag packs and Squall's reviewed acknowledgements. docs/deploy.md shows both ways.
"""

from squall.cdk.options import DeployOptions
from squall.cdk.service import SquallService
from squall.cdk.stack import SquallStack

__all__ = ["DeployOptions", "SquallService", "SquallStack"]
