"""Domain services: typed arguments in, plain data out; no Flask request objects."""
