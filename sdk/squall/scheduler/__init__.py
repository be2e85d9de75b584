"""EventBridge Scheduler: schedule expressions, periodic schedules and schedules made at run time."""
