package redisstore

import "github.com/redis/go-redis/v9"

// legacyAppendScript is the append script of the format before lazy
// retention (prelude and script as they were), to write inboxes as nodes
// not yet upgraded do. ARGV: now, cutoff, keep, TTL (ms), then per entry:
// notification ID, expiry, state without flags, value.
var legacyAppendScript = redis.NewScript(legacyPrelude + `
local now, cutoff, keep, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local m = redis.call('HMGET', KEYS[1], 'last', 'floor', 'unread', 'unseen')
local last, floor = tonumber(m[1] or '0'), tonumber(m[2] or '0')
local cu, cs = tonumber(m[3] or '0'), tonumber(m[4] or '0')
if floor < last and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
  floor, cu, cs = last, 0, 0
end
-- Settle the expiries due: those entries leave the counters.
local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
if #gone > 0 then
  local vs = hmget(KEYS[2], gone)
  local writes = {}
  for i = 1, #gone do
    local v = vs[i]
    if v then
      local f = parse(v)
      if not has(f, 8) then
        local u, s = contrib(f)
        cu, cs = cu - u, cs - s
        writes[#writes + 1] = gone[i]
        writes[#writes + 1] = string.char(48 + f + 8) .. string.sub(v, 2)
      end
    end
  end
  chunked('HSET', KEYS[2], writes)
  chunked('ZREM', KEYS[5], gone)
end
local out = {}
for j = 5, #ARGV, 4 do
  local c = redis.call('ZSCORE', KEYS[4], ARGV[j])
  if c then
    out[#out + 1] = -tonumber(c)
  else
    last = last + 1
    local f, x = fmt(last), tonumber(ARGV[j + 1])
    local flags = '0'
    if x ~= 0 and x <= now then
      flags = '8'
    else
      cu, cs = cu + 1, cs + 1
      if x ~= 0 then redis.call('ZADD', KEYS[5], x, f) end
    end
    redis.call('HSET', KEYS[2], f, flags .. ARGV[j + 2])
    redis.call('HSET', KEYS[3], f, ARGV[j + 3])
    redis.call('ZADD', KEYS[4], f, ARGV[j])
    out[#out + 1] = last
  end
end
local nf = floor
if last - nf > keep then nf = last - keep end
while nf < last do
  local v = redis.call('HGET', KEYS[2], fmt(nf + 1))
  if not v then break end
  local _, t = parse(v)
  if t >= cutoff then break end
  nf = nf + 1
end
if nf > floor then
  local fields = {}
  for c = floor + 1, nf do fields[#fields + 1] = fmt(c) end
  local vs = hmget(KEYS[2], fields)
  for i = 1, #fields do
    if vs[i] then
      local u, s = contrib((parse(vs[i])))
      cu, cs = cu - u, cs - s
    end
  end
  chunked('HDEL', KEYS[2], fields)
  chunked('HDEL', KEYS[3], fields)
  chunked('ZREM', KEYS[5], fields)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(nf))
end
redis.call('HSET', KEYS[1], 'last', fmt(last), 'floor', fmt(nf), 'unread', cu, 'unseen', cs)
if last > nf then
  for k = 2, 5 do redis.call('PEXPIRE', KEYS[k], ttl) end
end
return out
`)

const legacyPrelude = `
local function fmt(c) return string.format('%d', c) end
local function has(f, b) return math.floor(f / b) % 2 == 1 end
local function parse(v)
  local i = string.find(v, ':', 2, true)
  return string.byte(v, 1) - 48, tonumber(string.sub(v, 2, i - 1)), tonumber(string.sub(v, i + 1))
end
-- alive returns the flags of an entry above the effective floor and
-- whether its notification has not expired; most never expire, which the
-- state's ":0" ending tells without parsing it.
local function alive(v, now)
  local f = string.byte(v, 1) - 48
  if string.sub(v, -2) == ':0' then return f, true end
  local i = string.find(v, ':', 2, true)
  return f, tonumber(string.sub(v, i + 1)) > now
end
-- contrib is what an entry with flags f adds to the counters.
local function contrib(f)
  if has(f, 4) or has(f, 8) then return 0, 0 end
  local u, s = 1, 1
  if has(f, 2) then u = 0 end
  if has(f, 1) then s = 0 end
  return u, s
end
-- hmget returns the values of fields (false where missing), in chunks
-- that stay within Lua's limit on unpack.
local function hmget(key, fields)
  local out = {}
  for i = 1, #fields, 1000 do
    local vs = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #vs do out[#out + 1] = vs[j] end
  end
  return out
end
-- span returns the values of the cursors from..to: out[i] is from+i-1's.
local function span(key, from, to)
  local fields = {}
  for c = from, to do fields[#fields + 1] = fmt(c) end
  return hmget(key, fields)
end
-- chunked runs a command with fixed arguments and then items, in chunks.
local function chunked(cmd, key, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 999, #items)))
  end
end
-- view returns the user's last cursor, stored floor, effective floor
-- (entries older than cutoff count as trimmed) and counters as they are
-- at now. Keys that expired whole (their TTL is the retention age past
-- the last append) took every entry with them.
local function view(now, cutoff)
  local m = redis.call('HMGET', KEYS[1], 'last', 'floor', 'unread', 'unseen')
  local last, floor = tonumber(m[1] or '0'), tonumber(m[2] or '0')
  local cu, cs = tonumber(m[3] or '0'), tonumber(m[4] or '0')
  if floor < last and redis.call('EXISTS', KEYS[2]) == 0 then
    return last, floor, last, 0, 0
  end
  local eff = floor
  while eff < last do
    local v = redis.call('HGET', KEYS[2], fmt(eff + 1))
    if not v then break end
    local f, t = parse(v)
    if t >= cutoff then break end
    local u, s = contrib(f)
    cu, cs = cu - u, cs - s
    eff = eff + 1
  end
  local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
  if #gone > 0 then
    local vs = hmget(KEYS[2], gone)
    for i = 1, #gone do
      if vs[i] and tonumber(gone[i]) > eff then
        local u, s = contrib((parse(vs[i])))
        cu, cs = cu - u, cs - s
      end
    end
  end
  return last, floor, eff, cu, cs
end
`
