/**
 * Lua scripts that make each write atomic in Redis: the checks (name free,
 * key hashes free, version matches) and the writes, the revision bump, the
 * change-log entry and the notification happen in one step, so two racing
 * writers can never both win. Every key a script touches is passed in KEYS,
 * except the history hash and, when pruning, the entity keys: they share the
 * prefix (and in Cluster mode its hash tag, so the same slot).
 *
 * Common tail of every script: INCR rev, ZADD log rev entity, record a name
 * for the new revision in the history hash, PUBLISH channel rev.
 */

/** Revisions whose write names the history hash keeps (older ones are dropped). */
export const HISTORY_REVISIONS = 10_000;

/**
 * The history hash (P hist: revision → a name of the write, its server time)
 * lets a reader check that the write it saw at its revision is still the one
 * Redis holds there; a restore from an older snapshot or a failover to a
 * lagging replica replays different writes under the same numbers. Its key is
 * derived from KEYS[2] (P rev) so every write script keeps its KEYS; in
 * Cluster mode it shares their hash tag.
 */
const BUMP = `
local rev = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], rev, ARGV[1])
local hist = string.sub(KEYS[2], 1, -4) .. 'hist'
local now = redis.call('TIME')
redis.call('HSET', hist, rev, now[1] .. '.' .. now[2])
if rev > ${HISTORY_REVISIONS} then redis.call('HDEL', hist, rev - ${HISTORY_REVISIONS}) end
redis.call('PUBLISH', ARGV[2], rev)
`;

/**
 * The read behind changesSince and checkChangesSince (the caller reads the
 * records, full or check records, with MGET), atomic and read-only (it runs during CLIENT
 * PAUSE WRITE). Returns {epoch, head revision, pruned-up-to revision, name of
 * the write at `since`, name of the write at the set's end revision, more
 * (0/1), [entity, revision, …]}.
 * KEYS: epoch, rev, log, hist, pruned
 * ARGV: since, limit
 */
export const CHANGES = `#!lua flags=no-writes
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local pruned = tonumber(redis.call('GET', KEYS[5]) or '0')
local limit = tonumber(ARGV[2])
local log = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
local more = #log / 2 >= limit
local upto = head
if more then upto = tonumber(log[#log]) end
return {
  redis.call('GET', KEYS[1]),
  head,
  pruned,
  redis.call('HGET', KEYS[4], ARGV[1]),
  redis.call('HGET', KEYS[4], string.format('%d', upto)),
  more and 1 or 0,
  log,
}
`;

/**
 * Drops tombstones (log entries whose entity no longer exists) with revision
 * at most ARGV[1], scanning from a cursor so live entries are looked at once;
 * at most ARGV[2] entries per call. Raises the pruned-up-to revision to the
 * highest tombstone dropped. The bound is capped at the current revision.
 * Returns {dropped, cursor, bound}: call again while cursor < bound.
 * KEYS: log, pruned, cursor, rev
 * ARGV: upTo, batch, key prefix
 */
export const PRUNE_LOG = `
local upTo = math.min(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[4]) or '0'))
local cursor = tonumber(redis.call('GET', KEYS[3]) or '0')
if upTo <= cursor then return {0, cursor, upTo} end
local batch = tonumber(ARGV[2])
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cursor, upTo, 'WITHSCORES', 'LIMIT', 0, batch)
local top = tonumber(redis.call('GET', KEYS[2]) or '0')
local dropped = 0
for i = 1, #entries, 2 do
  if redis.call('EXISTS', ARGV[3] .. entries[i]) == 0 then
    redis.call('ZREM', KEYS[1], entries[i])
    dropped = dropped + 1
    top = math.max(top, tonumber(entries[i + 1]))
  end
end
if #entries / 2 >= batch then cursor = tonumber(entries[#entries]) else cursor = upTo end
redis.call('SET', KEYS[3], string.format('%d', cursor))
redis.call('SET', KEYS[2], string.format('%d', top))
return {dropped, cursor, upTo}
`;

/**
 * Writes a consumer's Check-only record (check-record.ts) at the revision the
 * script just took: ARGV holds its JSON without the revision and the opening
 * bracket. Runs after BUMP, which defines the revision (`rev`).
 */
const SET_CHECK = (key: string, tail: string) => `
redis.call('SET', ${key}, '[' .. string.format('%d', rev) .. ',' .. ${tail})
`;

