"""analysis page."""
