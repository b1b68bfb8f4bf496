// ancestors: everything element $id was derived from (its upstream lineage), as one subgraph.
//
// Walks lineage edges outgoing (effect -> cause) up to `depth` hops: USED, WAS_GENERATED_BY,
// WAS_DERIVED_FROM, WAS_INFORMED_BY, WAS_STARTED_BY, WAS_ENDED_BY, HAD_MEMBER. Agents
// (WAS_ASSOCIATED_WITH, WAS_ATTRIBUTED_TO, then ACTED_ON_BEHALF_OF), the general location of a
// version (SPECIALIZATION_OF), alternates (ALTERNATE_OF) and WAS_INFLUENCED_BY influencers are
// attached one hop away as context and never walked through. Returns the focus node, the
// distinct nodes (focus first) and every relationship among them. See docs/queries.md.
//
// Parameters:
//   $id         (required) id of the element to start from
//   $kinds      list of kinds to return ('Entity', 'Activity', 'Agent'), or null for all
//   $prov_type  a PROV type the returned nodes must have (full IRI, prefixed or local name), or null
//   $text       text the label or id must contain (case-insensitive), or null
//   $since      ISO time: keep nodes generated/started at or after it, or null
//   $until      ISO time: keep nodes generated/started at or before it, or null
//   $as_of      ISO time: the lineage as the graph knew it then (see docs/queries.md), or null
//   $limit      most nodes to return besides the focus (newest first), or null for no limit
// Bounds (lineagegraph substitutes the number before the marker; the literal is the default):
//   depth = 10, 1..50
//
// Neo4j Browser:
//   :param {id: 'demo:model-v2', kinds: null, prov_type: null, text: null, since: null, until: null, as_of: null, limit: 500}
MATCH (x:Element {id: $id})
// Two walks, one of which runs. Without $as_of, a plain variable-length pattern whose end nodes are
// made DISTINCT: Neo4j plans it as a pruning breadth-first expand that visits each node once. With
// $as_of, every hop must pass the time test, which only a quantified path pattern can say.
OPTIONAL CALL (x) {
  WITH x WHERE $as_of IS NULL
  MATCH (x)-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER*1..10/*$depth*/]->(n)
  RETURN DISTINCT n
UNION
  WITH x WHERE $as_of IS NOT NULL
    AND coalesce(CASE WHEN toString(coalesce(x.generated_at, x.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
                      THEN datetime(toString(coalesce(x.generated_at, x.started_at))) END
                 <= datetime($as_of), true)
  MATCH (x)
    (()-[r:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->(m)
      WHERE coalesce(CASE WHEN toString(r.time) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?' THEN datetime(toString(r.time)) END
                     <= datetime($as_of), true)
        AND coalesce(CASE WHEN toString(coalesce(m.generated_at, m.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
                          THEN datetime(toString(coalesce(m.generated_at, m.started_at))) END
                     <= datetime($as_of), true)
    ){1,10/*$depth*/}(n)
  RETURN DISTINCT n
}
WITH x, collect(DISTINCT n) AS walked
// As of a time before $id existed, it has no lineage and no context.
WITH x, [s IN [x] WHERE $as_of IS NULL
   OR coalesce(CASE WHEN toString(coalesce(s.generated_at, s.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
                    THEN datetime(toString(coalesce(s.generated_at, s.started_at))) END
               <= datetime($as_of), true)] + walked AS core
// Context, one hop from every walked node; agents also get whom they acted for.
CALL (core) {
  UNWIND core AS c
  OPTIONAL MATCH (c)-[:WAS_ASSOCIATED_WITH|WAS_ATTRIBUTED_TO|SPECIALIZATION_OF|ALTERNATE_OF|WAS_INFLUENCED_BY]->(o)
  OPTIONAL MATCH (c)<-[:ALTERNATE_OF]-(alt)
  OPTIONAL MATCH (o:Agent)-[:ACTED_ON_BEHALF_OF]->(boss)
  WITH [o, alt, boss] AS found
  UNWIND found AS ctx
  WITH ctx WHERE ctx IS NOT NULL AND ($as_of IS NULL OR coalesce(
      CASE WHEN toString(coalesce(ctx.generated_at, ctx.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
           THEN datetime(toString(coalesce(ctx.generated_at, ctx.started_at))) END <= datetime($as_of), true))
  RETURN collect(DISTINCT ctx) AS context
}
// Filters and the limit apply to every node except the focus.
CALL (x, core, context) {
  UNWIND core + context AS n
  WITH DISTINCT n WHERE n <> x
    AND ($kinds IS NULL OR any(k IN $kinds WHERE k IN labels(n)))
    AND ($prov_type IS NULL OR any(t IN CASE WHEN valueType(n.prov_type) STARTS WITH 'LIST' THEN n.prov_type
                                            ELSE [n.prov_type] END
                                   WHERE t = $prov_type OR t ENDS WITH '#' + $prov_type
                                      OR t ENDS WITH '/' + $prov_type OR t ENDS WITH ':' + $prov_type))
    AND ($text IS NULL OR toLower(coalesce(n.label, '')) CONTAINS toLower($text)
                       OR toLower(n.id) CONTAINS toLower($text))
  WITH n, CASE WHEN toString(coalesce(n.generated_at, n.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
               THEN datetime(toString(coalesce(n.generated_at, n.started_at))) END AS t
  WHERE ($since IS NULL OR coalesce(t >= datetime($since), false))
    AND ($until IS NULL OR coalesce(t <= datetime($until), false))
  WITH n, t ORDER BY t IS NULL, t DESC, n.id
  // The limit slices the ordered list: a LIMIT clause with a runtime value is planned as a top-n
  // that ran out of transaction memory on a 10k-input aggregate.
  WITH collect(n) AS ordered
  RETURN CASE WHEN $limit IS NULL THEN ordered ELSE ordered[..$limit] END AS kept
}
WITH x, [x] + kept AS nodes
CALL (nodes) {
  UNWIND nodes AS a
  MATCH (a)-[r]->(b) WHERE b IN nodes
  RETURN collect([type(r), a.id, b.id, [k IN keys(r) WHERE NOT k IN ['import_runs', 'import_sources', 'import_shared', 'created_by'] | [k, r[k]]]]) AS relationships
}
// Lists, not node and relationship objects or maps: nodes as [id, labels, properties] and
// relationships as [type, start id, end id, properties], properties as [key, value] pairs without
// the import bookkeeping (import runs and sources; see docs/queries.md). Drivers decode this
// several times faster, and a lineage can have thousands of nodes; Browser shows it as a table
// (`focus` stays a node).
RETURN x AS focus, [n IN nodes | [n.id, labels(n), [k IN keys(n) WHERE NOT k IN ['import_runs', 'import_sources', 'import_shared', 'created_by'] AND k <> 'id' | [k, n[k]]]]] AS nodes, relationships
