-- ARGV: prefix, scope, start_ms, end_ms
-- Returns {settled_ms, amount "D:P", label, ...}: each settled call of the
-- scope's budget in [start, end); the client sums them into buckets.
local P, scope = ARGV[1], ARGV[2]
local hits = redis.call('ZRANGEBYSCORE', P .. 'settled:' .. scope, ARGV[3], '(' .. ARGV[4], 'WITHSCORES')
local out = {}
for i = 1, #hits, 2 do
  local h = redis.call('HMGET', P .. 'hold:' .. hits[i], 'state', 'settled_amount', 'label')
  if h[1] == 'settled' and h[2] and h[3] then
    table.insert(out, string.format('%d', tonumber(hits[i + 1])))
    table.insert(out, h[2])
    table.insert(out, h[3])
  end
end
return out
