"""The bottom layer: typed errors, config loading, atomic I/O and hashing, the cost record.

Imports nothing from serkit above it (checked by ``make lint``)."""
