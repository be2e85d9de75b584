"""The embedded local runtime: moto in process (or on 127.0.0.1), the real worker, a fake clock."""

from squall.local.runtime import DrainError, Runtime, run

__all__ = ["DrainError", "Runtime", "run"]
