"""An example importer: a CSV file of processing steps becomes PROV lineage.

Each row says that an activity read one location and wrote another::

    activity,input,output
    clean,raw/transactions.csv,clean/transactions.parquet
    featurize,clean/transactions.parquet,features/2024q1.parquet

It shows the whole contract of ``lineagegraph.importers.base`` and nothing more:

* ``name`` is recorded on every import run;
* ``units(source)`` reads the file, checks every row first, and only then yields one
  ``ImportUnit`` (so a bad file writes nothing), raising ``InputError`` with the file and line;
* ids come from ``lineagegraph.identity``: locations by ``location_id`` (relative paths are taken
  relative to the CSV file), the activities this source invents by ``source_id``.

It is registered in ``pyproject.toml`` under the entry-point group ``lineagegraph.importers``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from lineagegraph.errors import InputError
from lineagegraph.identity import location_id, source_id
from lineagegraph.importers.base import ImportUnit
from lineagegraph.model import Activity, Element, Entity, Relation, Used, WasGeneratedBy

__all__ = ["CsvImporter"]

COLUMNS = ("activity", "input", "output")


class CsvImporter:
    """Reads ``activity,input,output`` CSV files; one file is one import unit."""

    name = "csv-example"

    def units(self, source: str) -> Iterator[ImportUnit]:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the file: {exc}", source=source) from exc
        reader = csv.DictReader(text.splitlines())
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise InputError(f"the header must be {','.join(COLUMNS)}", source=source, location="line 1")
        elements: dict[str, Element] = {}
        relations: list[Relation] = []
        for row in reader:
            line = f"line {reader.line_num}"
            values = {column: (row.get(column) or "").strip() for column in COLUMNS}
            empty = [column for column, value in values.items() if not value]
            if empty or None in row:
                problem = f"empty {', '.join(empty)}" if empty else "too many fields"
                raise InputError(f"every row needs exactly activity, input and output ({problem})",
                                 source=source, location=line)
            activity = source_id(self.name, values["activity"])
            used = location_id(values["input"], base=str(path.parent))
            made = location_id(values["output"], base=str(path.parent))
            elements.setdefault(activity, Activity(id=activity, label=values["activity"]))
            elements.setdefault(used, Entity(id=used, uri=used, label=values["input"]))
            elements.setdefault(made, Entity(id=made, uri=made, label=values["output"]))
            relations.append(Used(activity=activity, entity=used))
            relations.append(WasGeneratedBy(entity=made, activity=activity))
        if not relations:
            raise InputError("no rows after the header", source=source)
        yield ImportUnit(source=source, elements=list(elements.values()), relations=relations)
