"""A piece of the lineage graph as returned by queries: nodes, relationships, and the focus.

This is the one result shape that the query API, the HTML export, the PROV export and the
notebook display share. pandas and networkx conversions are optional extras: the import happens
inside the method, with a clear message when the package is missing.

This module sits below every renderer and codec and imports none of them: ``to_html``,
``_repr_html_`` and ``to_prov`` find their renderer by module name when called (see
``_RENDERERS``), so :mod:`lineagegraph.html` and :mod:`lineagegraph.provcodec` can import this
module without a circle.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, Field, SkipValidation

from lineagegraph.errors import LineageGraphError
from lineagegraph.model import ElementKind

if TYPE_CHECKING:  # pragma: no cover - typing only
    import networkx
    import pandas
    from prov.model import ProvDocument

__all__ = ["GraphNode", "GraphRelationship", "Subgraph", "dataframe", "require_extra"]

# Which import runs and sources wrote an element: read by `lineagegraph imports`, left out of query
# results (the lineage templates do not even send them: with the compact rows, a 2k-node lineage's
# query and decoding went from 43 to 31 ms).
IMPORT_BOOKKEEPING = frozenset({"import_runs", "import_sources", "import_shared", "created_by"})
# Properties that are bookkeeping rather than lineage; hidden from displays. Those besides the import
# bookkeeping stay in query results: the relationship key, stub marks and exact PROV attributes.
BOOKKEEPING = IMPORT_BOOKKEEPING | {"stub", "prov_attrs", "key"}


# What the conveniences on Subgraph call: name -> (module, function). The modules are imported on
# first use, by name, because they are the layer above and themselves import this module.
_RENDERERS: dict[str, tuple[str, str]] = {
    "html": ("lineagegraph.html", "render_html"),
    "iframe": ("lineagegraph.html", "render_iframe"),
    "prov": ("lineagegraph.provcodec", "subgraph_to_document"),
}


def _renderer(name: str) -> Callable[..., Any]:
    module, function = _RENDERERS[name]
    return cast("Callable[..., Any]", getattr(importlib.import_module(module), function))


def require_extra(module: str, extra: str) -> Any:
    """Import an optional dependency or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LineageGraphError(
            f"this needs the optional package '{module}': pip install 'lineagegraph[{extra}]'"
        ) from exc


def dataframe(rows: list[dict[str, Any]], columns: list[str] | None = None) -> pandas.DataFrame:
    """A pandas DataFrame of ``rows`` (pandas is the optional ``pandas`` extra)."""
    pd = require_extra("pandas", "pandas")
    frame: pandas.DataFrame = pd.DataFrame(rows, columns=columns)
    return frame


# Labels and property maps are taken as they are, not validated item by item: they come from the
# driver (or a template's plain maps) already as lists and dicts, and checking every key and value
# of thousands of them was half the cost of decoding a large lineage (4.2 -> 2.0 ms for 1,230
# nodes and 2,500 relationships).
class GraphNode(BaseModel):
    """One node: its id, Neo4j labels and properties."""

    id: str
    labels: SkipValidation[list[str]] = Field(default_factory=list)
    properties: SkipValidation[dict[str, Any]] = Field(default_factory=dict)

    @property
    def kind(self) -> ElementKind | None:
        for kind in ElementKind:
            if kind.value in self.labels:
                return kind
        return None

    @property
    def display_name(self) -> str:
        label = self.properties.get("label")
        return str(label) if label else self.properties.get("qname") or self.id

    def public_properties(self) -> dict[str, Any]:
        return {k: v for k, v in self.properties.items() if k not in BOOKKEEPING}


class GraphRelationship(BaseModel):
    """One relationship, from ``start`` (the effect) to ``end`` (the cause)."""

    start: str
    end: str
    type: str
    properties: SkipValidation[dict[str, Any]] = Field(default_factory=dict)


class Subgraph(BaseModel):
    """Nodes and relationships, plus the ids the query was about (``focus``)."""

    nodes: list[GraphNode] = Field(default_factory=list)
    relationships: list[GraphRelationship] = Field(default_factory=list)
    focus: list[str] = Field(default_factory=list)

    def node(self, node_id: str) -> GraphNode | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    @property
    def ids(self) -> set[str]:
        return {n.id for n in self.nodes}

    def to_networkx(self) -> networkx.MultiDiGraph[str]:
        nx = require_extra("networkx", "networkx")
        graph: networkx.MultiDiGraph[str] = nx.MultiDiGraph()
        for node in self.nodes:
            graph.add_node(node.id, labels=list(node.labels), **node.properties)
        for rel in self.relationships:
            # networkx's own `key` argument tells parallel edges apart; the graph's key goes in it.
            attributes = {k: v for k, v in rel.properties.items() if k not in ("key", "type")}
            graph.add_edge(rel.start, rel.end, key=f"{rel.type}:{rel.properties.get('key', '')}",
                           type=rel.type, **attributes)
        return graph

    def to_pandas(self) -> pandas.DataFrame:
        """One row per node: id, kind, label and the public properties."""
        rows = [
            {"id": n.id, "kind": n.kind.value if n.kind else None, "label": n.display_name,
             **n.public_properties()}
            for n in self.nodes
        ]
        return dataframe(rows)

    def relationships_frame(self) -> pandas.DataFrame:
        return dataframe([{"start": r.start, "type": r.type, "end": r.end, **r.properties}
                             for r in self.relationships])

    def to_html(self, path: str | Path | None = None, *, title: str = "Lineage", group_above: int | None = None) -> str:
        """Render a self-contained interactive page; write it to ``path`` when given.

        Past ``group_above`` nodes (default: the renderer's, 5,000) the page opens on an overview
        of expandable groups (see docs/html.md).
        """
        options = {} if group_above is None else {"group_above": group_above}
        page: str = _renderer("html")(self, title=title, **options)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def _repr_html_(self) -> str:
        page: str = _renderer("iframe")(self)
        return page

    def to_prov(self) -> ProvDocument:
        """This subgraph as a W3C PROV document (see :mod:`lineagegraph.provcodec`)."""
        document: ProvDocument = _renderer("prov")(self)
        return document

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, default=str)
