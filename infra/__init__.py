"""The repository's CDK app (``cdk.json`` runs :mod:`infra.app`); the constructs are :mod:`squall.cdk`."""
