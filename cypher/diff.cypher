// diff: the upstream lineage of two elements side by side ($a and $b, usually two versions of an output).
//
// One row per distinct upstream node of either (the two foci themselves excluded), with flags
// saying on which side it appears. lineagegraph pairs corresponding activities and versions
// from these rows and compares parameters, code versions and environments (see
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
// Neither walk passes through the other focus: when B is a revision of A, B's side holds what
// B was made from besides A, so A's own making is compared with B's instead of counted as shared.
CALL (a, b) {
  OPTIONAL MATCH (a)
    (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->(m)
      WHERE m <> b){1,10/*$depth*/}(n)
  RETURN collect(DISTINCT n) AS up_a
}
CALL (a, b) {
  OPTIONAL MATCH (b)
    (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->(m)
      WHERE m <> a){1,10/*$depth*/}(n)
  RETURN collect(DISTINCT n) AS up_b
}
UNWIND up_a + up_b AS n
WITH DISTINCT a, b, up_a, up_b, n WHERE n <> a AND n <> b
RETURN n AS node,
       n IN up_a AS in_a,
       n IN up_b AS in_b,
       [(n)-[:SPECIALIZATION_OF]->(g) | g.id] AS generals,
       [(n)-[:WAS_ASSOCIATED_WITH]->(g:Agent) | g] AS agents
ORDER BY in_a DESC, in_b DESC, n.id
