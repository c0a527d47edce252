-- ARGV: prefix, id, amount "D:P", label, now_ms
-- Returns {'not_found'} | {'already'} | {'released'} | {'range'} (nothing written) |
-- {'settled', expires_ms, ('alert', scope, percent, spent, limit, period) | ('spent', scope, spent, limit, period)...}
local P, id, amount, label = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hk = P .. 'hold:' .. id
local state = redis.call('HGET', hk, 'state')
if not state then return {'not_found'} end
if state == 'settled' then return {'already'} end
if state == 'released' then return {'released'} end
local ad, ap = parse(amount)
local held_amount = redis.call('HGET', hk, 'amount')
local parts = split(redis.call('HGET', hk, 'scopes'))
-- Refuse, before writing anything, a settle that would take a period's spend past MAXT.
for i = 1, #parts, 2 do
  local sd, sp = 0, 0
  for _, v in ipairs(redis.call('HVALS', P .. 'spend:' .. parts[i] .. '|' .. parts[i + 1])) do
    local vd, vp = parse(v)
    sd, sp = add(sd, sp, vd, vp)
  end
  sd, sp = add(sd, sp, ad, ap)
  if gt(sd, sp, MAXT, 0) then return {'range'} end
end
local out = {'settled', redis.call('HGET', hk, 'expires_at')}
for i = 1, #parts, 2 do
  local scope, key = parts[i], parts[i + 1]
  local sk = P .. 'spend:' .. scope .. '|' .. key
  local d, p = parse(redis.call('HGET', sk, label))
  d, p = add(d, p, ad, ap)
  redis.call('HSET', sk, label, fmt(d, p))
  drop_hold(P, scope, id, held_amount)
  local b = redis.call('HMGET', P .. 'budget:' .. scope, 'limit', 'alerts')
  local sd, sp = 0, 0
  if b[1] then
    for _, v in ipairs(redis.call('HVALS', sk)) do
      local vd, vp = parse(v)
      sd, sp = add(sd, sp, vd, vp)
    end
    -- The client decides from these figures whether the budget is now over its limit.
    table.insert(out, 'spent')
    table.insert(out, scope)
    table.insert(out, fmt(sd, sp))
    table.insert(out, b[1])
    table.insert(out, key)
  end
  if b[1] and b[2] and b[2] ~= '' then
    local ld, lp = parse(b[1])
    local ak = P .. 'alerts:' .. scope .. '|' .. key
    for pct in string.gmatch(b[2], '[^,]+') do
      local n = tonumber(pct)
      -- spent * 100 >= limit * n, in the two-limb representation.
      local xd, xp = sd * 100, sp * 100
      xd, xp = xd + math.floor(xp / E), xp % E
      local yd, yp = ld * n, lp * n
      yd, yp = yd + math.floor(yp / E), yp % E
      local positive = sd > 0 or sp > 0
      if positive and not gt(yd, yp, xd, xp) and redis.call('SADD', ak, pct) == 1 then
        table.insert(out, 'alert')
        table.insert(out, scope)
        table.insert(out, pct)
        table.insert(out, fmt(sd, sp))
        table.insert(out, b[1])
        table.insert(out, key)
      end
    end
  end
end
-- Remember the settled call for relabelling (provider cost sync): its amount,
-- label and time on the record, and its id in each budget's by-time index.
-- Kept 90 days past the settle, then let go.
local now = tonumber(ARGV[5])
local keep = now + 7776000000
redis.call('HSET', hk, 'state', 'settled', 'settled_amount', amount, 'label', label, 'settled_at', ARGV[5])
redis.call('PEXPIREAT', hk, string.format('%d', keep))
for i = 1, #parts, 2 do
  local zk = P .. 'settled:' .. parts[i]
  redis.call('ZADD', zk, ARGV[5], id)
  redis.call('ZREMRANGEBYSCORE', zk, '-inf', string.format('(%d', now - 7776000000))
end
return out
