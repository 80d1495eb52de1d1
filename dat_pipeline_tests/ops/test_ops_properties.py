"""Property tests: the lock state machine keeps the stage graph's gate rules and invariants under
any interleaving of lock/unlock/skip/materialize (a rule-based machine that reaches export); stage ids do not depend on key order or path spelling; cleaning
keeps every row exactly once (rows in = kept + rejected)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
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


LOCKS_REACHED: Counter[str] = Counter()


class GateMachine(RuleBasedStateMachine):
    """Any interleaving of lock, unlock, skip and materialize, with a rule biased toward the next
    gate so runs reach parse and export: each action succeeds exactly when the graph's gate
    allows it, a refused action changes nothing, and the invariants hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.store = ControlStore(f"sqlite:///{Path(self.tmp.name) / 'store.db'}")
        self.flow = DatWorkflow(self.store, Path(self.tmp.name) / "data", stages=TINY_STAGES)
        self.run = self.flow.create_run(run_id="prop").run_id

    def gate_met(self, stage: str) -> bool:
        statuses = {s.stage: s for s in self.flow.status(self.run)}
        rule = DEFAULT_GRAPH.rule(stage)
        return all(statuses[name].locked for name in rule.requires) and all(
            statuses[name].completed for name in rule.requires_completed
        )

    def attempt(self, allowed: bool, action) -> None:  # type: ignore[no-untyped-def]
        before = snapshot(self.flow, self.run)
        try:
            action()
        except GateError:
            assert not allowed, "an action the gate allows was refused"
            assert snapshot(self.flow, self.run) == before, "a refused action changed state"
            return
        assert allowed, "an action the gate forbids went through"

    def do_lock(self, stage: str, x: int) -> None:
        allowed = self.gate_met(stage)
        self.attempt(allowed, lambda: self.flow.lock(self.run, stage, {"x": x}))
        if allowed:
            LOCKS_REACHED[stage] += 1

    @rule(stage=st.sampled_from(STAGE_NAMES), x=st.integers(0, 2))
    def lock(self, stage: str, x: int) -> None:
        self.do_lock(stage, x)

    @rule(stage=st.sampled_from(STAGE_NAMES))
    def unlock(self, stage: str) -> None:
        cascade = {stage, *DEFAULT_GRAPH.cascade(stage)}
        self.flow.unlock(self.run, stage)
        assert not any(s.locked for s in self.flow.status(self.run) if s.stage in cascade)

    @rule(stage=st.sampled_from(OPTIONAL))
    def skip(self, stage: str) -> None:
        self.attempt(self.gate_met(stage), lambda: self.flow.skip(self.run, stage))

    @rule(stage=st.sampled_from(STAGE_NAMES))
    def materialize(self, stage: str) -> None:
        locked = self.flow.stage_status(self.run, stage).locked
        self.attempt(locked, lambda: self.flow.materialize(self.run, stage))

    @rule(x=st.integers(0, 2), steps=st.integers(1, 6))
    def next_gates(self, x: int, steps: int) -> None:
        """Work down the graph as a person does, `steps` actions: build the first locked stage
        without an artifact, else lock the first stage whose gate is met."""
        for _ in range(steps):
            statuses = self.flow.status(self.run)
            building = next((s for s in statuses if s.locked and not s.completed), None)
            if building is not None:
                self.materialize(building.stage)
                continue
            ready = next((s for s in statuses if not s.locked and self.gate_met(s.stage)), None)
            if ready is None:
                return
            self.do_lock(ready.stage, x)
            check_invariants(self.flow, self.run)

    @invariant()
    def graph_invariants(self) -> None:
        check_invariants(self.flow, self.run)

    def teardown(self) -> None:
        self.store.dispose()
        self.tmp.cleanup()


def test_any_interleaving_keeps_the_gate_rules_and_reaches_every_stage():
    LOCKS_REACHED.clear()
    run_state_machine_as_test(
        GateMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print("locks reached per stage:", dict(LOCKS_REACHED))
    missing = [stage for stage in STAGE_NAMES if not LOCKS_REACHED[stage]]
    assert not missing, f"the machine never locked {missing}: {dict(LOCKS_REACHED)}"


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
