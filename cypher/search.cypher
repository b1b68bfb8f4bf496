// search: find elements by id prefix, label/id text, kind, PROV type and time window.
//
// Every filter is optional (null = any). $text matches a substring of the label or the id,
// case-insensitively, and is a plain parameter (no query syntax to escape). With $id_prefix the
// lookup starts from the id index; otherwise all elements are scanned. Results: the best label
// matches first (exact label, then label prefix), then newest first, then id.
//
// Parameters:
//   $id_prefix  the id must start with this, or null
//   $text       text the label or id must contain (case-insensitive), or null
//   $kinds      list of kinds ('Entity', 'Activity', 'Agent'), or null for all
//   $prov_type  a PROV type the element must have (full IRI, prefixed or local name), or null
//   $since      ISO time: generated/started at or after it, or null
//   $until      ISO time: generated/started at or before it, or null
//   $limit      most rows to return, or null for 100
//
// Neo4j Browser:
//   :param {id_prefix: null, text: 'train', kinds: ['Activity'], prov_type: null, since: null, until: null, limit: 25}
CALL () {
  WITH $id_prefix AS prefix WHERE prefix IS NOT NULL
  MATCH (n:Element) WHERE n.id STARTS WITH prefix
  RETURN n
  UNION
  WITH $id_prefix AS prefix WHERE prefix IS NULL
  MATCH (n:Element)
  RETURN n
}
WITH n WHERE ($kinds IS NULL OR any(k IN $kinds WHERE k IN labels(n)))
  AND ($prov_type IS NULL OR any(t IN CASE WHEN valueType(n.prov_type) STARTS WITH 'LIST' THEN n.prov_type
                                          ELSE [n.prov_type] END
                                 WHERE t = $prov_type OR t ENDS WITH '#' + $prov_type
                                    OR t ENDS WITH '/' + $prov_type OR t ENDS WITH ':' + $prov_type))
  AND ($text IS NULL OR toLower(coalesce(n.label, '')) CONTAINS toLower($text)
                     OR toLower(n.id) CONTAINS toLower($text))
WITH n, CASE WHEN toString(coalesce(n.generated_at, n.started_at)) =~ '\\d{4}-\\d{2}-\\d{2}(T.*)?'
             THEN datetime(toString(coalesce(n.generated_at, n.started_at))) END AS t
WHERE ($since IS NULL OR coalesce(t >= datetime($since), false))
  AND ($until IS NULL OR coalesce(t <= datetime($until), false))
RETURN n AS node
ORDER BY CASE WHEN $text IS NULL THEN 2
              WHEN toLower(coalesce(n.label, '')) = toLower($text) THEN 0
              WHEN toLower(coalesce(n.label, '')) STARTS WITH toLower($text) THEN 1
              ELSE 2 END,
         t IS NULL, t DESC, n.id
LIMIT coalesce($limit, 100)
