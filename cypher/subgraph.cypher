// subgraph: the elements with the given ids and every relationship among them.
//
// Used to join the two halves of a both-ways lineage; handy in Browser to list a hand-picked set.
// Nodes come back as lists [id, labels, properties] and relationships as [type, start id, end id,
// properties], properties as [key, value] pairs without the import bookkeeping, as in
// ancestors.cypher: drivers decode them many times faster than graph objects.
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
  RETURN collect([type(r), a.id, b.id, [k IN keys(r) WHERE NOT k IN ['import_runs', 'import_sources', 'import_shared', 'created_by'] | [k, r[k]]]]) AS relationships
}
RETURN [n IN nodes | [n.id, labels(n), [k IN keys(n) WHERE NOT k IN ['import_runs', 'import_sources', 'import_shared', 'created_by'] AND k <> 'id' | [k, n[k]]]]] AS nodes, relationships
