"""The table graph: components, hubs, fact and dimension tables, shape, cycles (SPEC 4, topology).

Nodes are the source's tables, edges the foreign keys of `relationships` (referencing ->
referenced). Roles:
- `bridge`: at least two outgoing keys, not referenced, and at most one column that is neither a
  referencing column nor a single-column key (a many-to-many link table);
- `fact`: outgoing keys, not referenced (many rows pointing at dimensions);
- `dimension`: referenced by another table;
- `isolated`: no keys in or out.
Shape: `none` (no tables, or keys but no fact, e.g. a pure cycle), `single` (one table),
`disconnected` (no keys between tables, or several components that each hold keys), `galaxy`
(several facts), `snowflake` (one fact and a dimension that references another table), `star`
(one fact, dimensions one hop away). Hubs are the tables with the highest degree (in + out keys,
at least 2). Cycles are the simple cycles of the directed key graph (self-references included),
at most `MAX_CYCLES`.
"""

from __future__ import annotations

import itertools
import json

import networkx as nx
import polars as pl

from dat_pipeline.analysis.inputs import data_columns
from dat_pipeline.analysis.phase import PhaseContext, PhaseResult, PhaseSpec

MAX_CYCLES = 100
ROLE_SCHEMA = {
    "table": pl.String,
    "role": pl.String,
    "rows": pl.Int64,
    "out_keys": pl.Int64,
    "in_keys": pl.Int64,
}
TOPOLOGY_SCHEMA = {
    "components": pl.String,
    "fact_tables": pl.String,
    "dimension_tables": pl.String,
    "shape": pl.String,
    "cycles": pl.String,
}


def build_graph(tables: dict[str, pl.DataFrame], rels: pl.DataFrame | None) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for name, frame in tables.items():
        graph.add_node(name, rows=frame.height)
    if rels is not None:
        for r in rels.iter_rows(named=True):
            for end in (r["from_table"], r["to_table"]):
                if end not in graph:
                    graph.add_node(end, rows=0)
            graph.add_edge(
                r["from_table"],
                r["to_table"],
                columns=list(r["from_columns"]),
                to_columns=list(r["to_columns"]),
            )
    return graph


def _roles(graph: nx.MultiDiGraph, tables: dict, keys: pl.DataFrame | None) -> dict[str, dict]:
    single_keys: dict[str, set[str]] = {}
    if keys is not None:
        for table, columns in keys.select("table", "columns").iter_rows():
            if len(columns) == 1:
                single_keys.setdefault(table, set()).add(columns[0])
    roles = {}
    for node in graph.nodes:
        out_edges = [e for e in graph.out_edges(node, data=True) if e[1] != node]
        in_edges = [e for e in graph.in_edges(node, data=True) if e[0] != node]
        out_keys, in_keys = len(out_edges), len(in_edges)
        frame = tables.get(node)
        columns = data_columns(frame) if frame is not None else []
        referencing = {c for e in out_edges for c in e[2]["columns"]}
        others = [c for c in columns if c not in referencing and c not in single_keys.get(node, ())]
        if out_keys >= 2 and in_keys == 0 and len(others) <= 1:
            role = "bridge"
        elif out_keys >= 1 and in_keys == 0:
            role = "fact"
        elif in_keys >= 1:
            role = "dimension"
        else:
            role = "isolated"
        roles[node] = {
            "table": node,
            "role": role,
            "rows": graph.nodes[node].get("rows", 0),
            "out_keys": out_keys,
            "in_keys": in_keys,
        }
    return roles


def _shape(graph: nx.MultiDiGraph, roles: dict[str, dict]) -> str:
    if graph.number_of_nodes() == 0:
        return "none"
    if graph.number_of_nodes() == 1:
        return "single"
    linked = [c for c in nx.weakly_connected_components(graph) if len(c) > 1]
    if not linked or len(linked) > 1:
        return "disconnected"
    facts = [t for t, r in roles.items() if r["role"] in ("fact", "bridge")]
    if not facts:
        return "none"
    if len([t for t, r in roles.items() if r["role"] == "fact"]) >= 2:
        return "galaxy"
    dimensions = [t for t, r in roles.items() if r["role"] == "dimension"]
    if any(roles[d]["out_keys"] > 0 for d in dimensions):
        return "snowflake"
    return "star"


def run(ctx: PhaseContext) -> PhaseResult:
    rels = ctx.upstream("relationships", "relationships")
    keys = ctx.upstream("relationships", "candidate_keys")
    graph = build_graph(ctx.tables, rels)
    roles = _roles(graph, ctx.tables, keys)
    shape = _shape(graph, roles)
    components = sorted(
        (sorted(c) for c in nx.weakly_connected_components(graph)), key=lambda c: (-len(c), c)
    )
    simple = nx.DiGraph(graph)
    cycles = [list(c) for c in itertools.islice(nx.simple_cycles(simple), MAX_CYCLES)]
    facts = sorted(t for t, r in roles.items() if r["role"] == "fact")
    dimensions = sorted(t for t, r in roles.items() if r["role"] == "dimension")
    degree = {n: roles[n]["out_keys"] + roles[n]["in_keys"] for n in graph.nodes}
    top = max(degree.values(), default=0)
    hubs = sorted(n for n, d in degree.items() if d == top and d >= 2)
    role_frame = pl.DataFrame(list(roles.values()), schema=ROLE_SCHEMA).sort("table")
    topology = pl.DataFrame(
        [
            {
                "components": json.dumps(components),
                "fact_tables": json.dumps(facts),
                "dimension_tables": json.dumps(dimensions),
                "shape": shape,
                "cycles": json.dumps(cycles),
            }
        ],
        schema=TOPOLOGY_SCHEMA,
    )
    summary = [
        f"**Shape: {shape}** ({graph.number_of_nodes()} tables, "
        f"{graph.number_of_edges()} foreign keys, {len(components)} components).",
        f"Facts: {', '.join(facts) or '-'}; dimensions: {', '.join(dimensions) or '-'}; "
        f"hubs: {', '.join(hubs) or '-'}.",
    ]
    if rels is None:
        summary.append("No relationships result: every table is isolated.")
    if cycles:
        summary.append("Cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles[:10]))
    return PhaseResult(
        tables={"roles": role_frame, "topology": topology},
        summary="\n".join(summary),
        figures={
            "shape": shape,
            "components": len(components),
            "fact_tables": facts,
            "hubs": hubs,
            "cycles": len(cycles),
        },
    )


SPEC = PhaseSpec(
    name="topology",
    needs=("relationships",),
    run=run,
    version="1",
    description="The table graph from foreign keys: components, hubs, fact and dimension "
    "tables, star / snowflake / galaxy shape, cycles.",
)
