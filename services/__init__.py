"""Long-running services that feed the graph: each watches or receives a source and delivers what
it reads through the same import path as the file importers (:func:`lineagegraph.importers.base.run_import`
and :meth:`lineagegraph.store.GraphStore.import_elements`)."""
