"""The embedded local runtime: moto in process (or on 127.0.0.1), the real worker, a fake clock."""

from squall.errors import DrainError
from squall.local.runtime import Runtime, run

__all__ = ["DrainError", "Runtime", "run"]
