// backtrace: the activities that produced element $id, like a debugger's stack of frames.
//
// One row per activity upstream of $id (within `depth` hops of the lineage edges of
// ancestors.cypher; $id itself when it is an activity): what ran, who ran it (associated
// agents, with plan and role), its inputs (used entities with role) and outputs (generated
// entities), and `upstream`, the ids of activities that produced its inputs or informed it.
// Rows come newest first; lineagegraph re-orders them so that every frame comes before the
// frames it depends on (ties newest first).
//
// Parameters:
//   $id         (required) id of the element to trace
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
RETURN act AS activity,
       [(act)-[w:WAS_ASSOCIATED_WITH]->(g:Agent) |
          {agent: g, plan: w.plan, role: coalesce(w.role, w.`prov:role`)}] AS agents,
       [(act)-[u:USED]->(e) | {entity: e, role: coalesce(u.role, u.`prov:role`), time: u.time}] AS inputs,
       [(e)-[g:WAS_GENERATED_BY]->(act) | {entity: e, role: coalesce(g.role, g.`prov:role`), time: g.time}] AS outputs,
       [(act)-[:USED|WAS_STARTED_BY|WAS_ENDED_BY]->(:Entity)-[:WAS_GENERATED_BY]->(up:Activity) | up.id]
         + [(act)-[:WAS_INFORMED_BY]->(up:Activity) | up.id] AS upstream
ORDER BY activity.started_at IS NULL, activity.started_at DESC, activity.id
