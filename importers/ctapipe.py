"""Importer for ctapipe provenance logs: the JSON list of activities that ``Provenance`` writes.

ctapipe's tools record, per activity, its name and uuid, start/stop times, status and exit code,
the system it ran on (ctapipe and Python versions, executable, arguments, platform, selected
environment variables, installed packages), the configuration, and the input and output files as
``{url, role, reference_meta}``. This maps them onto PROV the way the IVOA Provenance Data Model
(which Gammapy's PIG 17 adopts for ctapipe interoperability) reads them:

* an activity is an ``Activity`` (IVOA *Activity*): label = name, ``started_at``/``ended_at``,
  ``status``, ``params`` = the configuration (IVOA *Parameter* values), system facts as properties;
* the software is an ``Agent`` per name and version (``ctapipe 0.19.2``, ``Python 3.11.4``;
  ``prov:SoftwareAgent``), the activity ``WAS_ASSOCIATED_WITH`` it with its role (IVOA
  *ActivityDescription*: which tool, which version);
* a file is a location ``Entity`` (:func:`lineagegraph.identity.location_id` of its URL, so the same
  file met by another source is the same node); an output is a version of it
  (:func:`lineagegraph.identity.version_id`) ``WAS_GENERATED_BY`` the activity, with the role;
  an input is ``USED`` with its role, pointing at the version an earlier activity of the same log
  wrote when there is one, else at the location. ``reference_meta`` (the CTAO reference metadata:
  product, process, activity, instrument) is kept as JSON, its data model and level as properties
  (IVOA *EntityDescription*).

A log is one import unit: validated whole, written all-or-nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lineagegraph.errors import InputError
from lineagegraph.identity import location_id, source_id, version_id
from lineagegraph.importers.base import ImportUnit
from lineagegraph.model import (
    Activity,
    Agent,
    Element,
    Entity,
    Relation,
    SpecializationOf,
    Used,
    WasAssociatedWith,
    WasGeneratedBy,
    stable_key,
)

__all__ = ["CtapipeImporter", "parse_log"]

SOURCE = "ctapipe"


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class FileRecord(_Model):
    url: str = Field(min_length=1)
    role: str | None = None
    reference_meta: dict[str, Any] | None = None


class ActivityRecord(_Model):
    activity_name: str = Field(min_length=1)
    activity_uuid: str | None = None
    status: str | None = None
    start: dict[str, Any] = Field(default_factory=dict)
    stop: dict[str, Any] = Field(default_factory=dict)
    system: dict[str, Any] = Field(default_factory=dict)
    input: list[FileRecord] = Field(default_factory=list)
    output: list[FileRecord] = Field(default_factory=list)
    config: dict[str, Any] | None = None
    exit_code: int | None = None
    duration_min: float | None = None


def _time(value: Any) -> datetime | None:
    """ctapipe writes astropy ``isot`` strings in UTC without an offset."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _json_values(text: str) -> list[Any]:
    """Every JSON value in ``text``, one after the other.

    ctapipe's tools open ``--provenance-log`` in append mode and write their run's list of
    activities each time, so a log that two runs shared holds two lists back to back (``][``).
    """
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos = len(text) - len(text.lstrip())
    while pos < len(text) or not values:  # an empty text still fails, as json.loads would
        value, end = decoder.raw_decode(text, pos)
        values.append(value)
        pos = len(text) - len(text[end:].lstrip())
    return values


def parse_log(data: bytes, source: str) -> list[ActivityRecord]:
    """Decode and validate a provenance log; raise :class:`InputError` naming the activity at fault.

    The log is a list of activities, or several lists back to back (runs appended to one log), or
    a single activity object.
    """
    try:
        values = _json_values(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", source=source, location=f"byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", source=source, location=f"line {exc.lineno}") from exc
    decoded: list[Any] = []
    for value in values:
        if isinstance(value, dict) and "activity_name" in value:
            decoded.append(value)  # one activity written on its own
        elif isinstance(value, list):
            decoded.extend(value)
        else:
            raise InputError("not a ctapipe provenance log: expected a list of activities", source=source)
    records: list[ActivityRecord] = []
    for number, item in enumerate(decoded):
        name = item.get("activity_name") if isinstance(item, dict) else None
        where = f"activity {number}" + (f" ({name})" if name else "")
        try:
            record = ActivityRecord.model_validate(item)
            for key in ("start", "stop"):
                _time(getattr(record, key).get("time_utc"))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{field}: {first['msg']}" if field else first["msg"], source=source,
                             location=where) from exc
        except ValueError as exc:
            raise InputError(f"bad time: {exc}", source=source, location=where) from exc
        records.append(record)
    return records


