"""Property tests: the lock state machine keeps the stage graph's invariants under any sequence of
lock/unlock/skip/materialize; stage ids do not depend on key order or path spelling; cleaning
keeps every row exactly once (rows in = kept + rejected)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field

from dat_pipeline import ids
from dat_pipeline.cleaning import apply_rules, parse_rules
from dat_pipeline.dat.graph import DEFAULT_GRAPH
from dat_pipeline.dat.stages import STAGES
from dat_pipeline.dat.stages.base import StageConfig, StageSpec
from dat_pipeline.dat.workflow import DatWorkflow
from dat_pipeline.errors import GateError
from dat_pipeline.paths import PathEscapeError, normalize_relative
from dat_pipeline.store import ControlStore

STAGE_NAMES = list(DEFAULT_GRAPH.order)
OPTIONAL = [s for s in STAGE_NAMES if DEFAULT_GRAPH.rule(s).optional]


class TinyConfig(StageConfig):
    x: int = Field(0)


def _tiny(stage: str) -> StageSpec:
    return StageSpec(
        name=stage,
        config_model=TinyConfig,
        compute=lambda inputs, config: pl.DataFrame({"stage": [inputs.stage], "x": [config.x]}),
    )


# The real graph and gates with trivial stages: what is tested is the state machine, not I/O.
TINY_STAGES = {stage: _tiny(stage) for stage in STAGE_NAMES}

operations = st.lists(
    st.one_of(
        st.tuples(st.just("lock"), st.sampled_from(STAGE_NAMES), st.integers(0, 2)),
        st.tuples(st.just("unlock"), st.sampled_from(STAGE_NAMES), st.just(0)),
        st.tuples(st.just("skip"), st.sampled_from(OPTIONAL), st.just(0)),
        st.tuples(st.just("materialize"), st.sampled_from(STAGE_NAMES), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


def snapshot(flow: DatWorkflow, run: str) -> dict:
    return {s.stage: (s.state, s.stage_id, s.completed) for s in flow.status(run)}


def check_invariants(flow: DatWorkflow, run: str) -> None:
    statuses = {s.stage: s for s in flow.status(run)}
    for stage, status in statuses.items():
        if not status.locked:
            continue
        rule = DEFAULT_GRAPH.rule(stage)
        for required in rule.requires:
            assert statuses[required].locked, f"{stage} locked without its gate {required}"
        for required in rule.requires_completed:
            assert statuses[required].completed, f"{stage} locked before {required} completed"
        # A locked stage's id is derived from its upstream's current ids: never a stale lock.
        upstream = {name: statuses[name].stage_id for name in rule.requires}
        derived = {
            ids.stage_id(stage, status.config or {}, upstream),  # type: ignore[arg-type]
            ids.stage_id(stage, {"skipped": True}, upstream),  # type: ignore[arg-type]
        }
        assert status.stage_id in derived, f"{stage} keeps an id of stale upstream inputs"
        if status.completed:
            assert flow.artifact_path(status) is not None
    seqs = [event.seq for event in flow.store.run_events(run)]
    assert seqs == sorted(set(seqs))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations)
def test_any_sequence_of_lock_unlock_skip_keeps_the_graph_invariants(ops):
    with tempfile.TemporaryDirectory() as tmp:
        store = ControlStore(f"sqlite:///{Path(tmp) / 'store.db'}")
        flow = DatWorkflow(store, Path(tmp) / "data", stages=TINY_STAGES)
        run = flow.create_run(run_id="prop").run_id
        try:
            for verb, stage, value in ops:
                before = snapshot(flow, run)
                try:
                    if verb == "lock":
                        flow.lock(run, stage, {"x": value})
                    elif verb == "unlock":
                        flow.unlock(run, stage)
                    elif verb == "skip":
                        flow.skip(run, stage)
                    else:
                        flow.materialize(run, stage)
                except GateError:
                    assert snapshot(flow, run) == before, f"a refused {verb} changed state"
                check_invariants(flow, run)
        finally:
            store.dispose()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


def _reversed(value):
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(v) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=6),
    st.dictionaries(st.sampled_from(STAGE_NAMES), st.text(min_size=1, max_size=12), max_size=3),
)
def test_stage_ids_do_not_depend_on_key_order(config, upstream):
    reordered = _reversed(config)
    upstream_reordered = dict(reversed(list(upstream.items())))
    assert ids.stage_id("selection", config, upstream) == ids.stage_id(
        "selection", reordered, upstream_reordered
    )


segment = st.text(alphabet="abcXYZ019_-é", min_size=1, max_size=6)


@st.composite
def spellings(draw):
    """A clean relative path and a messier spelling of it: ./, //, trailing /, a/x/.. detours,
    backslashes."""
    parts = draw(st.lists(segment, min_size=1, max_size=4))
    messy = []
    for part in parts:
        if draw(st.booleans()):
            messy.append(".")
        if draw(st.booleans()):
            messy += [draw(segment), ".."]
        messy.append(part)
    separator = draw(st.sampled_from(["/", "//", "\\", "/./"]))
    text = separator.join(messy) + draw(st.sampled_from(["", "/", "/."]))
    return "/".join(parts), text


@settings(max_examples=200, deadline=None)
@given(spellings())
def test_paths_normalize_to_one_spelling_and_one_discovery_id(pair):
    clean, messy = pair
    assert normalize_relative(messy) == clean
    model = STAGES["discovery"].config_model
    a = model.model_validate({"root": clean}).model_dump(mode="json")
    b = model.model_validate({"root": messy}).model_dump(mode="json")
    assert ids.stage_id("discovery", a, {}) == ids.stage_id("discovery", b, {})


@settings(max_examples=100, deadline=None)
@given(st.lists(segment, min_size=0, max_size=3), st.integers(1, 3))
def test_paths_that_climb_out_are_refused(parts, extra):
    escaping = "/".join(parts + [".."] * (len(parts) + extra))
    try:
        normalize_relative(escaping)
    except PathEscapeError:
        return
    raise AssertionError(f"{escaping!r} was accepted")


frames = st.integers(0, 40).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "id": st.lists(st.integers(0, 15) | st.none(), min_size=n, max_size=n),
            "amount": st.lists(
                st.floats(-50, 150, allow_nan=False) | st.none(), min_size=n, max_size=n
            ),
            "city": st.lists(
                st.sampled_from(["Paris", " Lyon ", "", "nice", "ZÜRICH"]) | st.none(),
                min_size=n,
                max_size=n,
            ),
        }
    )
)
rules = st.lists(
    st.sampled_from(
        [
            {"type": "NOT_NULL", "column": "id"},
            {"type": "NOT_NULL", "column": "amount", "severity": "warn"},
            {"type": "RANGE", "column": "amount", "min": 0, "max": 100},
            {"type": "REGEX", "column": "city", "pattern": "^[A-Za-z ]+$"},
            {"type": "DEDUPE", "keys": ["id"]},
            {"type": "ALLOWED_VALUES", "column": "city", "values": ["Paris", "Lyon", "nice"]},
            {"type": "TRIM", "column": "city"},
            {"type": "CASE", "column": "city", "mode": "lower"},
        ]
    ),
    max_size=5,
)


@settings(max_examples=120, deadline=None)
@given(frames, rules, st.integers(0, 1000))
def test_cleaning_keeps_every_row_exactly_once(columns, raw_rules, offset):
    frame = pl.DataFrame(columns, schema={"id": pl.Int64, "amount": pl.Float64, "city": pl.String})
    result = apply_rules(frame, parse_rules(raw_rules), row_offset=offset)
    assert result.rows_in == frame.height == result.rows_kept + result.rows_rejected
    assert result.kept.height == result.rows_kept and result.rejects.height == result.rows_rejected
    numbers = sorted(result.kept["_row_number"].to_list() + result.rejects["_row_number"].to_list())
    assert numbers == list(range(offset, offset + frame.height))