/**
 * KEYS: consumer, rev, log, names, check, ...hashKeys
 * ARGV: entity, channel, name, json, checkTail
 */
export const CREATE_CONSUMER = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'consumer_exists' end
for i = 6, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 'credential_conflict' end
end
redis.call('SET', KEYS[1], ARGV[4])
for i = 6, #KEYS do redis.call('SET', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[4], 0, ARGV[3])
${BUMP}
${SET_CHECK('KEYS[5]', 'ARGV[5]')}
return 'ok'
`;

/**
 * KEYS: consumer, rev, log, check, ...addedHashKeys (count ARGV[6]), ...removedHashKeys
 * ARGV: entity, channel, name, json, expectedVersion, addedCount, checkTail
 */
export const REPLACE_CONSUMER = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 'consumer_not_found' end
if cjson.decode(cur)['version'] ~= tonumber(ARGV[5]) then return 'version_conflict' end
local added = tonumber(ARGV[6])
for i = 5, 4 + added do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= ARGV[3] then return 'credential_conflict' end
end
for i = 5 + added, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 5, 4 + added do redis.call('SET', KEYS[i], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[4])
${BUMP}
${SET_CHECK('KEYS[4]', 'ARGV[7]')}
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
 * KEYS: consumer, rev, log, names, grantsIndex, check, ...hashKeys (ARGV[5]), ...routeKeys (ARGV[6])
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
  if (redis.call('GET', KEYS[6 + h + j]) or '') ~= ARGV[base + 2] then return 'retry' end
end
-- Every route the index names must have been read (once the upgrade pass
-- built it, the index holds every route granting the name; before that the
-- caller read every route).
for _, route in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  if not listed[route] then return 'retry' end
end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[6])
for i = 7, 6 + h do redis.call('DEL', KEYS[i]) end
redis.call('ZREM', KEYS[4], ARGV[3])
redis.call('DEL', KEYS[5])
for j = 1, r do
  local base = 6 + (j - 1) * 3
  if ARGV[base + 3] ~= '' then
    redis.call('SET', KEYS[6 + h + j], ARGV[base + 3])
    local rv = redis.call('INCR', KEYS[2])
    redis.call('ZADD', KEYS[3], rv, 'r:' .. ARGV[base + 1])
  end
end
${BUMP}
return 'ok'
`;

/**
 * Replaces a route's record, only when every granted consumer exists (a grant
 * for a name not yet created would be inherited by whoever creates it), and
 * adds the route to the grants index `g:<name>` of every granted name. The
 * index may name routes that no longer grant the name (a later put or delete
 * of the route leaves it); readers check the route itself. Answers
 * 'missing:<i>' when the i-th granted name has no consumer.
 *
 * Match rules: the route's rules are kept in the hash `matches` (route → JSON)
 * beside its record, and `matchrev` counts changes to that hash. A caller that
 * checked its rules for conflicts against the hash as it read it at
 * `matchrev` = ARGV[7] gets 'retry' when the hash changed since (ARGV[7] '':
 * the record carries no rules, nothing to check).
 *
 * KEYS: route, rev, log, routes, matches, matchrev, ...consumerKeys (n), ...grantKeys (n)
 * ARGV: entity, channel, route, json, n, matchJson ('' = no rules), expectedMatchRev,
 *       asRead ('' = any record; '-' = none; else the JSON the writer read: 'changed' when the record is not that)
 */
const AS_READ = (arg: string) => `
if ${arg} == '-' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 'changed' end
elseif ${arg} ~= '' and redis.call('GET', KEYS[1]) ~= ${arg} then
  return 'changed'
end`;

export const PUT_ROUTE = `${AS_READ('ARGV[8]')}
if ARGV[7] ~= '' and (redis.call('GET', KEYS[6]) or '0') ~= ARGV[7] then return 'retry' end
local n = tonumber(ARGV[5])
for i = 1, n do
  if redis.call('EXISTS', KEYS[6 + i]) == 0 then return 'missing:' .. i end
end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
for i = 1, n do redis.call('SADD', KEYS[6 + n + i], ARGV[3]) end
if ARGV[6] ~= '' then
  if redis.call('HGET', KEYS[5], ARGV[3]) ~= ARGV[6] then
    redis.call('HSET', KEYS[5], ARGV[3], ARGV[6])
    redis.call('INCR', KEYS[6])
  end
elseif redis.call('HDEL', KEYS[5], ARGV[3]) == 1 then
  redis.call('INCR', KEYS[6])
end
${BUMP}
return 'ok'
`;

