// lineage: ancestors and descendants of element $id joined into one subgraph, in one query.
//
// The upstream half is exactly what ancestors.cypher returns for $id and the downstream half what
// descendants.cypher returns (same lineage edges, context, Agent starts and $as_of rule; no
// filters, no limit); the result has the focus first, then the upstream nodes newest first, then
// the downstream nodes not already listed, oldest first, and every relationship among all of them
// (including those from a downstream node to an upstream one, which belong to neither half).
// See docs/queries.md.
//
// Parameters:
//   $id         (required) id of the element to start from
//   $as_of      ISO time: the lineage as the graph knew it then (see docs/queries.md), or null
// Bounds (lineagegraph substitutes the number before the marker; the literal is the default):
//   depth = 10, 1..50
//
// Neo4j Browser:
//   :param {id: 'demo:model-v2', as_of: null}
MATCH (x:Element {id: $id})
// Upstream: the walk of ancestors.cypher (one of two branches runs, see there), then its context.
CALL (x) {
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
  WITH x, [s IN [x] WHERE $as_of IS NULL
     OR coalesce(CASE WHEN toString(coalesce(s.generated_at, s.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
                      THEN datetime(toString(coalesce(s.generated_at, s.started_at))) END
                 <= datetime($as_of), true)] + walked AS core
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
  UNWIND core + context AS n
  WITH DISTINCT x, n WHERE n <> x
  WITH n, CASE WHEN toString(coalesce(n.generated_at, n.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
               THEN datetime(toString(coalesce(n.generated_at, n.started_at))) END AS t
  ORDER BY t IS NULL, t DESC, n.id
  RETURN collect(n) AS up
}
// Downstream: the walk of descendants.cypher (Agents start from what they did), then its context.
CALL (x) {
  WITH x, [x] + CASE WHEN x:Agent THEN [(x)<-[:WAS_ASSOCIATED_WITH|WAS_ATTRIBUTED_TO]-(s) | s] ELSE [] END AS starts
  WITH x, [s IN starts WHERE $as_of IS NULL
     OR coalesce(CASE WHEN toString(coalesce(s.generated_at, s.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
                      THEN datetime(toString(coalesce(s.generated_at, s.started_at))) END
                 <= datetime($as_of), true)] AS starts
  CALL (starts) {
    UNWIND starts AS s
    OPTIONAL CALL (s) {
      WITH s WHERE $as_of IS NULL
      MATCH (s)<-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER*1..10/*$depth*/]-(n)
      RETURN DISTINCT n
    UNION
      WITH s WHERE $as_of IS NOT NULL
      MATCH (s)
        (()<-[r:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]-(m)
          WHERE coalesce(CASE WHEN toString(r.time) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?' THEN datetime(toString(r.time)) END
                         <= datetime($as_of), true)
            AND coalesce(CASE WHEN toString(coalesce(m.generated_at, m.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
                              THEN datetime(toString(coalesce(m.generated_at, m.started_at))) END
                         <= datetime($as_of), true)
        ){1,10/*$depth*/}(n)
      RETURN DISTINCT n
    }
    RETURN collect(DISTINCT n) AS walked
  }
  WITH x, starts + walked AS core
  CALL (core) {
    UNWIND core AS c
    OPTIONAL MATCH (c)-[:WAS_ASSOCIATED_WITH|WAS_ATTRIBUTED_TO|SPECIALIZATION_OF|ALTERNATE_OF]->(o)
    OPTIONAL MATCH (c)<-[:ALTERNATE_OF|WAS_INFLUENCED_BY]-(alt)
    OPTIONAL MATCH (o:Agent)-[:ACTED_ON_BEHALF_OF]->(boss)
    WITH [o, alt, boss] AS found
    UNWIND found AS ctx
    WITH ctx WHERE ctx IS NOT NULL AND ($as_of IS NULL OR coalesce(
        CASE WHEN toString(coalesce(ctx.generated_at, ctx.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
             THEN datetime(toString(coalesce(ctx.generated_at, ctx.started_at))) END <= datetime($as_of), true))
    RETURN collect(DISTINCT ctx) AS context
  }
  UNWIND core + context AS n
  WITH DISTINCT x, n WHERE n <> x
  WITH n, CASE WHEN toString(coalesce(n.generated_at, n.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
               THEN datetime(toString(coalesce(n.generated_at, n.started_at))) END AS t
  ORDER BY t IS NULL, t ASC, n.id
  RETURN collect(n) AS down
}
// One list, each node once at its first place (grouping, not list scans, finds repeats).
CALL (x, up, down) {
  WITH [x] + up + down AS listed
  UNWIND range(0, size(listed) - 1) AS i
  WITH listed[i] AS n, min(i) AS first
  ORDER BY first
  RETURN collect(n) AS nodes
}
CALL (nodes) {
  UNWIND nodes AS a
  MATCH (a)-[r]->(b) WHERE b IN nodes
  RETURN collect([type(r), a.id, b.id, [k IN keys(r) WHERE NOT k IN ['import_runs', 'import_sources', 'import_shared', 'created_by'] | [k, r[k]]]]) AS relationships
}
// Compact lists without the import bookkeeping, as in ancestors.cypher (`focus` stays a node).
RETURN x AS focus, [n IN nodes | [n.id, labels(n), [k IN keys(n) WHERE NOT k IN ['import_runs', 'import_sources', 'import_shared', 'created_by'] AND k <> 'id' | [k, n[k]]]]] AS nodes, relationships
