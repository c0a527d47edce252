-- ARGV: prefix, scope, start_ms, end_ms, to, from...
-- Returns {calls, total "D:P", moved_calls, moved "D:P"}
local P, scope, to = ARGV[1], ARGV[2], ARGV[5]
local from = {}
for i = 6, #ARGV do from[ARGV[i]] = true end
local ids = redis.call('ZRANGEBYSCORE', P .. 'settled:' .. scope, ARGV[3], '(' .. ARGV[4])
local calls, td, tp, moved, md, mp = 0, 0, 0, 0, 0, 0
for _, id in ipairs(ids) do
  local hk = P .. 'hold:' .. id
  local h = redis.call('HMGET', hk, 'state', 'settled_amount', 'label', 'scopes')
  if h[1] == 'settled' and h[2] and h[3] then
    local d, p = parse(h[2])
    calls = calls + 1
    td, tp = add(td, tp, d, p)
    local label = h[3]
    if label ~= to and from[label] then
      -- The call moves on every budget it was settled into, in its period.
      local parts = split(h[4])
      for i = 1, #parts, 2 do
        local sk = P .. 'spend:' .. parts[i] .. '|' .. parts[i + 1]
        local fd, fp = parse(redis.call('HGET', sk, label))
        fd, fp = sub(fd, fp, d, p)
        local nd, np = parse(redis.call('HGET', sk, to))
        nd, np = add(nd, np, d, p)
        redis.call('HSET', sk, label, fmt(fd, fp), to, fmt(nd, np))
      end
      redis.call('HSET', hk, 'label', to)
      moved = moved + 1
      md, mp = add(md, mp, d, p)
    end
  end
end
return {string.format('%d', calls), fmt(td, tp), string.format('%d', moved), fmt(md, mp)}
