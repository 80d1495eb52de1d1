"""ingestion page."""
