-- ARGV: prefix, id.  Returns 'not_found' | 'already' | 'settled' | 'released'
local P, id = ARGV[1], ARGV[2]
local hk = P .. 'hold:' .. id
local state = redis.call('HGET', hk, 'state')
if not state then return 'not_found' end
if state == 'released' then return 'already' end
if state == 'settled' then return 'settled' end
local parts = split(redis.call('HGET', hk, 'scopes'))
for i = 1, #parts, 2 do
  drop_hold(P, parts[i], id, redis.call('HGET', hk, 'amount'))
end
redis.call('HSET', hk, 'state', 'released')
return 'released'
