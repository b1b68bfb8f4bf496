"""The query library's templates: load ``.cypher`` files and substitute their depth bounds.

Variable-length bounds cannot be Cypher parameters, so a template writes each bound as a literal
default followed by a marker comment naming it, e.g. ``{1,10/*$depth*/}`` or ``*1..10/*$depth*/``.
As written the template runs in Neo4j Browser with the default; :meth:`Template.render` replaces
the number in front of each marker with a validated integer. That number is the only text ever
substituted into a query; everything else travels as a parameter.

The header (the leading ``//`` lines) says what the template answers and lists its parameters;
a line ``//   $name  (required) ...`` marks a parameter that must be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

from lineagegraph.errors import NotFoundError, QueryError

__all__ = ["DEFAULT_DEPTH", "MAX_DEPTH", "Template", "load", "names", "validate_bound"]

DEFAULT_DEPTH = 10
MAX_DEPTH = 50

_PACKAGE = "lineagegraph.cypher"
_BOUND = re.compile(r"(\d+)\s*/\*\$(\w+)\*/")
_REQUIRED = re.compile(r"^//\s+\$(\w+)\s+\(required\)", re.MULTILINE)
_PARAM = re.compile(r"\$(\w+)")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def validate_bound(name: str, value: object) -> int:
    """Return ``value`` if it is an int in 1..MAX_DEPTH, else raise :class:`QueryError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"{name} must be a whole number, not {value!r}")
    if not 1 <= value <= MAX_DEPTH:
        raise QueryError(f"{name} must be between 1 and {MAX_DEPTH}, not {value}")
    return value


@dataclass(frozen=True)
class Template:
    """One query template: its name, where it came from, and its Cypher text."""

    name: str
    text: str
    origin: str

    @cached_property
    def header(self) -> str:
        lines = []
        for line in self.text.splitlines():
            if not line.startswith("//"):
                break
            lines.append(line[2:].removeprefix(" "))
        return "\n".join(lines).strip()

    @property
    def description(self) -> str:
        return self.header.splitlines()[0] if self.header else ""

    @cached_property
    def bounds(self) -> dict[str, int]:
        """Bound name -> the default written in the template."""
        found: dict[str, int] = {}
        for match in _BOUND.finditer(self.text):
            found.setdefault(match.group(2), int(match.group(1)))
        return found

    @cached_property
    def parameters(self) -> frozenset[str]:
        """The ``$name`` parameters the query uses (comments and string literals ignored)."""
        code = _STRING.sub("''", _COMMENT.sub(" ", self.text))
        return frozenset(_PARAM.findall(code))

    @cached_property
    def required(self) -> frozenset[str]:
        return frozenset(_REQUIRED.findall(self.text)) & self.parameters

    def render(self, **bounds: object) -> str:
        """The query text with each bound set to the given value or its default."""
        unknown = set(bounds) - set(self.bounds)
        if unknown:
            raise QueryError(
                f"template {self.name!r} has no bound named {', '.join(sorted(unknown))}"
            )
        values = {
            name: validate_bound(name, bounds.get(name, default))
            for name, default in self.bounds.items()
        }
        key = tuple(values.items())
        text = self._rendered.get(key)
        if text is None:
            text = self._rendered[key] = _BOUND.sub(lambda m: f"{values[m.group(2)]}/*${m.group(2)}*/", self.text)
        return text

    @cached_property
    def _rendered(self) -> dict[tuple[tuple[str, int], ...], str]:
        # Rendered texts by bound values (at most 50 per bound): a lineage query on a small graph
        # spent a tenth of its time re-reading and re-rendering its template.
        return {}


def names() -> list[str]:
    """The names of the templates shipped with lineagegraph."""
    return sorted(
        p.name.removesuffix(".cypher")
        for p in resources.files(_PACKAGE).iterdir()
        if p.name.endswith(".cypher")
    )


def load(name_or_path: str) -> Template:
    """Load a shipped template by name, or a ``.cypher`` file by path."""
    if name_or_path.endswith(".cypher") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise NotFoundError(f"no Cypher file at {name_or_path}")
        return Template(path.stem, path.read_text(encoding="utf-8"), str(path))
    return _shipped(name_or_path)


@cache
def _shipped(name: str) -> Template:
    # Cached: the shipped files do not change while the package is loaded, and a Template keeps
    # its rendered texts. Unknown names raise, and exceptions are not cached.
    resource = resources.files(_PACKAGE) / f"{name}.cypher"
    if not re.fullmatch(r"\w+", name) or not resource.is_file():
        raise NotFoundError(f"no query template named {name!r} (known: {', '.join(names())})")
    return Template(name, resource.read_text(encoding="utf-8"), f"{_PACKAGE}/{name}.cypher")
