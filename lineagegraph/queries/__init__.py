"""The query API: run the templates in ``cypher/`` and return typed results.

:class:`LineageGraph` is what notebooks, the CLI and the exporters use. Every method runs one
template (see :mod:`lineagegraph.templates`) with values as parameters and the depth bound as the
only substituted text, then shapes the rows into pydantic models. The graph work (walking,
counting, shortest path) happens in Cypher; Python only pairs, compares and orders small
results (the activity frames of a backtrace, the two sides of a diff).

Where things are, by what you look for:

- ``graph``: the :class:`LineageGraph` facade, one short method per question;
- ``walk``, ``diff``, ``backtrace``, ``recipe``, ``path``, ``blame``, ``search``: one module per
  question, holding its result types and the Python that shapes the template's rows;
- ``runner`` (running a template), ``records`` (driver values -> nodes and subgraphs), ``args``
  (argument checks), ``activities`` (what an activity node says: name, version, parameters, code,
  environment).

A new query is a template in ``cypher/`` plus one module here, and one method on the facade.
Which relationships count as lineage, and what "as of" means, is documented in
``docs/queries.md``.
"""

from __future__ import annotations

from lineagegraph.queries.activities import activity_params
from lineagegraph.queries.backtrace import AgentRef, Backtrace, Frame, Usage
from lineagegraph.queries.blame import BlameReport, Suspect
from lineagegraph.queries.diff import ActivityChange, LineageDiff, ValueChange, VersionChange
from lineagegraph.queries.graph import LineageGraph
from lineagegraph.queries.path import LineagePath
from lineagegraph.queries.recipe import Recipe, RecipeInput, RecipeStep
from lineagegraph.queries.search import SearchResults
from lineagegraph.queries.walk import CONTEXT_RELATIONS, LINEAGE_RELATIONS, Direction

__all__ = [
    "CONTEXT_RELATIONS",
    "LINEAGE_RELATIONS",
    "ActivityChange",
    "AgentRef",
    "Backtrace",
    "BlameReport",
    "Direction",
    "Frame",
    "LineageDiff",
    "LineageGraph",
    "LineagePath",
    "Recipe",
    "RecipeInput",
    "RecipeStep",
    "SearchResults",
    "Suspect",
    "Usage",
    "ValueChange",
    "VersionChange",
    "activity_params",
]
