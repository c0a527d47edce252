-- ARGV: prefix, id, amount "D:P", now_ms, expires_ms, scope...
-- Returns {'held', scopes_and_periods} | {'stale', scope...} | {'denied', scope, limit, spent, held}
local P, id = ARGV[1], ARGV[2]
local ad, ap = parse(ARGV[3])
local now, exp = tonumber(ARGV[4]), tonumber(ARGV[5])
local hk = P .. 'hold:' .. id
if redis.call('EXISTS', hk) == 1 then
  return {'held', redis.call('HGET', hk, 'scopes')}
end
local stale, checks = {}, {}
for i = 6, #ARGV do
  local scope = ARGV[i]
  local b = redis.call('HMGET', P .. 'budget:' .. scope, 'limit', 'win_start', 'win_end', 'win_key')
  if b[1] then
    local ws, we = tonumber(b[2]), tonumber(b[3])
    if not b[4] or (ws and now < ws) or (we and now >= we) then
      table.insert(stale, scope)
    else
      table.insert(checks, {scope, b[1], b[4]})
    end
  end
end
if #stale > 0 then
  table.insert(stale, 1, 'stale')
  return stale
end
for _, c in ipairs(checks) do
  local scope, limit, key = c[1], c[2], c[3]
  local sd, sp = 0, 0
  for _, v in ipairs(redis.call('HVALS', P .. 'spend:' .. scope .. '|' .. key)) do
    local d, p = parse(v)
    sd, sp = add(sd, sp, d, p)
  end
  local hd, hp = held_total(P, scope, ARGV[4], true)
  local ld, lp = parse(limit)
  local td, tp = add(sd, sp, hd, hp)
  td, tp = add(td, tp, ad, ap)
  if gt(td, tp, ld, lp) then
    return {'denied', scope, limit, fmt(sd, sp), fmt(hd, hp)}
  end
end
local lines = {}
for _, c in ipairs(checks) do
  redis.call('ZADD', P .. 'held:' .. c[1], ARGV[5], id .. '|' .. ARGV[3])
  local tk = P .. 'heldsum:' .. c[1]
  local hd, hp = parse(redis.call('GET', tk))
  hd, hp = add(hd, hp, ad, ap)
  redis.call('SET', tk, fmt(hd, hp))
  table.insert(lines, c[1])
  table.insert(lines, c[3])
end
local scopes = table.concat(lines, '\n')
redis.call('HSET', hk, 'state', 'held', 'amount', ARGV[3], 'expires_at', ARGV[5], 'scopes', scopes)
-- Keep the record a week past expiry so settle stays idempotent, then let it go.
redis.call('PEXPIREAT', hk, string.format('%d', exp + 604800000))
return {'held', scopes}
