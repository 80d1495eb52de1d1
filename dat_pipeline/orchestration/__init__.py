"""Starting Dagster runs on behalf of the CLI and the API, and following them."""
