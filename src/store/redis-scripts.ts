/**
 * Lua scripts that make each write atomic in Redis: the checks (name free,
 * key hashes free, version matches) and the writes, the revision bump, the
 * change-log entry and the notification happen in one step, so two racing
 * writers can never both win. Every key a script touches is passed in KEYS.
 *
 * Common tail of every script: INCR rev, ZADD log rev entity, PUBLISH channel rev.
 */

const BUMP = `
local rev = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], rev, ARGV[1])
redis.call('PUBLISH', ARGV[2], rev)
`;

/**
 * KEYS: consumer, rev, log, names, ...hashKeys
 * ARGV: entity, channel, name, json
 */
export const CREATE_CONSUMER = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'consumer_exists' end
for i = 5, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 'credential_conflict' end
end
redis.call('SET', KEYS[1], ARGV[4])
for i = 5, #KEYS do redis.call('SET', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[4], 0, ARGV[3])
${BUMP}
return 'ok'
`;

/**
 * KEYS: consumer, rev, log, ...addedHashKeys (count ARGV[6]), ...removedHashKeys
 * ARGV: entity, channel, name, json, expectedVersion, addedCount
 */
export const REPLACE_CONSUMER = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 'consumer_not_found' end
if cjson.decode(cur)['version'] ~= tonumber(ARGV[5]) then return 'version_conflict' end
local added = tonumber(ARGV[6])
for i = 4, 3 + added do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= ARGV[3] then return 'credential_conflict' end
end
for i = 4 + added, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 4, 3 + added do redis.call('SET', KEYS[i], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[4])
${BUMP}
return 'ok'
`;

/**
 * Deletes a consumer with its grants. The caller read the routes that grant
 * it (from the grants index `g:<name>`, or, before the index was built, by
 * reading every route) and sends each route's JSON as read and as it must
 * become; any difference (a route changed, the index changed) answers
 * 'retry' and nothing is written. Each changed route gets its own revision,
 * so a reader paging the change log by revision never splits them.
 *
 * KEYS: consumer, rev, log, names, grantsIndex, ...hashKeys (ARGV[5]), ...routeKeys (ARGV[6])
 * ARGV: entity, channel, name, expectedVersion, hashCount, routeCount,
 *       then per route: route, jsonAsRead, newJson ('' = unchanged)
 */
export const DELETE_CONSUMER = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 'consumer_not_found' end
if cjson.decode(cur)['version'] ~= tonumber(ARGV[4]) then return 'version_conflict' end
local h = tonumber(ARGV[5])
local r = tonumber(ARGV[6])
local listed = {}
for j = 1, r do
  local base = 6 + (j - 1) * 3
  listed[ARGV[base + 1]] = true
  if (redis.call('GET', KEYS[5 + h + j]) or '') ~= ARGV[base + 2] then return 'retry' end
end
-- Every route the index names must have been read (once the upgrade pass
-- built it, the index holds every route granting the name; before that the
-- caller read every route).
for _, route in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  if not listed[route] then return 'retry' end
end
redis.call('DEL', KEYS[1])
for i = 6, 5 + h do redis.call('DEL', KEYS[i]) end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[5])
for j = 1, r do
  local base = 6 + (j - 1) * 3
  if ARGV[base + 3] ~= '' then
    redis.call('SET', KEYS[5 + h + j], ARGV[base + 3])
    local rv = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[3], rv, 'r:' .. ARGV[base + 1])
  end
end
${BUMP}
return 'ok'
`;

/**
 * Replaces a route's grants, only when every granted consumer exists (a grant
 * for a name not yet created would be inherited by whoever creates it), and
 * adds the route to the grants index `g:<name>` of every granted name. The
 * index may name routes that no longer grant the name (a later put or delete
 * of the route leaves it); readers check the route itself. Answers
 * 'missing:<i>' when the i-th granted name has no consumer.
 *
 * KEYS: route, rev, log, routes, ...consumerKeys (n), ...grantKeys (n)
 * ARGV: entity, channel, route, json, n
 */
export const PUT_ROUTE = `
local n = tonumber(ARGV[5])
for i = 1, n do
  if redis.call('EXISTS', KEYS[4 + i]) == 0 then return 'missing:' .. i end
end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
for i = 1, n do redis.call('SADD', KEYS[4 + n + i], ARGV[3]) end
${BUMP}
return 'ok'
`;

/**
 * KEYS: route, rev, log, routes
 * ARGV: entity, channel, route
 */
export const DELETE_ROUTE = `
if redis.call('DEL', KEYS[1]) == 0 then return 'absent' end
redis.call('ZREM', KEYS[4], ARGV[3])
${BUMP}
return 'ok'
`;

/**
 * Upgrade pass for one route: drops grants of names with no consumer and adds
 * the route to the grants index of every name it keeps, when the route is
 * still as read and each name still exists (kept) or not (dropped).
 *
 * KEYS: route, rev, log, ...keptConsumerKeys (k), ...keptGrantKeys (k), ...droppedConsumerKeys (d)
 * ARGV: entity, channel, route, jsonAsRead, newJson, k, d
 */
export const PRUNE_ROUTE = `
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[4] then return 'retry' end
local k = tonumber(ARGV[6])
local d = tonumber(ARGV[7])
for i = 1, k do
  if redis.call('EXISTS', KEYS[3 + i]) == 0 then return 'retry' end
end
for i = 1, d do
  if redis.call('EXISTS', KEYS[3 + 2 * k + i]) == 1 then return 'retry' end
end
for i = 1, k do redis.call('SADD', KEYS[3 + k + i], ARGV[3]) end
if d == 0 then return 'unchanged' end
redis.call('SET', KEYS[1], ARGV[5])
${BUMP}
return 'ok'
`;
