"""The CDK app ``cdk.json`` runs in this repository: :func:`squall.cdk.app.main`, on cdk.json's context
(the example shop). ``infra/cdkw`` runs the pinned CDK CLI on it:

infra/cdkw synth
infra/cdkw deploy -c squall:stage=dev
"""

from __future__ import annotations

from squall.cdk.app import main

if __name__ == "__main__":
    main()
