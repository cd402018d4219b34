"""Use cases: core decisions combined with storage, one transaction per call."""
