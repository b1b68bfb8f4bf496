// subgraph: the elements with the given ids and every relationship among them.
//
// Used to join the two halves of a both-ways lineage; handy in Browser to list a hand-picked set.
// Nodes and relationships come back as maps (`{id, labels, properties}` and
// `{type, start, end, properties}`), which drivers decode many times faster than graph objects.
//
// Parameters:
//   $ids        (required) list of element ids
//
// Neo4j Browser:
//   :param {ids: ['demo:raw-data', 'demo:model-v2']}
MATCH (n:Element) WHERE n.id IN $ids
WITH collect(n) AS nodes
CALL (nodes) {
  UNWIND nodes AS a
  // The ids are a parameter list, which Neo4j turns into a hash set for this test.
  MATCH (a)-[r]->(b:Element) WHERE b.id IN $ids
  RETURN collect({type: type(r), start: a.id, end: b.id, properties: properties(r)}) AS relationships
}
RETURN [n IN nodes | {id: n.id, labels: labels(n), properties: properties(n)}] AS nodes, relationships
