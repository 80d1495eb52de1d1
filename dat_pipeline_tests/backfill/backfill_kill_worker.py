"""Worker for the kill test: extracts 30 daily windows slowly, announcing each chunk on stdout."""

import sys
import time
from pathlib import Path

import sqlalchemy as sa

from dat_pipeline.backfill import BackfillTable, core
from dat_pipeline.backfill.demo import trades_config
from dat_pipeline.store import ControlStore

url, data_root, store_url, pace = sys.argv[1:5]
original = core.stream_frames


def slow_stream(*args, **kwargs):
    for number, frame in enumerate(original(*args, **kwargs)):
        print(f"chunk {number}", flush=True)
        time.sleep(0.02)
        yield frame


if pace == "slow":
    core.stream_frames = slow_stream
config = trades_config("unused", chunk_rows=5)
table = BackfillTable(config, sa.create_engine(url), Path(data_root), store=ControlStore(store_url))
for window in table.windows("2024-01-01", "2024-01-31"):
    print(f"window {window.key}", flush=True)
    table.extract(window)
print("finished", flush=True)
