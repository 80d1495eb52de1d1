"""Resources shared by every group: where the data root and the control store are."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from dat_pipeline.dat.graph import load_graph
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.settings import get_settings
from dat_pipeline.store import open_store


class DatResource(dg.ConfigurableResource):
    """The DAT workflow over the control store. Empty fields fall back to the DAT_* environment."""

    data_root: str | None = Field(None, description="Data root; default DAT_DATA_ROOT or data/.")
    store_url: str | None = Field(
        None, description="Control store URL; default DAT_STORE_URL or data/control.db."
    )
    graph_file: str | None = Field(
        None, description="YAML stage graph overriding the default; default DAT_STAGE_GRAPH."
    )

    def workflow(self) -> DatWorkflow:
        settings = get_settings()
        data_root = Path(self.data_root) if self.data_root else settings.data_root
        store = open_store(self.store_url or settings.store_url)
        graph = load_graph(Path(self.graph_file) if self.graph_file else settings.stage_graph)
        return DatWorkflow(store, data_root, graph)


DAT_RESOURCE = DatResource()  # one instance, shared by the groups' Definitions (merged by identity)
