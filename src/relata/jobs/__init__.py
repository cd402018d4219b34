"""Background work: a worker loop that runs periodic tasks against the database."""
