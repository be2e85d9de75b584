"""S3 offload of large payloads: arguments and results past the SQS, Scheduler and DynamoDB limits.

A value too large for its carrier is written to the app's payload bucket (``Settings.payload_bucket``) and
what travels is a reference to it with the object's SHA-256 (:mod:`squall.offload.reference`); whoever
reads it fetches the object and checks the hash (:mod:`squall.offload.objects`). Arguments are offloaded by
a built-in step of the body codec chain (:mod:`squall.offload.arguments`), results by the worker's result
write and :class:`~squall.AsyncResult`'s read (:mod:`squall.offload.results`). Without a payload bucket
nothing is offloaded and an oversized value is refused, as before. docs/wire-format.md describes the shapes.
"""
