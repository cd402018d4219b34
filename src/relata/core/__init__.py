"""The pure domain: values and decisions, no I/O, no clock reads, no SQL."""
