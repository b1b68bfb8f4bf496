// recipe: everything needed to re-run the processing that produced element $id.
//
// One row per activity upstream of $id (lineage edges of ancestors.cypher, within `depth`
// hops; $id itself when it is an activity), oldest first, with the activity as executed
// (params, config, code_version and every other property), its agents (code versions, images,
// people, with plan and role), its inputs with location and version (uri, digest, the general
// location it is a version of, and which activity produced it, if any) and its outputs.
// `upstream` lists the activities it depends on; lineagegraph orders the steps so that each
// comes after those (ties oldest first). The walk is planned as a pruning breadth-first expand
// (every node visited once); nodes come back as maps (`{id, labels, properties}`), which drivers
// decode many times faster than node objects.
//
// Parameters:
//   $id         (required) id of the element to reproduce
// Bounds (lineagegraph substitutes the number before the marker; the literal is the default):
//   depth = 10, 1..50
//
// Neo4j Browser:
//   :param {id: 'demo:model-v2'}
MATCH (x:Element {id: $id})
OPTIONAL MATCH (x)
  (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->()){1,10/*$depth*/}(n:Activity)
WITH x, collect(DISTINCT n) AS walked
UNWIND CASE WHEN x:Activity THEN [x] ELSE [] END + walked AS act
WITH DISTINCT act
RETURN {id: act.id, labels: labels(act), properties: properties(act)} AS activity,
       [(act)-[w:WAS_ASSOCIATED_WITH]->(g:Agent) |
          {agent: {id: g.id, labels: labels(g), properties: properties(g)}, plan: w.plan, role: coalesce(w.role, w.`prov:role`),
           on_behalf_of: [(g)-[:ACTED_ON_BEHALF_OF]->(boss) | boss.id]}] AS agents,
       [(act)-[u:USED]->(e) |
          {entity: {id: e.id, labels: labels(e), properties: properties(e)}, role: coalesce(u.role, u.`prov:role`), time: u.time,
           general: [(e)-[:SPECIALIZATION_OF]->(loc) | {id: loc.id, labels: labels(loc), properties: properties(loc)}],
           generated_by: [(e)-[:WAS_GENERATED_BY]->(p:Activity) | p.id]}] AS inputs,
       [(e)-[g:WAS_GENERATED_BY]->(act) |
          {entity: {id: e.id, labels: labels(e), properties: properties(e)}, role: coalesce(g.role, g.`prov:role`), time: g.time,
           general: [(e)-[:SPECIALIZATION_OF]->(loc) | {id: loc.id, labels: labels(loc), properties: properties(loc)}]}] AS outputs,
       [(act)-[:USED|WAS_STARTED_BY|WAS_ENDED_BY]->(:Entity)-[:WAS_GENERATED_BY]->(up:Activity) | up.id]
         + [(act)-[:WAS_INFORMED_BY]->(up:Activity) | up.id] AS upstream
ORDER BY act.started_at IS NULL, act.started_at ASC, act.id
