"""Names, projects and tags shared by every layer: one home for each rule and constant.

No Dagster import: the CLI, the API, the domain packages and the Dagster layer all read these.
"""

from __future__ import annotations

import re

# Names a person types and the system uses as keys (projects, database and analysis sources,
# backfill tables): they become folder names, Dagster partition keys and DuckDB schemas.
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
NAME = re.compile(NAME_PATTERN)
# DAT run ids: a short slug (a Dagster partition key and a folder name).
RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
RUN_ID = re.compile(RUN_ID_PATTERN)
# Exported datasets: `ds_` and 8 hex digits.
DATASET_ID_PATTERN = r"^ds_[0-9a-f]{8}$"
DATASET_ID = re.compile(DATASET_ID_PATTERN)

# The lineage columns DAT adds to every previewed and parsed row: the file and table it came from.
SOURCE_FILE = "_source_file"
SOURCE_TABLE = "_source_table"

# The project of everything made without one: CLI runs, sensor runs, inbox files at the top.
DEFAULT_PROJECT = "default"

# Dagster run tags.
RUN_TAG = "dat/run"  # the DAT run a Dagster run materializes (a queue limit key)
PROJECT_TAG = "dat/project"  # the project that owns a run or backfill
# One ingestion at a time per project: the queue limit key of deploy/dagster.postgres.yaml.
INGESTION_PROJECT_TAG = "dat/ingestion_project"
SOURCE_TAG = "analysis/source"  # the analysis source of a run (a queue limit key)

# The owner of every asset (the Dagster UI's owner filter).
OWNERS = ["team:data-platform"]
