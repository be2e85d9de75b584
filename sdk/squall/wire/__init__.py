"""The wire format: the envelope, its body codec and signing (what travels on SQS and the Scheduler)."""
