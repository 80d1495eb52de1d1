"""Materialize the parse stage of a DAT run; the SIGKILL test kills this process mid-parse.

Usage: python parse_kill_worker.py RUN_ID  (data root and store from the DAT_* environment)
"""

from __future__ import annotations

import sys

from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.settings import get_settings
from dat_pipeline.store import ControlStore


def main(run_id: str) -> None:
    settings = get_settings()
    flow = DatWorkflow(ControlStore(settings.store_url), settings.data_root)
    flow.materialize(run_id, "parse")


if __name__ == "__main__":
    main(sys.argv[1])
