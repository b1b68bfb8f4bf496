"""``bt --order depth-first`` on small graphs, against the documented rule (real Neo4j).

The rule (lineagegraph/queries/backtrace.py): the activity that made the element first, then each
frame followed by the frames it depends on, visited in the order their source recorded them (the
``sequence`` property when written, else start time, then id), an activity listed again for every
path that reaches it (``repeat_of`` = its first frame), a cycle cut where it re-enters the path,
at most 10,000 frames. The mltrace tests check the same rule against mltrace's own backtraces.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fixtures_graphs import stacked_diamonds

from lineagegraph import templates
from lineagegraph.errors import QueryError
from lineagegraph.model import Activity, Entity, Relation, Used, WasGeneratedBy, WasInformedBy
from lineagegraph.queries import LineageGraph
from lineagegraph.store import GraphStore

pytestmark = pytest.mark.integration


def _day(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=UTC)


def _diamond(store: GraphStore, sequence: dict[str, int]) -> None:
    """out <- top; top used e:a (by a:early) and e:b (by a:late); a:late used e:c (by a:early)."""
    started = {"a:top": 4, "a:late": 3, "a:early": 1}
    acts = [Activity(id=a, label=a, started_at=_day(d),
                     attributes={"sequence": sequence[a]} if a in sequence else {}) for a, d in started.items()]
    relations: list[Relation] = [
        WasGeneratedBy(entity="e:out", activity="a:top"),
        Used(activity="a:top", entity="e:a"), WasGeneratedBy(entity="e:a", activity="a:early"),
        Used(activity="a:top", entity="e:b"), WasGeneratedBy(entity="e:b", activity="a:late"),
        Used(activity="a:late", entity="e:c"), WasGeneratedBy(entity="e:c", activity="a:early"),
    ]
    entities = [Entity(id=e) for e in ("e:out", "e:a", "e:b", "e:c")]
    store.import_elements("test", "diamond", [*acts, *entities], relations)


def _walk(store: GraphStore, element: str, **kwargs: int) -> list[tuple[int | None, str, int | None]]:
    bt = LineageGraph(store).backtrace(element, order="depth-first", **kwargs)
    assert [f.number for f in bt.frames] == list(range(len(bt.frames)))
    return [(f.depth, f.activity.id, f.repeat_of) for f in bt.frames]


def test_without_a_sequence_upstream_frames_go_by_start_time(store: GraphStore) -> None:
    _diamond(store, {})
    assert _walk(store, "e:out") == [
        (0, "a:top", None), (1, "a:early", None), (1, "a:late", None), (2, "a:early", 1)]
    # The default order is unchanged: each activity once, no depths.
    default = LineageGraph(store).backtrace("e:out")
    assert [(f.activity.id, f.depth, f.repeat_of) for f in default.frames] == [
        ("a:top", None, None), ("a:late", None, None), ("a:early", None, None)]


def test_a_sequence_written_by_the_source_wins_over_start_time(store: GraphStore) -> None:
    _diamond(store, {"a:top": 3, "a:late": 1, "a:early": 2})
    assert _walk(store, "e:out") == [
        (0, "a:top", None), (1, "a:late", None), (2, "a:early", None), (1, "a:early", 2)]


def test_a_cycle_is_cut_where_it_re_enters_the_path(store: GraphStore) -> None:
    store.import_elements("test", "cycle", [
        Activity(id="a:x", started_at=_day(2)), Activity(id="a:y", started_at=_day(1)), Entity(id="e:out")], [
        WasGeneratedBy(entity="e:out", activity="a:x"),
        WasInformedBy(informed="a:x", informant="a:y"), WasInformedBy(informed="a:y", informant="a:x"),
    ])
    assert _walk(store, "e:out") == [(0, "a:x", None), (1, "a:y", None)]


def test_repeats_are_bounded(store: GraphStore) -> None:
    graph = stacked_diamonds(13)  # 2 + 4 + ... + 2**13 frames: more than 10,000
    store.import_elements("test", "diamonds", graph.elements, graph.relations)
    with pytest.raises(QueryError, match="more than 10000 frames"):
        LineageGraph(store).backtrace("e:d13", depth=templates.MAX_DEPTH, order="depth-first")
    # Twelve levels down (2 + ... + 2**6 = 126 frames within 12 hops) it lists them all.
    assert len(_walk(store, "e:d13", depth=12)) == 126
