"""The CDK context keys a Squall deployment reads (``-c squall:app=tasks:app``, or ``cdk.json``'s ``context``).

Named here, below both the constructs (:mod:`squall.cdk.options` parses them) and the CLI (``squall synth`` passes
them), so that neither imports the other and the CLI never imports aws_cdk. docs/deploy.md describes each.
"""

from __future__ import annotations

APP = "squall:app"
CODE = "squall:code"
REQUIREMENTS = "squall:requirements"
STAGE = "squall:stage"
TIMEOUT = "squall:timeout"
MEMORY = "squall:memory"
QUEUES = "squall:queues"
ALARM_EMAIL = "squall:alarmEmail"
ALARM_TOPIC = "squall:alarmTopicArn"
AGE_ALARM = "squall:ageAlarmSeconds"
REMOVAL_POLICY = "squall:removalPolicy"
DELETION_PROTECTION = "squall:deletionProtection"
LOG_RETENTION = "squall:logRetentionDays"
POWERTOOLS_LAYER = "squall:powertoolsLayerArn"
SIGNING = "squall:signingParameter"
API = "squall:api"
API_RATE_LIMIT = "squall:apiRateLimit"
API_BURST_LIMIT = "squall:apiBurstLimit"
TRACING = "squall:tracing"