/**
 * Deletes a route's record and its match rules.
 * KEYS: route, rev, log, routes, matches, matchrev
 * ARGV: entity, channel, route, asRead ('' = any record; else the JSON the writer read: 'changed' when the record is not that)
 */
export const DELETE_ROUTE = `${AS_READ('ARGV[4]')}
if redis.call('DEL', KEYS[1]) == 0 then return 'absent' end
redis.call('ZREM', KEYS[4], ARGV[3])
if redis.call('HDEL', KEYS[5], ARGV[3]) == 1 then redis.call('INCR', KEYS[6]) end
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

/**
 * Layout upgrade, one batch: writes the Check-only record of each consumer
 * whose change-log entry still has the revision the upgrader read (so its
 * full record is the one the upgrader read and derived the check record
 * from: any write since then moved the entry and wrote, or superseded, the
 * check record itself). Only while ARGV[1] holds the upgrade lock (a fenced
 * upgrader that lost the lock writes nothing). No revision is taken: the data
 * does not change, only its second form is added. Returns how many it wrote,
 * or -1 when the lock is not held.
 *
 * KEYS: lock, log, ...checkKeys (n)
 * ARGV: lockToken, n, then per consumer: entity (c:<name>), revisionAsRead, checkTail
 */
export const UPGRADE_CHECKS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local n = tonumber(ARGV[2])
local written = 0
for i = 1, n do
  local base = 2 + (i - 1) * 3
  if redis.call('ZSCORE', KEYS[2], ARGV[base + 1]) == ARGV[base + 2] then
    redis.call('SET', KEYS[2 + i], '[' .. ARGV[base + 2] .. ',' .. ARGV[base + 3])
    written = written + 1
  end
end
return written
`;

/**
 * Extends the upgrade lock while ARGV[1] holds it. Returns 1, or 0 when lost.
 * KEYS: lock
 * ARGV: lockToken, ttlMs
 */
export const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Ends the upgrade: sets the layout version and releases the lock, only while
 * ARGV[1] holds it. Returns 1, or 0 when the lock was lost.
 * KEYS: lock, layout
 * ARGV: lockToken, version
 */
export const FINISH_UPGRADE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * A token-bucket take (usage-counters.ts `takeTokens`), timed by the Redis
 * server's clock so instances with skewed clocks share one bucket fairly.
 * Returns {granted, whole tokens left, ms until a whole token is there}.
 * KEYS: bucket (a hash: t tokens, at ms)
 * ARGV: tokens per ms, burst, want, giveBack
 */
export const TAKE_TOKENS = `
local perMs = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local t = tonumber(b[1])
local at = tonumber(b[2])
if t == nil or at == nil then t = burst; at = ms end
if ms > at then t = math.min(burst, t + (ms - at) * perMs); at = ms end
t = math.min(burst, t + tonumber(ARGV[4]))
local g = math.floor(t)
if g > tonumber(ARGV[3]) then g = tonumber(ARGV[3]) end
if g < 0 then g = 0 end
t = t - g
redis.call('HSET', KEYS[1], 't', string.format('%.17g', t), 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - t) / perMs) + 1000)
local wait = 0
if t < 1 then wait = math.ceil((1 - t) / perMs) end
return {tostring(g), tostring(math.floor(t)), tostring(wait)}
`;

/**
 * A quota take (usage-counters.ts `takeQuota`). Returns {granted, remaining}.
 * KEYS: count (a hash: used, credits)
 * ARGV: limit, want, debt, ttlMs
 */
export const TAKE_QUOTA = `
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0') + tonumber(ARGV[3])
local left = tonumber(ARGV[1]) + tonumber(redis.call('HGET', KEYS[1], 'credits') or '0') - used
local g = tonumber(ARGV[2])
if g > left then g = left end
if g < 0 then g = 0 end
redis.call('HSET', KEYS[1], 'used', used + g)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {tostring(g), tostring(left - g)}
`;

/**
 * Adds credits to a quota count. Returns {used, credits}.
 * KEYS: count
 * ARGV: requests, ttlMs
 */
export const TOP_UP_QUOTA = `
local credits = redis.call('HINCRBY', KEYS[1], 'credits', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {redis.call('HGET', KEYS[1], 'used') or '0', tostring(credits)}
`;
