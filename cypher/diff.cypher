// diff: the upstream lineage of two elements side by side ($a and $b, usually two versions of an output).
//
// One row: the makers of $a and $b (the activities that generated them, newest first), and
// `upstream`, every distinct upstream node of either (the two foci themselves excluded) as a map
// with `side` (1: only A's, 2: only B's, 3: both), `generals` (ids of the locations it is a version
// of) and `agents` (ids of the agents associated with it), shared first, then A's, then B's, by id;
// `agents` holds each of those agents once. lineagegraph pairs corresponding activities and
// versions from this and compares parameters, code versions and environments (see
// docs/queries.md). Lineage edges are those of ancestors.cypher.
//
// Parameters:
//   $a          (required) id of the first element
//   $b          (required) id of the second element
// Bounds (lineagegraph substitutes the number before the marker; the literal is the default):
//   depth = 10, 1..50
//
// Neo4j Browser:
//   :param {a: 'demo:model-v1', b: 'demo:model-v2'}
MATCH (a:Element {id: $a}), (b:Element {id: $b})
CALL (a, b) {
  // Neither walk passes through the other focus: when B is a revision of A, B's side holds what
  // B was made from besides A, so A's own making is compared with B's instead of counted as shared.
  // Neo4j plans each walk as a pruning breadth-first expand (every node visited once), the test
  // on `m` checked while expanding.
  CALL (a, b) {
    MATCH (a)
      (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->(m)
        WHERE m <> b){1,10/*$depth*/}(n)
    RETURN DISTINCT n, 1 AS side
  UNION
    MATCH (b)
      (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->(m)
        WHERE m <> a){1,10/*$depth*/}(n)
    RETURN DISTINCT n, 2 AS side
  }
  // Which side(s) by grouping, not by list membership: one hash lookup per node instead of a scan
  // of the other side's list.
  WITH a, b, n, sum(side) AS side WHERE n <> a AND n <> b
  WITH n, side, [(n)-[:WAS_ASSOCIATED_WITH]->(g:Agent) | g] AS agents
  ORDER BY CASE side WHEN 3 THEN 0 ELSE side END, n.id
  WITH collect({id: n.id, labels: labels(n), properties: properties(n), side: side,
                generals: [(n)-[:SPECIALIZATION_OF]->(g) | g.id], agents: [g IN agents | g.id]}) AS upstream,
       collect(agents) AS agent_lists
  // Agents are shared by many activities: each is sent once.
  RETURN upstream, COLLECT { UNWIND agent_lists AS l UNWIND l AS g WITH DISTINCT g
                             RETURN {id: g.id, labels: labels(g), properties: properties(g)} } AS agents
}
// The activities that made A and B (newest first), compared whatever their names.
RETURN COLLECT { MATCH (a)-[:WAS_GENERATED_BY]->(m:Activity) RETURN m.id ORDER BY m.started_at DESC }[0] AS maker_a,
       COLLECT { MATCH (b)-[:WAS_GENERATED_BY]->(m:Activity) RETURN m.id ORDER BY m.started_at DESC }[0] AS maker_b,
       upstream, agents
