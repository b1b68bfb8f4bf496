"""Importers that other packages provide, found through the entry-point group ``lineagegraph.importers``.

A third-party package makes its importer available by declaring, in its own ``pyproject.toml``::

    [project.entry-points."lineagegraph.importers"]
    csv-example = "lineagegraph_csv_example:CsvImporter"

The name on the left is what users type (``lineagegraph import with csv-example FILE...``); the
object on the right is a class (called with no arguments) or an instance that satisfies
:class:`~lineagegraph.importers.base.Importer`. The registry only finds and checks it: writing still
goes through :func:`~lineagegraph.importers.base.run_import`, like every other source.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from lineagegraph.errors import ConfigError, NotFoundError
from lineagegraph.importers.base import Importer

__all__ = ["ENTRY_POINT_GROUP", "available", "load_importer"]

ENTRY_POINT_GROUP = "lineagegraph.importers"


def available() -> dict[str, EntryPoint]:
    """The registered importers by name (the first registration of a name wins, as pip orders them)."""
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, point)
    return dict(sorted(found.items()))


def load_importer(name: str) -> Importer:
    """Load the importer registered as ``name`` and check that it keeps the contract.

    Raises :class:`NotFoundError` for an unknown name (listing the known ones) and
    :class:`ConfigError` when the entry point cannot be loaded or what it names is no importer.
    """
    points = available()
    point = points.get(name)
    if point is None:
        known = ", ".join(points) or "none are installed"
        raise NotFoundError(f"no importer named {name!r} is registered under {ENTRY_POINT_GROUP!r} ({known})")
    where = f"entry point {name!r} ({point.value})"
    try:
        target = point.load()
    except Exception as exc:  # a broken plugin is the plugin's fault; say which one, keep the cause
        raise ConfigError(f"{where} could not be loaded: {exc}") from exc
    try:
        importer = target() if isinstance(target, type) else target
    except Exception as exc:
        raise ConfigError(f"{where} could not be created without arguments: {exc}") from exc
    if not isinstance(getattr(importer, "name", None), str) or not callable(getattr(importer, "units", None)):
        raise ConfigError(f"{where} is not an importer: it needs a str `name` and a `units(source)` method")
    checked: Importer = importer
    return checked
