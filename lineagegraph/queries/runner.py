"""Running one template against the store: parameters in, converted rows out.

:class:`TemplateRunner` is the base of :class:`~lineagegraph.queries.LineageGraph`; every query
module receives it and calls :meth:`TemplateRunner.run_named`. Values always travel as
parameters; the depth bound is the only text substituted into a query (see
:mod:`lineagegraph.templates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import neo4j

from lineagegraph import templates
from lineagegraph.errors import QueryError
from lineagegraph.queries.records import collect_ids, native
from lineagegraph.store import GraphStore

__all__ = ["TemplateRunner"]


class TemplateRunner:
    """Runs query templates on ``store`` in read transactions."""

    def __init__(self, store: GraphStore):
        self.store = store

    def cypher(self, template: str, **params: Any) -> list[dict[str, Any]]:
        """Run a template (a shipped name or a ``.cypher`` path) and return its rows.

        Parameters the template uses but that are not given are passed as null (every shipped
        filter treats null as "any"); a parameter named like a bound (``depth``) also sets it.
        Nodes come back as ``{id, labels, properties}``, relationships as
        ``{type, start, end, properties}``, paths as ``{nodes, relationships}``.
        """
        return self._run(templates.load(template), params)

    def run_named(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the shipped template ``name`` (``cypher/NAME.cypher``)."""
        return self._run(templates.load(name), params)

    def run_named_raw(self, name: str, **params: Any) -> list[neo4j.Record]:
        """Like :meth:`run_named`, but the driver's records as they come, without conversion.

        For templates that already return plain maps and lists, where converting every value
        again would cost more than the query (see :func:`~lineagegraph.queries.records.subgraph_from`).
        """
        return self._records(templates.load(name), params)

    def _records(self, template: templates.Template, params: Mapping[str, Any]) -> list[neo4j.Record]:
        missing = sorted(name for name in template.required if params.get(name) is None)
        if missing:
            raise QueryError(f"template {template.name!r} needs parameter(s): {', '.join(missing)}")
        bounds = {name: params[name] for name in template.bounds if params.get(name) is not None}
        query = template.render(**bounds)
        values = {name: params.get(name) for name in template.parameters} | dict(params)
        with self.store.driver.session(
            database=self.store.database,
            default_access_mode=neo4j.READ_ACCESS,
            notifications_min_severity="OFF",
        ) as session:
            try:
                return session.execute_read(lambda tx: list(tx.run(query, values)))
            except neo4j.exceptions.ClientError as exc:
                raise QueryError(f"template {template.name!r} failed: {exc.message}") from exc

    def _run(self, template: templates.Template, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        # The driver's record.data() (what GraphStore.read returns) drops node labels, which
        # every result here needs, so records are converted by `native` instead.
        records = self._records(template, params)
        ids: dict[str, str] = {}
        for record in records:
            collect_ids(list(record.values()), ids)
        return [
            {key: native(value, ids) for key, value in zip(record.keys(), record, strict=True)}
            for record in records
        ]
