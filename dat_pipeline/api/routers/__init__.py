"""One router per domain of the HTTP API."""
