"""DAT, the staged aggregation workflow: the stage graph, the workflow and one module per stage.

No Dagster import here: the Dagster layer in `dat_pipeline.defs.dat` is a thin shell over it.
"""
