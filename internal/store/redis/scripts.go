package redisstore

import "github.com/redis/go-redis/v9"

// The scripts of the store. Each takes only keys of one hash tag: the
// inbox scripts all take userKeys.inbox() (KEYS[1] meta, [2] state,
// [3] entries, [4] ids, [5] expiring), the idempotency ones a single
// record. Times are Unix microseconds, passed by the caller so that the
// store's clock (Options.Now) rules, not Redis's.
//
// A state value is the entry's flags as one character ('0' plus seen 1,
// read 2, archived 4, uncounted 8), its append time, ':' and its
// notification's expiry (0 for none), e.g. "01761300000000000:0".
// Cursors are formatted with %d: Lua's own number formatting switches to
// exponents past 1e14.
//
// The meta hash counts unread and unseen entries in (floor, last] that are
// neither archived nor uncounted. Scripts that write keep the counters
// exact: an entry leaves them when it is trimmed, or, flagged uncounted,
// once its notification expired (the expiring index says when). Scripts
// that only read correct them for what happened since: entries aged past
// the cutoff and expiries not yet settled.

// prelude is shared by the inbox scripts.
const prelude = `
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

// appendScript appends one user's entries.
// ARGV: now, cutoff, keep, ttl (ms), then per entry: notification ID,
// expiry, state without flags ("<time>:<expiry>"), value.
// Returns per entry its new cursor, or minus the cursor of the entry the
// notification already has (a retry after a crash).
var appendScript = redis.NewScript(prelude + `
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

// readScript reads up to limit live entries after a cursor.
// ARGV: after, limit, now, cutoff.
// Returns {ok (0: the cursor is out of the retained range), last, floor,
// cursor, value, cursor, value…}.
var readScript = redis.NewScript(prelude + `
local after, limit, now, cutoff = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local last, _, floor = view(now, cutoff)
if after < floor or after > last then return {0, last, floor} end
local out = {1, last, floor}
local picked, c = {}, after + 1
while c <= last and #picked < limit do
  local hi = math.min(last, c + limit - #picked + 15)
  local vs = span(KEYS[2], c, hi)
  for i = 1, #vs do
    if #picked == limit then break end
    if vs[i] then
      local _, ok = alive(vs[i], now)
      if ok then picked[#picked + 1] = c + i - 1 end
    end
  end
  c = hi + 1
end
local fields = {}
for i = 1, #picked do fields[i] = fmt(picked[i]) end
local bodies = hmget(KEYS[3], fields)
for i = 1, #picked do
  out[#out + 1] = picked[i]
  out[#out + 1] = bodies[i]
end
return out
`)

// listScript lists a page newest first, with the counts. It reads
// entries down from the page's start only until it knows whether a
// further page exists.
// ARGV: before (0: the newest), limit, unread only (0/1), archived (0
// exclude, 1 only, 2 include), now, cutoff.
// Returns {last, unread, unseen, more (0/1), cursor, flags, value…}.
var listScript = redis.NewScript(prelude + `
local before, limit, unread, arch = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local now, cutoff = tonumber(ARGV[5]), tonumber(ARGV[6])
local last, _, floor, cu, cs = view(now, cutoff)
local out = {last, cu, cs, 0}
local picked, pflags = {}, {}
local hi = last
if before ~= 0 and before - 1 < hi then hi = before - 1 end
local step = math.min(1000, math.max(64, 2 * (limit + 1)))
while hi > floor and out[4] == 0 do
  local lo = math.max(floor + 1, hi - step + 1)
  local vs = span(KEYS[2], lo, hi)
  for c = hi, lo, -1 do
    local v = vs[c - lo + 1]
    if v then
      local fl, ok = alive(v, now)
      if ok and (arch == 2 or (arch == 1) == has(fl, 4)) and not (unread and has(fl, 2)) then
        if #picked == limit then
          out[4] = 1
          break
        end
        picked[#picked + 1] = c
        pflags[#pflags + 1] = fl
      end
    end
  end
  hi = lo - 1
end
local fields = {}
for i = 1, #picked do fields[i] = fmt(picked[i]) end
local bodies = hmget(KEYS[3], fields)
for i = 1, #picked do
  out[#out + 1] = picked[i]
  out[#out + 1] = pflags[i] % 8
  out[#out + 1] = bodies[i]
end
return out
`)

