"""datasets page."""
