-- Create or replace a budget, and carry its open period's records to the new definition.
-- ARGV: prefix, scope, expected stored spec ('' when none), spec, limit "D:P", alerts,
--       win_key, win_start_ms ('' for total), win_end_ms, from_key ('' for no carry),
--       from_start (settle times from which calls may be in from_key; '-inf' for total)
-- Returns 'ok' | 'changed' (another client replaced the budget meanwhile: nothing written).
local P, scope = ARGV[1], ARGV[2]
local bk = P .. 'budget:' .. scope
if (redis.call('HGET', bk, 'spec') or '') ~= ARGV[3] then return 'changed' end
redis.call('HSET', bk, 'spec', ARGV[4], 'limit', ARGV[5], 'alerts', ARGV[6], 'win_key', ARGV[7])
if ARGV[8] ~= '' then
  redis.call('HSET', bk, 'win_start', ARGV[8], 'win_end', ARGV[9])
else
  redis.call('HDEL', bk, 'win_start', 'win_end')
end
local from, into = ARGV[10], ARGV[7]
if from == '' then return 'ok' end
-- Spend, fired thresholds, and every hold record (live or settled) of the old period key.
local sk0, sk1 = P .. 'spend:' .. scope .. '|' .. from, P .. 'spend:' .. scope .. '|' .. into
local old = redis.call('HGETALL', sk0)
for i = 1, #old, 2 do
  local d, p = parse(old[i + 1])
  local nd, np = parse(redis.call('HGET', sk1, old[i]))
  nd, np = add(nd, np, d, p)
  redis.call('HSET', sk1, old[i], fmt(nd, np))
end
redis.call('DEL', sk0)
local ak0, ak1 = P .. 'alerts:' .. scope .. '|' .. from, P .. 'alerts:' .. scope .. '|' .. into
if redis.call('EXISTS', ak0) == 1 then
  redis.call('SUNIONSTORE', ak1, ak1, ak0)
  redis.call('DEL', ak0)
end
local function rekey(id)
  local hk = P .. 'hold:' .. id
  local parts = split(redis.call('HGET', hk, 'scopes'))
  local changed = false
  for i = 1, #parts, 2 do
    if parts[i] == scope and parts[i + 1] == from then
      parts[i + 1] = into
      changed = true
    end
  end
  if changed then redis.call('HSET', hk, 'scopes', table.concat(parts, '\n')) end
end
for _, member in ipairs(redis.call('ZRANGE', P .. 'held:' .. scope, 0, -1)) do
  rekey(string.sub(member, 1, string.find(member, '|', 1, true) - 1))
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'settled:' .. scope, ARGV[11], '+inf')) do
  rekey(id)
end
return 'ok'
