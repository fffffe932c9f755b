"""Pages that belong to no single domain: home and the health check."""
