"""dat_pipeline: staged aggregation, ingestion, backfill and analysis as a Dagster code location."""
