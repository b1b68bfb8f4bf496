"""Importers: one module per source, all behind the small contract in :mod:`.base`.

An importer reads a source (a file, a directory, a stream of objects) and yields
:class:`~lineagegraph.importers.base.ImportUnit` values: whole, validated batches of PROV elements
and relations. It never talks to Neo4j itself; :func:`~lineagegraph.importers.base.run_import`
writes each unit in one transaction and records the import run.
"""

from lineagegraph.importers.base import Importer, ImportUnit, run_import

__all__ = ["ImportUnit", "Importer", "run_import"]
