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
 * KEYS: consumer, rev, log, names, ...hashKeys
 * ARGV: entity, channel, name, expectedVersion
 */
export const DELETE_CONSUMER = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 'consumer_not_found' end
if cjson.decode(cur)['version'] ~= tonumber(ARGV[4]) then return 'version_conflict' end
redis.call('DEL', KEYS[1])
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('ZREM', KEYS[4], ARGV[3])
${BUMP}
return 'ok'
`;

/**
 * KEYS: route, rev, log, routes
 * ARGV: entity, channel, route, json
 */
export const PUT_ROUTE = `
redis.call('SET', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
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
