"""The worker: the business step (:mod:`.execution`) and its Lambda adapter (:mod:`.handler`)."""
