-- Exact money in Lua: Redis' Lua numbers are doubles (exact to 2^53), so an
-- amount travels as "D:P" — whole dollars and picodollars (0 <= P < 10^12).
local E = 1000000000000
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
