// subgraph: the elements with the given ids and every relationship among them.
//
// Used to join the two halves of a both-ways lineage; handy in Browser to draw a hand-picked set.
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
  MATCH (a)-[r]->(b) WHERE b IN nodes
  RETURN collect(r) AS relationships
}
RETURN nodes, relationships
