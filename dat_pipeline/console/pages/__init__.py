"""One module per console page; importing them registers their routes."""
