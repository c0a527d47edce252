-- ARGV: prefix, scope, period key, now_ms.  Returns {spend field/value pairs (flat), held "D:P", fired percents (comma list)}
local P, scope, key = ARGV[1], ARGV[2], ARGV[3]
local zk = P .. 'held:' .. scope
local hd, hp = 0, 0
for _, hid in ipairs(redis.call('ZRANGEBYSCORE', zk, '(' .. ARGV[4], '+inf')) do
  local d, p = parse(redis.call('HGET', P .. 'hold:' .. hid, 'amount'))
  hd, hp = add(hd, hp, d, p)
end
local spend = redis.call('HGETALL', P .. 'spend:' .. scope .. '|' .. key)
local fired = redis.call('SMEMBERS', P .. 'alerts:' .. scope .. '|' .. key)
return {table.concat(spend, '\n'), fmt(hd, hp), table.concat(fired, ',')}
