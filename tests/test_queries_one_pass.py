"""diff, path, blame, recipe and both-ways lineage as one query each, against a real Neo4j.

What these tests add to test_queries.py: the both-ways lineage (now one query) gives exactly the
subgraph of the two walks joined by the three-query method it replaced, for every element, with
and without ``as_of``; the queries answer on a stack of 20 diamonds (2^20 paths) at the deepest
bound without enumerating paths; and ``lineagegraph diff`` loads the query commands only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from fixtures_graphs import Graph, lineage_digraph, ml_pipeline, stacked_diamonds, t, within

from lineagegraph import templates
from lineagegraph.queries import LineageGraph
from lineagegraph.queries.walk import joined_lineage
from lineagegraph.store import GraphStore
from lineagegraph.subgraph import Subgraph

pytestmark = pytest.mark.integration


def edges(sub: Subgraph) -> set[tuple[str, str, str]]:
    return {(r.start, r.type, r.end) for r in sub.relationships}


def test_both_ways_is_the_two_walks_joined_for_every_element_and_time(store: GraphStore) -> None:
    graph = ml_pipeline()
    store.import_elements("test", "ml_pipeline", graph.elements, graph.relations)
    lg = LineageGraph(store)
    for as_of in (None, t(6, 12)):
        for element in graph.elements:  # entities, activities and agents (whose walk starts from their work)
            up = lg.ancestors(element.id, depth=4, as_of=as_of)
            down = lg.descendants(element.id, depth=4, as_of=as_of)
            joined = joined_lineage(lg, element.id, up, down)
            both = lg.lineage(element.id, direction="both", depth=4, as_of=as_of)
            where = (element.id, as_of)
            assert [n.id for n in both.nodes] == [n.id for n in joined.nodes], where
            assert edges(both) == edges(joined), where
            assert both.focus == [element.id] and both.nodes == joined.nodes, where


def test_twenty_stacked_diamonds_answer_without_enumerating_paths(store: GraphStore) -> None:
    graph = stacked_diamonds(20)
    store.import_elements("test", "diamonds", graph.elements, graph.relations)
    digraph = lineage_digraph(graph)
    lg = LineageGraph(store)
    depth = templates.MAX_DEPTH  # 40 hops from bottom to top: 2**20 distinct paths
    started = time.monotonic()
    result = lg.diff("e:d20", "e:d19", depth=depth)
    found = lg.path("e:d20", "e:d0", depth=depth)
    blame = lg.blame(["e:d20", "e:d18"], depth=depth)
    recipe = lg.recipe("e:d20", depth=depth)
    both = lg.lineage("e:d10", direction="both", depth=depth)
    elapsed = time.monotonic() - started

    # A's walk stops at B (d19), so A's side holds only the two steps that made A; B's side is all
    # of B's upstream; the makers of A and B are compared first.
    upstream_b = within(digraph, "e:d19", depth)
    assert result.shared == [] and result.only_a == []
    assert {n.id for n in result.only_b} == {i for i in upstream_b if i.startswith("e:")}
    first = result.activity_changes[0]
    assert first.a.id in {"a:d19l", "a:d19r"} and first.b.id in {"a:d18l", "a:d18r"}
    assert len(found.relationships) == 40 and found.nodes[-1].id == "e:d0"
    assert {s.element.id for s in blame.suspects if s.hits == 2} == within(digraph, "e:d18", depth)
    assert len(recipe.steps) == 40 and recipe.steps[0].activity.id in {"a:d0l", "a:d0r"}
    assert both.ids == {"e:d10"} | within(digraph, "e:d10", depth) | within(digraph.reverse(), "e:d10", depth)
    # Enumerating 2**20 paths takes minutes; visiting 61 nodes once takes well under a second.
    assert elapsed < 20, f"diamond queries took {elapsed:.1f}s"


def test_a_query_command_loads_only_the_query_commands(cli_env: dict[str, str]) -> None:
    script = (
        "import sys, json\n"
        "from lineagegraph.cli import main, FAST_COMMANDS\n"
        "from lineagegraph.cli._app import app\n"
        "code = main(['diff', '--help'])\n"
        "heavy = ['kubernetes', 'prov', 'rdflib', 'pyvis', 'starlette', 'uvicorn', 'psycopg', 'yaml', 'ijson']\n"
        "print(json.dumps({'code': code, 'loaded': [m for m in heavy if m in sys.modules],\n"
        "                  'commands': sorted(c.name for c in app.registered_commands)}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=cli_env, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["code"] == 0 and report["loaded"] == []
    assert "Compare how A and B were made" in proc.stdout
    assert report["commands"] == sorted(["ancestors", "descendants", "diff", "bt", "path", "blame", "recipe",
                                         "search", "cypher"])


def test_the_fast_command_table_matches_where_commands_are_registered() -> None:
    from lineagegraph.cli import FAST_COMMANDS, load_commands

    app = load_commands()  # every module
    names = [c.name for c in app.registered_commands]
    homes = {c.name: c.callback.__module__.rsplit(".", 1)[-1] for c in app.registered_commands if c.callback}
    for command, module in FAST_COMMANDS.items():
        assert names.count(command) == 1, command
        assert homes[command] == module, command


def test_the_diff_command_prints_the_same_diff_as_the_api(
    store: GraphStore, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from lineagegraph.cli import main

    graph: Graph = ml_pipeline()
    store.import_elements("test", "ml_pipeline", graph.elements, graph.relations)
    assert main(["diff", "e:model-1", "e:model-2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(LineageGraph(store).diff("e:model-1", "e:model-2").model_dump_json())


def _reference_order(rows: list[dict[str, Any]], *, newest_first: bool) -> list[str]:
    """The ordering rule, written the plain way: pick the first-sorting step whose dependencies
    are all placed (any step when none is: a cycle), again and again."""
    from lineagegraph.queries.activities import node_time
    from lineagegraph.queries.records import node_from

    by_id = {r["activity"]["id"]: r for r in rows}

    def key(i: str) -> tuple[bool, float, str]:
        when = node_time(node_from(by_id[i]["activity"]))
        stamp = when.timestamp() if when else 0.0
        return (when is None, -stamp if newest_first else stamp, i)

    upstream = {i: set(r["upstream"]) & by_id.keys() - {i} for i, r in by_id.items()}
    # Newest first, a frame comes before the frames it depends on: it waits for its consumers.
    consumers = {i: {c for c, ups in upstream.items() if i in ups} - {i} for i in by_id}
    waiting = consumers if newest_first else upstream
    order: list[str] = []
    while waiting:
        ready = [i for i, deps in waiting.items() if not deps] or list(waiting)
        chosen = min(ready, key=key)
        order.append(chosen)
        del waiting[chosen]
        for deps in waiting.values():
            deps.discard(chosen)
    return order


def test_dependency_order_of_backtrace_and_recipe_follows_the_rule() -> None:
    """backtrace and recipe order steps with a heap; the order is the rule's, cycles included."""
    import random

    from lineagegraph.queries.backtrace import ordered

    rng = random.Random(11)
    for trial in range(20):
        size = rng.randint(1, 60)
        rows = []
        for i in range(size):
            ups = [f"s{rng.randrange(size)}" for _ in range(rng.randint(0, 3))]  # any step: cycles too
            props = {"started_at": t(rng.randint(1, 9)).isoformat()} if rng.random() < 0.7 else {}
            rows.append({"activity": {"id": f"s{i}", "labels": ["Activity", "Element"], "properties": props},
                         "upstream": [*ups, "outside"]})
        for newest_first in (False, True):
            want = _reference_order(rows, newest_first=newest_first)
            got = [r["activity"]["id"] for r in ordered(rows, newest_first=newest_first)]
            assert got == want, (trial, newest_first)
