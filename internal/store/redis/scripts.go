package redisstore

import "github.com/redis/go-redis/v9"

// The scripts of the store. Each takes only keys of one hash tag, and
// touches only the keys it takes, never a name it builds (Redis requires
// it; proxies and managed services may route or check by KEYS): the
// inbox scripts take userKeys.inbox() (KEYS[1] meta, [2] state,
// [3] entries, [4] ids, [5] expiring), but for appendV2Script, the
// idempotency ones a single record. Times are Unix microseconds, passed by the caller so that the
// store's clock (Options.Now) rules, not Redis's.
//
// A state value is the entry's flags as one character ('0' plus seen 1,
// read 2, archived 4, uncounted 8), its append time, ':' and its
// notification's expiry (0 for none), e.g. "01761300000000000:0".
// Cursors are formatted with %d: Lua's own number formatting switches to
// exponents past 1e14.
//
// The meta hash counts unread and unseen entries in (floor, last] that are
// neither archived nor uncounted: the stored range, including entries that
// retention already hides but the append script has not deleted yet.
// Scripts that write keep the counters exact: an entry leaves them when it
// is deleted, or, flagged uncounted, once its notification expired (the
// expiring index says when). Scripts that only read correct them for what
// they hide: the entries below the effective floor (walk) and expiries not
// yet settled.
//
// The meta hash's other fields spare the append script calls; each may be
// missing (an inbox written before them, or a writer that does not know
// them), which costs the call it spares:
//
//	w  last, as this format last wrote it: another last means a writer that
//	   refreshes TTLs on every append (to the bare retention age) wrote since
//	r  when the append script last refreshed the TTLs of the other keys
//	o  the append time of the oldest stored entry (floor+1)
//	x  the earliest expiry in the expiring index, at most: 0 for none

// fmtLua formats a cursor or a time.
const fmtLua = `
local function fmt(c) return string.format('%d', c) end
`

// prelude is shared by the inbox scripts.
const prelude = fmtLua + helpers

// helpers are prelude without fmt.
const helpers = `
-- SK and SP locate entry states: the state hash and cursor fields in
-- layout v1, the entries hash and "s"+cursor fields in v2 (layout.go).
local SK, SP = KEYS[2], ''
local function has(f, b) return f % (2 * b) >= b end
-- parse takes a state apart; a v2 state ends with ':' and the
-- notification ID, which the expiry stops before.
local function parse(v)
  local i = string.find(v, ':', 2, true)
  local j = string.find(v, ':', i + 1, true)
  return string.byte(v, 1) - 48, tonumber(string.sub(v, 2, i - 1)), tonumber(string.sub(v, i + 1, (j or 0) - 1))
end
-- contrib is what an entry with flags f adds to the counters: nothing
-- when archived (4) or uncounted (8), else 1 to unread unless read (2)
-- and 1 to unseen unless seen (1).
local function contrib(f)
  if f >= 4 then return 0, 0 end
  return 1 - (f - f % 2) / 2, 1 - f % 2
end
-- hmget returns the values of fields (false where missing), in chunks
-- that stay within Lua's limit on unpack.
local function hmget(key, fields)
  if #fields == 0 then return {} end
  if #fields <= 1000 then return redis.call('HMGET', key, unpack(fields)) end
  local out = {}
  for i = 1, #fields, 1000 do
    local vs = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #vs do out[#out + 1] = vs[j] end
  end
  return out
end
-- states returns the states of cursors (fields), false where missing.
local function states(cs)
  if SP == '' then return hmget(SK, cs) end
  local fields = {}
  for i = 1, #cs do fields[i] = SP .. cs[i] end
  return hmget(SK, fields)
end
-- span returns the states of the cursors from..to: out[i] is from+i-1's.
local function span(from, to)
  local fields = {}
  for c = from, to do fields[#fields + 1] = SP .. fmt(c) end
  return hmget(SK, fields)
end
-- chunked runs a command with fixed arguments and then items, in chunks.
local function chunked(cmd, key, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 999, #items)))
  end
end
-- walk finds the effective floor of the stored range (floor, last]: the
-- entries up to cf (the floor by count) are gone, and so are those above
-- it older than cutoff, up to the first younger one (retention removes
-- prefixes only). It returns that floor, what the entries below it add to
-- the counters, the append time of the entry above it (nil: none), and
-- the fields of the cursors from floor+1 on (at least up to the floor
-- returned) and their states. It reads the states up to cf+1 at once,
-- then 32 at a time.
local function walk(floor, last, cf, cutoff)
  local du, ds, t, c = 0, 0, nil, floor
  local fields = {}
  for k = floor + 1, math.min(last, cf + 1) do fields[#fields + 1] = fmt(k) end
  local buf = states(fields)
  while c < last do
    local i = c - floor + 1
    if i > #buf then
      local more = {}
      for k = c + 1, math.min(last, c + 32) do more[#more + 1] = fmt(k) end
      local vs = states(more)
      for k = 1, #more do
        fields[#fields + 1] = more[k]
        buf[#buf + 1] = vs[k]
      end
    end
    local v = buf[i]
    if v then
      local f = string.byte(v, 1) - 48
      if c >= cf then
        local at = tonumber(string.sub(v, 2, string.find(v, ':', 2, true) - 1))
        if at >= cutoff then
          t = at
          break
        end
      end
      local u, s = contrib(f)
      du, ds = du + u, ds + s
    elseif c >= cf then
      break
    end
    c = c + 1
  end
  return c, du, ds, t, fields, buf
end
`