// countsScript returns {unread, unseen}. ARGV: now, cutoff.
var countsScript = redis.NewScript(prelude + `
local _, _, _, cu, cs = view(tonumber(ARGV[1]), tonumber(ARGV[2]))
return {cu, cs}
`)

// markScript changes the flags of live entries selected by notification ID
// or up to a cursor, and counts.
// ARGV: action (store.MarkAction), up to, now, cutoff, then notification
// IDs (none: select by cursor).
// Returns {changed, unread, unseen}.
var markScript = redis.NewScript(prelude + `
local action, upTo, now, cutoff = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local last, _, floor, cu, cs = view(now, cutoff)
local function set(f, b) if has(f, b) then return f end return f + b end
local function clear(f, b) if has(f, b) then return f - b end return f end
local function apply(f)
  if action == 1 then return set(f, 1)
  elseif action == 2 then return set(set(f, 1), 2)
  elseif action == 3 then return clear(f, 2)
  elseif action == 4 then return set(f, 4)
  elseif action == 5 then return clear(f, 4) end
  return f
end
local cursors = {}
if #ARGV > 4 then
  for j = 5, #ARGV do
    local c = redis.call('ZSCORE', KEYS[4], ARGV[j])
    if c and tonumber(c) > floor then cursors[#cursors + 1] = tonumber(c) end
  end
else
  for c = floor + 1, math.min(upTo, last) do cursors[#cursors + 1] = c end
end
local fields = {}
for i = 1, #cursors do fields[i] = fmt(cursors[i]) end
local vs = hmget(KEYS[2], fields)
local writes, changed, du, ds = {}, 0, 0, 0
local seen = {}
for i = 1, #cursors do
  local v = vs[i]
  if v and not seen[cursors[i]] then
    seen[cursors[i]] = true
    local fl, ok = alive(v, now)
    if ok then
      local nf = apply(fl)
      if nf ~= fl then
        local u0, s0 = contrib(fl)
        local u1, s1 = contrib(nf)
        du, ds = du + u1 - u0, ds + s1 - s0
        writes[#writes + 1] = fields[i]
        writes[#writes + 1] = string.char(48 + nf) .. string.sub(v, 2)
        changed = changed + 1
      end
    end
  end
end
if changed > 0 then
  chunked('HSET', KEYS[2], writes)
  redis.call('HINCRBY', KEYS[1], 'unread', du)
  redis.call('HINCRBY', KEYS[1], 'unseen', ds)
end
return {changed, cu + du, cs + ds}
`)

// claimScript claims an idempotency key for a notification, unless a live
// record holds it. KEYS: record. ARGV: notification ID, now, window (µs),
// window (ms), content fingerprint. Returns 0 once claimed (an incomplete
// record without entries), else the record: {id, recipients, done (0/1),
// last user, fingerprint ("" in records written before fingerprints)}.
var claimScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'id', 'n', 'done', 'last', 't', 'f')
if r[1] and tonumber(ARGV[2]) - tonumber(r[5]) < tonumber(ARGV[3]) then
  return {r[1], r[2], r[3], r[4], r[6] or ''}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'n', 0, 'done', 0, 'last', '', 't', ARGV[2], 'f', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 0
`)

// settleScript records what a delivery (or part) stored: it adds its
// entries and last user to the notification's record, and completes it
// when final. Without a record (the window passed midway) it starts one;
// another notification's record is left alone. KEYS: record. ARGV:
// notification ID, entries, last user, final (0/1), now, window (ms),
// content fingerprint.
var settleScript = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], 'id')
if not id then
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'n', ARGV[2], 'done', ARGV[4], 'last', ARGV[3], 't', ARGV[5], 'f', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return 1
end
if id ~= ARGV[1] then return 0 end
redis.call('HINCRBY', KEYS[1], 'n', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'last', ARGV[3]) end
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'done', 1) end
return 1
`)
