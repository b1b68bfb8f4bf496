"""Kubernetes as a lineage source: a raw object store, file import, and ETL into PROV.

* :mod:`.rawstore` keeps every observed version of watched objects, whole (the agent and
  ``lineagegraph import k8s`` record into it);
* :mod:`.files` reads ``kubectl`` JSON/YAML output and watch-event streams;
* :mod:`.extractors` and :mod:`.etl` derive lineage from the raw store, re-runnably.
"""

from lineagegraph.importers.k8s.rawstore import RawStore, RecordCounts, StoredObject, StoredVersion, WatchEvent

__all__ = ["RawStore", "RecordCounts", "StoredObject", "StoredVersion", "WatchEvent"]
