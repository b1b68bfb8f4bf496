"""``recipe``: everything needed to re-make an element, oldest step first (``cypher/recipe.cypher``).

Built on the backtrace's frames: each step adds, per input, the location it is a version of and
the activities that produced it, so :attr:`Recipe.external_inputs` can name what must exist first.
The template returns nodes as maps, decoded here directly in one round trip (the graph is asked
whether ``id`` exists only when no step comes back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lineagegraph import templates
from lineagegraph.process import paused_gc
from lineagegraph.queries.activities import aspects
from lineagegraph.queries.backtrace import (
    Frame,
    Usage,
    agent_refs,
    frames_frame,
    ordered,
    sorted_usages,
    usage,
)
from lineagegraph.queries.records import native, node_from
from lineagegraph.queries.runner import TemplateRunner
from lineagegraph.subgraph import GraphNode

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas  # type: ignore[import-untyped,unused-ignore]

__all__ = ["Recipe", "RecipeInput", "RecipeStep", "recipe"]


class RecipeInput(Usage):
    """An input of a recipe step, with the location it is a version of and who produced it."""

    general: list[GraphNode] = Field(default_factory=list)
    generated_by: list[str] = Field(default_factory=list)


class RecipeStep(Frame):
    """One step to re-run, with its parameters, code versions and environment as executed."""

    inputs: list[RecipeInput] = Field(default_factory=list)  # type: ignore[assignment]

    @property
    def code(self) -> dict[str, Any]:
        return aspects(self.activity)[0]

    @property
    def environment(self) -> dict[str, Any]:
        return aspects(self.activity)[1]


class Recipe(BaseModel):
    """How to re-make ``id``: steps in dependency order (oldest first) and the outside inputs."""

    id: str
    steps: list[RecipeStep] = Field(default_factory=list)

    @property
    def external_inputs(self) -> list[RecipeInput]:
        """Inputs no step of the recipe produces: what must exist before step 1 can run."""
        step_ids = {s.activity.id for s in self.steps}
        seen: dict[str, RecipeInput] = {}
        for step in self.steps:
            for item in step.inputs:
                if not set(item.generated_by) & step_ids:
                    seen.setdefault(item.entity.id, item)
        return list(seen.values())

    def to_pandas(self) -> pandas.DataFrame:
        return frames_frame(list(self.steps))


def _rows(runner: TemplateRunner, id: str, depth: int) -> list[dict[str, Any]]:
    """The template's rows as dicts; the few non-node values (times, roles, plans) made plain."""
    templates.validate_bound("depth", depth)
    records = runner.run_named_raw("recipe", id=id, depth=depth)
    rows = [dict(zip(record.keys(), record, strict=True)) for record in records]
    if not rows:
        runner.store.require_ids(id)  # no step: either nothing upstream, or no such element
    for row in rows:
        for agent in row["agents"]:
            agent["plan"], agent["role"] = native(agent["plan"], {}), native(agent["role"], {})
        for item in (*row["inputs"], *row["outputs"]):
            item["role"], item["time"] = native(item["role"], {}), native(item["time"], {})
    return rows


def recipe(runner: TemplateRunner, id: str, depth: int) -> Recipe:
    """Everything needed to re-run the processing that produced ``id``, oldest step first."""
    with paused_gc():  # many small objects, none cyclic: see lineagegraph.process.paused_gc
        rows = ordered(_rows(runner, id, depth), newest_first=False)
        steps = [
            RecipeStep(
                number=i + 1,
                activity=node_from(r["activity"]),
                agents=agent_refs(r),
                inputs=[
                    RecipeInput(
                        entity=node_from(u["entity"]),
                        role=u["role"],
                        time=u["time"],
                        general=[node_from(g) for g in u["general"]],
                        generated_by=list(u["generated_by"]),
                    )
                    for u in sorted_usages(r["inputs"])
                ],
                outputs=[usage(u) for u in sorted_usages(r["outputs"])],
                upstream=sorted(set(r["upstream"])),
            )
            for i, r in enumerate(rows)
        ]
    return Recipe(id=id, steps=steps)