// viewPrelude adds what the reading scripts share to prelude.
const viewPrelude = prelude + `
-- alive returns the flags of an entry above the effective floor and
-- whether its notification has not expired; most never expire, which the
-- state's ":0" ending tells without parsing it.
local function alive(v, now)
  local f = string.byte(v, 1) - 48
  if SP == '' and string.sub(v, -2) == ':0' then return f, true end
  local _, _, e = parse(v)
  return f, e == 0 or e > now
end
-- view returns the user's last cursor, stored floor, effective floor
-- (entries beyond the newest keep, or older than cutoff, count as
-- trimmed) and counters as they are at now. Keys that expired whole
-- took every entry with them; they cannot have while the last TTL
-- refresh (r) is younger than the retention age, as their TTL is longer.
local function view(now, cutoff, keep)
  local m = redis.call('HMGET', KEYS[1], 'last', 'floor', 'unread', 'unseen', 'r', 'o', 'b')
  local last, floor, cu, cs, r, o
  if m[7] then
    -- Layout v2: the entries hash holds the inbox's fields, and counts
    -- what is not unread (nu) and not unseen (ns). Without it (its TTL
    -- ran out) the inbox is empty at the cursor bound.
    SK, SP = KEYS[3], 's'
    local e = redis.call('HMGET', KEYS[3], 'last', 'floor', 'nu', 'ns', 'o')
    if not e[1] then
      local b = tonumber(m[7])
      return b, b, b, 0, 0
    end
    last, floor = tonumber(e[1]), tonumber(e[2] or '0')
    cu, cs = last - floor - tonumber(e[3] or '0'), last - floor - tonumber(e[4] or '0')
    o = tonumber(e[5])
  else
    last, floor = tonumber(m[1] or '0'), tonumber(m[2] or '0')
    cu, cs = tonumber(m[3] or '0'), tonumber(m[4] or '0')
    r, o = tonumber(m[5]), tonumber(m[6])
    if floor < last and (not r or r > now or r <= cutoff) and redis.call('EXISTS', KEYS[2]) == 0 then
      return last, floor, last, 0, 0
    end
  end
  local eff, cf = floor, math.max(floor, last - keep)
  if cf > floor or not o or o < cutoff then
    local du, ds
    eff, du, ds = walk(floor, last, cf, cutoff)
    cu, cs = cu - du, cs - ds
  end
  local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
  if #gone > 0 then
    local vs = states(gone)
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
// ARGV: "<keep>:<age>" (RetentionCount and RetentionAge in µs, one
// argument since every argument costs), then per entry: notification ID,
// state ('8' for a notification already expired, else '0', then
// "<now>:<expiry>"), value. Every state carries the same now, the
// script's clock: the first state's, taken apart rather than passed again
// (an argument costs more than a string.sub).
// Returns the cursor of each entry, in a table, or minus the cursor of
// the entry its notification already has (a retry after a crash); a single
// entry's alone, as a number (cheaper to return).
//
// Most appends take the fast path: HMGET meta, ZADD NX ids, HSET state,
// HSET entries, HSET meta. It is for one entry without expiry, before the
// meta's deadline d and trim cursor t, when this format wrote last (w).
// The rest is amortized (doc.go) in the slow path: it refreshes the TTLs
// (every age/16, to age+age/8), settles the expiries due (x), and deletes
// what retention hides: the entries below the floor by count, once slack
// of them are (keep/8, within 8..32), and the aged ones, once the oldest
// (o) is older than the cutoff by age/32. The fast path compares times and
// cursors as strings where it can (the same number of digits, no sign),
// sparing conversions; below 1e14, Lua's own number formatting (%.14g) is
// exact, and cheaper than string.format, as are numbers passed to
// redis.call as they are.
var appendScript = redis.NewScript(`
local call = redis.call
local m = call('HMGET', KEYS[1], 'last', 'unread', 'unseen', 'w', 'd', 't')
local last, d, t, st = m[1], m[5], m[6], ARGV[3]
if last and m[4] == last and d and t and #ARGV == 4 and string.byte(st, 2) ~= 45 and
  string.sub(st, -2) == ':0' then
  local now = string.sub(st, 2, -3)
  local c = last + 1
  local f = c .. ''
  if (#now < #d or (#now == #d and now < d)) and c < 1e14 and (#f < #t or (#f == #t and f < t)) then
    if call('ZADD', KEYS[4], 'NX', f, ARGV[2]) == 0 then
      return -tonumber(call('ZSCORE', KEYS[4], ARGV[2]))
    end
    call('HSET', KEYS[2], f, st)
    call('HSET', KEYS[3], f, ARGV[4])
    call('HSET', KEYS[1], 'last', f, 'w', f, 'unread', m[2] + 1, 'unseen', m[3] + 1)
    return c
  end
end
` + prelude + append2Lua + `
-- A v2 inbox (its meta hash holds only the bound) is written as v2.
if not m[1] and redis.call('HEXISTS', KEYS[1], 'b') == 1 then
  local A = {ARGV[1]}
  for j = 2, #ARGV, 3 do
    A[#A + 1] = 'i' .. ARGV[j]
    A[#A + 1] = ARGV[j + 1] .. ':' .. ARGV[j]
    A[#A + 1] = ARGV[j + 2]
  end
  return append2(KEYS[1], KEYS[3], KEYS[5], A)
end
local i = string.find(ARGV[1], ':', 1, true)
local keep, age = tonumber(string.sub(ARGV[1], 1, i - 1)), tonumber(string.sub(ARGV[1], i + 1))
local now = tonumber(string.sub(st, 2, string.find(st, ':', 2, true) - 1))
last, d, t = tonumber(last or '0'), tonumber(d), tonumber(t)
local slack = math.min(32, math.max(8, math.floor(keep / 8)))
local cutoff, every, aged = now - age, math.floor(age / 16), math.floor(age / 32)
local ttl = fmt(math.floor((age + 2 * every) / 1000) + 1)
local cu, cs = tonumber(m[2] or '0'), tonumber(m[3] or '0')
local floor, x, r, o = last, nil, nil, nil
if m[1] then
  local m2 = redis.call('HMGET', KEYS[1], 'floor', 'x', 'r', 'o')
  floor, x, r, o = tonumber(m2[1] or '0'), tonumber(m2[2]), tonumber(m2[3]), tonumber(m2[4])
end
local floor0, d0, t0, x0, o0 = floor, d, t, x, o
if not m[1] then x = 0 end -- a new inbox: nothing expires yet
-- Another writer of the former format wrote since: its TTLs may be
-- shorter, its expiries are not in x, and its trims moved the oldest.
local former = m[4] ~= m[1]
if former then o, x = nil, nil end
local refresh = floor == last or former or not r or now - r >= every
-- Keys that expired whole (only possible once the refresh is due) took
-- every entry with them.
if refresh and floor < last and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
  floor, cu, cs, o, x = last, 0, 0, nil, 0
end
-- Settle the expiries due: those entries leave the counters.
if not x or (x > 0 and x <= now) then
  local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
  if #gone > 0 then
    local vs = hmget(KEYS[2], gone)
    local writes = {}
    for k = 1, #gone do
      local v = vs[k]
      if v then
        local f = parse(v)
        if not has(f, 8) then
          local u, s = contrib(f)
          cu, cs = cu - u, cs - s
          writes[#writes + 1] = gone[k]
          writes[#writes + 1] = string.char(48 + f + 8) .. string.sub(v, 2)
        end
      end
    end
    chunked('HSET', KEYS[2], writes)
    chunked('ZREM', KEYS[5], gone)
  end
  x = tonumber(redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')[2]) or 0
end
if floor == last then o = now end
-- Append.
local out, states, values, expiring = {}, {}, {}, false
for j = 2, #ARGV, 3 do
  local f, st = fmt(last + 1), ARGV[j + 1]
  if redis.call('ZADD', KEYS[4], 'NX', f, ARGV[j]) == 0 then
    out[#out + 1] = -tonumber(redis.call('ZSCORE', KEYS[4], ARGV[j]))
  else
    last = last + 1
    if string.byte(st, 1) == 48 then
      cu, cs = cu + 1, cs + 1
      if string.sub(st, -2) ~= ':0' then
        local e = tonumber(string.sub(st, string.find(st, ':', 2, true) + 1))
        redis.call('ZADD', KEYS[5], e, f)
        if x == 0 or e < x then x = e end
        expiring = true
      end
    end
    states[#states + 1] = f
    states[#states + 1] = st
    values[#values + 1] = f
    values[#values + 1] = ARGV[j + 2]
    out[#out + 1] = last
  end
end
chunked('HSET', KEYS[2], states)
chunked('HSET', KEYS[3], values)
-- Trim, and refresh the TTLs.
if floor < last then
  if not o then
    local v = redis.call('HGET', KEYS[2], fmt(floor + 1))
    o = now
    if v then
      local _, at = parse(v)
      o = at
    end
  end
  local cf = math.max(floor, last - keep)
  if cf - floor >= slack or o < cutoff - aged then
    local nf, du, ds, at, fields = walk(floor, last, cf, cutoff)
    if nf > floor then
      for k = #fields, nf - floor + 1, -1 do fields[k] = nil end
      chunked('HDEL', KEYS[2], fields)
      chunked('HDEL', KEYS[3], fields)
      if x ~= 0 then chunked('ZREM', KEYS[5], fields) end
      redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(nf))
      cu, cs, floor = cu - du, cs - ds, nf
    end
    o = at or now
  end
  if refresh then
    for k = 2, 4 do redis.call('PEXPIRE', KEYS[k], ttl) end
    if x ~= 0 then redis.call('PEXPIRE', KEYS[5], ttl) end
    r = now
  elseif expiring then
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
end
-- The deadline (the next refresh, expiry or age trim due; 0 while the
-- inbox is empty) and the trim cursor: the fast path stops at either.
d, t = 0, floor + keep + slack
if r and floor < last then
  d = r + every
  if x > 0 and x < d then d = x end
  if o + age + aged + 1 < d then d = o + age + aged + 1 end
end
local sl = fmt(last)
local mf = {'last', sl, 'w', sl, 'unread', fmt(cu), 'unseen', fmt(cs)}
local function put(k, v, v0)
  if v ~= v0 then
    mf[#mf + 1] = k
    mf[#mf + 1] = fmt(v)
  end
end
put('floor', floor, floor0)
put('d', d, d0)
put('t', t, t0)
put('x', x, x0)
if r and r == now then put('r', r) end
if o then put('o', o, o0) end
redis.call('HSET', KEYS[1], unpack(mf))
if #ARGV == 4 then return out[1] end
return out
`)

// readScript reads up to limit live entries after a cursor.
// ARGV: after, limit, now, cutoff, keep.
// Returns {ok (0: the cursor is out of the retained range), last, floor,
// cursor, value, cursor, value…}.
var readScript = redis.NewScript(viewPrelude + `
local after, limit, now, cutoff = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local last, _, floor = view(now, cutoff, tonumber(ARGV[5]))
if after < floor or after > last then return {0, last, floor} end
local out = {1, last, floor}
local picked, c = {}, after + 1
while c <= last and #picked < limit do
  local hi = math.min(last, c + limit - #picked + 15)
  local vs = span(c, hi)
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
// exclude, 1 only, 2 include), now, cutoff, keep.
// Returns {last, unread, unseen, more (0/1), cursor, flags, value…}.
var listScript = redis.NewScript(viewPrelude + `
local before, limit, unread, arch = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local now, cutoff = tonumber(ARGV[5]), tonumber(ARGV[6])
local last, _, floor, cu, cs = view(now, cutoff, tonumber(ARGV[7]))
local out = {last, cu, cs, 0}
local picked, pflags = {}, {}
local hi = last
if before ~= 0 and before - 1 < hi then hi = before - 1 end
local step = math.min(1000, math.max(64, 2 * (limit + 1)))
while hi > floor and out[4] == 0 do
  local lo = math.max(floor + 1, hi - step + 1)
  local vs = span(lo, hi)
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

// countsScript returns {unread, unseen}. ARGV: now, cutoff, keep.
var countsScript = redis.NewScript(viewPrelude + `
local _, _, _, cu, cs = view(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {cu, cs}
`)

// markScript changes the flags of live entries selected by notification ID
// or up to a cursor, and counts.
// ARGV: action (store.MarkAction), up to, now, cutoff, keep, then
// notification IDs (none: select by cursor).
// Returns {changed, unread, unseen}.
var markScript = redis.NewScript(viewPrelude + `
local action, upTo, now, cutoff = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local last, _, floor, cu, cs = view(now, cutoff, tonumber(ARGV[5]))
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
if #ARGV > 5 then
  for j = 6, #ARGV do
    local c
    if SP == '' then c = redis.call('ZSCORE', KEYS[4], ARGV[j]) else c = redis.call('HGET', KEYS[3], 'i' .. ARGV[j]) end
    if c and tonumber(c) > floor then cursors[#cursors + 1] = tonumber(c) end
  end
else
  for c = floor + 1, math.min(upTo, last) do cursors[#cursors + 1] = c end
end
local fields = {}
for i = 1, #cursors do fields[i] = fmt(cursors[i]) end
local vs = states(fields)
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
        writes[#writes + 1] = SP .. fields[i]
        writes[#writes + 1] = string.char(48 + nf) .. string.sub(v, 2)
        changed = changed + 1
      end
    end
  end
end
if changed > 0 then
  chunked('HSET', SK, writes)
  if SP == '' then
    redis.call('HINCRBY', KEYS[1], 'unread', du)
    redis.call('HINCRBY', KEYS[1], 'unseen', ds)
  else
    redis.call('HINCRBY', KEYS[3], 'nu', 0 - du)
    redis.call('HINCRBY', KEYS[3], 'ns', 0 - ds)
  end
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
