-- ARGV: prefix, scope, period key, now_ms.  Returns {spend field/value pairs (flat), held "D:P", fired percents (comma list)}
local P, scope, key = ARGV[1], ARGV[2], ARGV[3]
local hd, hp = held_total(P, scope, ARGV[4], false)
local spend = redis.call('HGETALL', P .. 'spend:' .. scope .. '|' .. key)
local fired = redis.call('SMEMBERS', P .. 'alerts:' .. scope .. '|' .. key)
return {table.concat(spend, '\n'), fmt(hd, hp), table.concat(fired, ',')}
