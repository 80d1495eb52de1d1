"""The Dagster layer: one module per asset group, merged by `dat_pipeline.definitions`."""
