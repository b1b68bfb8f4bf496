"""``lineagegraph export html``: one node's lineage as an interactive, offline HTML page."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

import typer

from lineagegraph.cli._app import Direction, export_app, is_quiet, open_store
from lineagegraph.queries import LineageGraph
from lineagegraph.templates import DEFAULT_DEPTH, MAX_DEPTH

_HEADINGS = {"up": "Upstream lineage of", "down": "Downstream lineage of", "both": "Lineage of"}


def default_path(element_id: str) -> Path:
    """``lineage-<id>.html`` with the id made file-name safe (plus a hash when it had to change)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", element_id).strip("._-")[:80] or "element"
    if safe != element_id:
        # Different ids can sanitise alike ("a:b", "a/b"); keep their files apart.
        safe += "-" + hashlib.sha256(element_id.encode()).hexdigest()[:8]
    return Path(f"lineage-{safe}.html")


@export_app.command("html")
def export_html(
    element_id: Annotated[str, typer.Argument(metavar="ID", help="Id of the node to start from.")],
    direction: Annotated[Direction, typer.Option(
        "--direction", "-d", help="up = where it came from, down = what it affects, or both.",
    )] = Direction.UP,
    depth: Annotated[int, typer.Option(
        min=1, max=MAX_DEPTH, help="How many relationships away from ID to follow.",
    )] = DEFAULT_DEPTH,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="File to write (default: lineage-<ID>.html here).",
        dir_okay=False,
    )] = None,
    title: Annotated[str | None, typer.Option(
        help="Page heading (default: names the node and the direction).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No server progress.")] = False,
) -> None:
    """Write the lineage of ID as one self-contained HTML page and print its path.

    The page draws offline (nothing is fetched), causes on the left and effects on the right;
    hover shows properties, a click opens the details panel, and the search box finds nodes.
    """
    with open_store(quiet=is_quiet(quiet)) as store:
        subgraph = LineageGraph(store).lineage(element_id, direction=direction.value, depth=depth)
    if title is None:
        start = subgraph.node(element_id)
        name = start.display_name if start is not None else element_id
        title = f"{_HEADINGS[direction.value]} {name}"
    target = output if output is not None else default_path(element_id)
    subgraph.to_html(target, title=title)
    typer.echo(str(target))
