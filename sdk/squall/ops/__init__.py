"""Operations: the dead-letter queue and its redrive, and listing tasks by state."""
