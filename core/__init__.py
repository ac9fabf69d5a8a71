"""Cross-cutting infrastructure: configuration, database engine, clock, logging."""
