-- Exact money in Lua: Redis' Lua numbers are doubles (exact to 2^53), so an
-- amount travels as "D:P" — whole dollars and picodollars (0 <= P < 10^12).
local E = 1000000000000
-- The largest settled spend of one budget period, in dollars (MAX_TOTAL in redis.rs):
-- with amounts at most 10^12 dollars, every figure formed below stays under 2^53.
local MAXT = 90000000000000
local function parse(s)
  if not s then return 0, 0 end
  local c = string.find(s, ':', 1, true)
  return tonumber(string.sub(s, 1, c - 1)), tonumber(string.sub(s, c + 1))
end
local function add(d1, p1, d2, p2)
  local d, p = d1 + d2, p1 + p2
  if p >= E then p = p - E; d = d + 1 end
  return d, p
end
local function sub(d1, p1, d2, p2)
  local d, p = d1 - d2, p1 - p2
  if p < 0 then p = p + E; d = d - 1 end
  return d, p
end
-- Live holds of a scope: a running total plus a sorted set of "id|amount" by expiry.
-- Lapsed ids are subtracted and dropped lazily (when `prune` is true).
local function held_total(P, scope, now, prune)
  local zk, tk = P .. 'held:' .. scope, P .. 'heldsum:' .. scope
  local hd, hp = parse(redis.call('GET', tk))
  local lapsed = redis.call('ZRANGEBYSCORE', zk, '-inf', now)
  for _, member in ipairs(lapsed) do
    -- A member is "id|D:P": the amount travels with it, whatever happens to the hold record.
    local d, p = parse(string.sub(member, string.find(member, '|', 1, true) + 1))
    hd, hp = sub(hd, hp, d, p)
  end
  if prune and #lapsed > 0 then
    redis.call('ZREMRANGEBYSCORE', zk, '-inf', now)
    redis.call('SET', tk, string.format('%d:%d', hd, hp))
  end
  return hd, hp
end
-- Drop one live hold (settle/release): only a hold still in the set is subtracted.
local function drop_hold(P, scope, id, amount)
  if redis.call('ZREM', P .. 'held:' .. scope, id .. '|' .. amount) == 1 then
    local tk = P .. 'heldsum:' .. scope
    local hd, hp = parse(redis.call('GET', tk))
    local d, p = parse(amount)
    hd, hp = sub(hd, hp, d, p)
    redis.call('SET', tk, string.format('%d:%d', hd, hp))
  end
end
local function gt(d1, p1, d2, p2)
  return d1 > d2 or (d1 == d2 and p1 > p2)
end
local function fmt(d, p)
  return string.format('%d:%d', d, p)
end
local function split(s)
  local out = {}
  if not s or s == '' then return out end
  for line in string.gmatch(s, '[^\n]+') do table.insert(out, line) end
  return out
end
