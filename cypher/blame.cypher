// blame: given bad outputs $ids, rank the upstream elements they share — most likely culprit first.
//
// Walks the lineage edges of ancestors.cypher upstream from every flagged output (within
// `depth` hops) and counts, for each upstream entity and activity, how many of the flagged
// outputs reach it (`hits`). Ranked by hits, then newest first (a recent change is the more
// likely cause), then id. With 'Agent' in $kinds the agents associated with upstream activities
// are ranked too (an agent reached through any upstream activity counts once per output).
// Each walk is planned as a pruning breadth-first expand: every node visited once per output.
// Elements and agents come back as maps (`{id, labels, properties}`).
//
// Parameters:
//   $ids        (required) list of ids of the flagged (bad) outputs
//   $kinds      list of kinds to rank ('Entity', 'Activity', 'Agent'), or null for Entity and Activity
//   $min_hits   leave out elements reached by fewer flagged outputs than this, or null for 1
//   $limit      most rows to return, or null for no limit
// Bounds (lineagegraph substitutes the number before the marker; the literal is the default):
//   depth = 10, 1..50
//
// Neo4j Browser:
//   :param {ids: ['demo:report-1', 'demo:report-2'], kinds: null, min_hits: null, limit: 20}
UNWIND $ids AS fid
WITH DISTINCT fid
MATCH (f:Element {id: fid})
MATCH (f)
  (()-[:USED|WAS_GENERATED_BY|WAS_DERIVED_FROM|WAS_INFORMED_BY|WAS_STARTED_BY|WAS_ENDED_BY|HAD_MEMBER]->()){1,10/*$depth*/}(u)
WITH DISTINCT f, u
UNWIND [u] + CASE WHEN 'Agent' IN coalesce($kinds, []) AND u:Activity
                  THEN [(u)-[:WAS_ASSOCIATED_WITH]->(g:Agent) | g] ELSE [] END AS suspect
WITH DISTINCT f, suspect
WHERE any(k IN coalesce($kinds, ['Entity', 'Activity']) WHERE k IN labels(suspect))
WITH suspect, count(f) AS hits, collect(f.id) AS reached_from
WHERE hits >= coalesce($min_hits, 1)
WITH suspect, hits, reached_from,
     CASE WHEN toString(coalesce(suspect.generated_at, suspect.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
          THEN datetime(toString(coalesce(suspect.generated_at, suspect.started_at))) END AS t
RETURN {id: suspect.id, labels: labels(suspect), properties: properties(suspect)} AS element, hits, reached_from,
       [(suspect)-[:WAS_ASSOCIATED_WITH]->(g:Agent) | {id: g.id, labels: labels(g), properties: properties(g)}] AS agents
ORDER BY hits DESC, t IS NULL, t DESC, suspect.id
LIMIT coalesce($limit, 1000000000)
