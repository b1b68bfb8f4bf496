// path: how element $a was derived from element $b — the shortest lineage path from $a back to $b.
//
// Follows the lineage edges of ancestors.cypher outgoing from $a (effect -> cause) for at most
// `depth` hops and returns one shortest path, or a null path when $a was not derived from $b
// within that bound. (To ask the other way round, swap $a and $b.)
//
// Parameters:
//   $a          (required) id of the later element (the output)
//   $b          (required) id of the earlier element (the suspected source)
// Bounds (lineagegraph substitutes the number before the marker; the literal is the default):
//   depth = 10, 1..50
//
// Neo4j Browser:
//   :param {a: 'demo:model-v2', b: 'demo:raw-data'}
MATCH (a:Element {id: $a}), (b:Element {id: $b})
OPTIONAL MATCH p = SHORTEST 1 (a)
  (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->()){1,10/*$depth*/}(b)
RETURN p AS path
