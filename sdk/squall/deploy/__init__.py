"""The deployment description: the topology the stack and the local runtime build, and its cost model."""
