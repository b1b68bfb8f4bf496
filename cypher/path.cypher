// path: how element $a was derived from element $b — the shortest lineage path from $a back to $b.
//
// Follows the lineage edges of ancestors.cypher outgoing from $a (effect -> cause) for at most
// `depth` hops and returns one shortest path, or a null path when $a was not derived from $b
// within that bound (null lists). (To ask the other way round, swap $a and $b.) SHORTEST is a
// breadth-first search that stops at the first path found, so diamonds cost nothing. Returns the
// path's nodes (`{id, labels, properties}`) and relationships (`{type, start, end, properties}`) as
// maps, which drivers decode many times faster than a path object.
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
RETURN [n IN nodes(p) | {id: n.id, labels: labels(n), properties: properties(n)}] AS nodes,
       [r IN relationships(p) | {type: type(r), start: startNode(r).id, end: endNode(r).id,
                                 properties: properties(r)}] AS relationships