def _software(name: str, version: str, agents: dict[str, Agent]) -> str:
    agent_id = source_id(SOURCE, "software", name, version)
    agents.setdefault(agent_id, Agent(id=agent_id, label=f"{name} {version}", agent_type="SoftwareAgent",
                                      prov_type=["prov:SoftwareAgent"],
                                      attributes={"software_name": name, "software_version": version}))
    return agent_id


def _meta_props(meta: dict[str, Any] | None) -> dict[str, Any]:
    if not meta:
        return {}
    found = meta.get("product")
    product: dict[str, Any] = found if isinstance(found, dict) else {}
    props: dict[str, Any] = {"reference_meta": meta}
    for key in ("data_category", "data_level", "data_association", "data_model_name", "data_model_version",
                "format", "description"):
        if product.get(key) is not None:
            props[f"product_{key}"] = product[key]
    return props


class CtapipeImporter:
    """Reads ctapipe provenance logs; one :class:`ImportUnit` per file."""

    name = SOURCE
    # A log maps to the same graph whatever else is in the graph: unchanged logs may be skipped
    # (see lineagegraph.importers.base); there are no options.
    input_settings = ""

    def units(self, source: str) -> Iterator[ImportUnit]:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the file: {exc.strerror or exc}", source=source) from exc
        records = parse_log(data, source)
        elements, relations = self.map_records(records, base=str(Path(source).resolve().parent))
        yield ImportUnit(source=source, elements=elements, relations=relations)

    def map_records(self, records: list[ActivityRecord], *, base: str | None = None
                    ) -> tuple[list[Element], list[Relation]]:
        nodes: dict[str, Element] = {}
        agents: dict[str, Agent] = {}
        relations: list[Relation] = []
        written: dict[str, list[tuple[datetime, str]]] = {}  # location -> [(time, version)] in this log
        ordered = sorted(records, key=lambda r: _time(r.start.get("time_utc")) or datetime.min.replace(tzinfo=UTC))
        for record in ordered:
            started, ended = _time(record.start.get("time_utc")), _time(record.stop.get("time_utc"))
            uuid = record.activity_uuid or stable_key(record.activity_name, record.start.get("time_utc"),
                                                      record.system.get("arguments"))
            act_id = source_id(SOURCE, "activity", uuid)
            system = record.system
            found = system.get("python")
            python: dict[str, Any] = found if isinstance(found, dict) else {}
            attributes: dict[str, Any] = {
                "activity_uuid": uuid, "exit_code": record.exit_code, "duration_min": record.duration_min,
                "executable": system.get("executable"), "arguments": system.get("arguments"),
                "environment": system.get("environment"), "platform": system.get("platform"),
                "ctapipe_version": system.get("ctapipe_version"),
                "python_version": python.get("version_string"),
                "packages": [f"{p.get('name')}=={p.get('version')}" for p in python.get("packages") or []
                             if isinstance(p, dict)] or None,
            }
            nodes[act_id] = Activity(id=act_id, label=record.activity_name, started_at=started, ended_at=ended,
                                     status=record.status, params=record.config,
                                     code_version=system.get("ctapipe_version"), attributes=attributes)
            if system.get("ctapipe_version"):
                agent = _software("ctapipe", str(system["ctapipe_version"]), agents)
                relations.append(WasAssociatedWith(activity=act_id, agent=agent, attributes={"role": "software"}))
            py_version = python.get("version")
            if py_version:
                text = ".".join(str(p) for p in py_version) if isinstance(py_version, list) else str(py_version)
                agent = _software(str(python.get("implementation") or "Python"), text, agents)
                relations.append(WasAssociatedWith(activity=act_id, agent=agent, attributes={"role": "interpreter"}))
            for item in record.input:
                loc = self._location(nodes, item, base)
                earlier = [w for w in written.get(loc, []) if started is None or w[0] <= started]
                relations.append(Used(activity=act_id, entity=max(earlier)[1] if earlier else loc, time=started,
                                      attributes={"role": item.role}))
            for item in record.output:
                loc = self._location(nodes, item, base)
                version = version_id(loc, act_id)
                nodes[version] = Entity(id=version, label=f"{Path(item.url).name} ({record.activity_name})",
                                        uri=loc, generated_at=ended, attributes=_meta_props(item.reference_meta))
                relations.append(SpecializationOf(specific=version, general=loc))
                relations.append(WasGeneratedBy(entity=version, activity=act_id, time=ended,
                                                attributes={"role": item.role}))
                if ended is not None:
                    written.setdefault(loc, []).append((ended, version))
        return [*nodes.values(), *agents.values()], relations

    @staticmethod
    def _location(nodes: dict[str, Element], item: FileRecord, base: str | None) -> str:
        loc = location_id(item.url, base=base)
        if loc not in nodes:
            props = _meta_props(item.reference_meta) if item.reference_meta else {}
            nodes[loc] = Entity(id=loc, label=Path(item.url).name or loc, uri=loc,
                                extra_labels=frozenset({"Location"}), attributes=props)
        return loc
