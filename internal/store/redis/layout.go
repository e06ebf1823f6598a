package redisstore

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Layout is how a user's inbox is laid out in Redis.
//
// Layout v1 keeps the inbox's fields and counters in the meta hash {u:U}:m,
// the entries' states in {u:U}:s and the notification-ID index in the
// sorted set {u:U}:i, so that an append writes five keys with five calls.
//
// Layout v2 keeps all of it in the entries hash {u:U}:e, beside the
// bodies: "<cursor>" → body, "s<cursor>" → state (v1's, then ':' and the
// notification ID, so that a trim finds the ID fields to delete),
// "i<ID>" → cursor, and the inbox's fields (last, floor, nu, ns, d, t, x,
// r, o, b). Its counters are what is not unread (nu) and not unseen (ns)
// in (floor, last]: an append of an unread entry changes neither, so the
// fast path is an HMGET and an HSET of one hash. The entries hash has the
// TTL the state hash has in v1; the meta hash, without TTL, then keeps
// only b, a bound at or above every cursor given out (the slow path keeps
// it at the trim cursor t or above, and the fast path stops at t), so
// that an inbox whose keys expired goes on above it and cursors never
// repeat. A meta hash with b is the mark of a v2 inbox.
//
// Every node reads both layouts. A node writes an inbox in the layout it
// has; a new inbox (or one whose keys expired whole in v1) takes the
// node's layout, and a node in v2 converts a v1 inbox on its first append
// (moving its states and ID index, not its bodies). Every script declares
// every key it touches, as Redis requires (proxies and managed services
// may route or check by KEYS), so the v2 append, which takes three keys,
// does not convert: it answers "v1", having written nothing, and the
// writer runs convertScript, which takes all five, then the append again.
// That costs a round trip once per inbox, and spares every v2 append two
// keys.
//
// A v2 inbox whose keys expired (idle for longer than the retention age)
// goes on above the bound, up to RetentionCount+32 cursors above the last
// one given out: a client resuming from its old cursor then reads that
// its cursor is gone (a reset), where v1 kept the exact last cursor; its
// entries had aged out anyway.
type Layout string

// The layouts. The zero value of Options.Layout means LayoutV2.
const (
	LayoutV1 Layout = "v1"
	LayoutV2 Layout = "v2"
)

// ParseLayout checks a layout's name.
func ParseLayout(s string) (Layout, error) {
	switch l := Layout(s); l {
	case LayoutV1, LayoutV2:
		return l, nil
	}
	return "", fmt.Errorf("redis layout %q: want v1 or v2", s)
}

// append2Lua appends to an inbox of layout v2, creating one when the
// entries hash has no inbox fields (or answering "v1" for an inbox of
// layout v1, which it does not take the keys of): the slow path of
// appendV2Script, and what the v1 append script does for a v2 inbox.
// M, E, X: the meta, entries and expiring keys. A: arguments as
// appendV2Script's. It follows the v1 script's slow path (scripts.go),
// with the counters kept as what is not unread or unseen.
const append2Lua = `
local function append2(M, E, X, A)
  SK, SP = E, 's'
  local i = string.find(A[1], ':', 1, true)
  local keep, age = tonumber(string.sub(A[1], 1, i - 1)), tonumber(string.sub(A[1], i + 1))
  local now = tonumber(string.sub(A[3], 2, string.find(A[3], ':', 2, true) - 1))
  local slack = math.min(32, math.max(8, math.floor(keep / 8)))
  local cutoff, every, aged = now - age, math.floor(age / 16), math.floor(age / 32)
  local ttl = fmt(math.floor((age + 2 * every) / 1000) + 1)
  local m = redis.call('HMGET', E, 'last', 'floor', 'nu', 'ns', 'd', 't', 'x', 'r', 'o', 'b')
  local last, floor, nu, ns, d, t, x, r, o, b
  if m[1] then
    last, floor, nu, ns = tonumber(m[1]), tonumber(m[2] or '0'), tonumber(m[3] or '0'), tonumber(m[4] or '0')
    d, t, x, r, o, b = tonumber(m[5]), tonumber(m[6]), tonumber(m[7]), tonumber(m[8]), tonumber(m[9]), tonumber(m[10])
  else
    local mm = redis.call('HMGET', M, 'last', 'b')
    nu, ns, x = 0, 0, 0
    if mm[2] then
      -- The keys' TTL ran out: the inbox goes on above the bound.
      last = tonumber(mm[2])
      floor = last
      redis.call('DEL', E, X)
    elseif mm[1] then
      -- A v1 inbox: convertScript converts it first, as this script
      -- does not take its state and ID keys. Nothing is written yet.
      return 'v1'
    else
      last, floor = 0, 0
    end
  end
  -- What the entries hash holds, so that only changes are written: all
  -- of it when it holds no inbox yet.
  local floor0, d0, t0, x0, o0 = floor, d, t, x, o
  if not m[1] then floor0, x0 = nil, nil end
  local refresh = floor == last or not r or now - r >= every
  -- Settle the expiries due: those entries leave the counters.
  if not x or (x > 0 and x <= now) then
    local gone = redis.call('ZRANGEBYSCORE', X, '-inf', now)
    if #gone > 0 then
      local vs = states(gone)
      local writes = {}
      for k = 1, #gone do
        local v = vs[k]
        if v then
          local f = parse(v)
          if not has(f, 8) then
            local u, s = contrib(f)
            nu, ns = nu + u, ns + s
            writes[#writes + 1] = 's' .. gone[k]
            writes[#writes + 1] = string.char(48 + f + 8) .. string.sub(v, 2)
          end
        end
      end
      chunked('HSET', E, writes)
      chunked('ZREM', X, gone)
    end
    x = tonumber(redis.call('ZRANGE', X, 0, 0, 'WITHSCORES')[2]) or 0
  end
  if floor == last then o = now end
  -- Append.
  local out, w, expiring = {}, {}, false
  for j = 2, #A, 3 do
    local f, st = fmt(last + 1), A[j + 1]
    if redis.call('HSETNX', E, A[j], f) == 0 then
      out[#out + 1] = -tonumber(redis.call('HGET', E, A[j]))
    else
      last = last + 1
      if string.byte(st, 1) == 48 then
        local _, _, e = parse(st)
        if e ~= 0 then
          redis.call('ZADD', X, e, f)
          if x == 0 or e < x then x = e end
          expiring = true
        end
      else
        nu, ns = nu + 1, ns + 1
      end
      w[#w + 1] = 's' .. f
      w[#w + 1] = st
      w[#w + 1] = f
      w[#w + 1] = A[j + 2]
      out[#out + 1] = last
    end
  end
  chunked('HSET', E, w)
  -- Trim, and refresh the TTLs.
  if floor < last then
    if not o then
      local v = redis.call('HGET', E, 's' .. fmt(floor + 1))
      o = now
      if v then
        local _, at = parse(v)
        o = at
      end
    end
    local cf = math.max(floor, last - keep)
    if cf - floor >= slack or o < cutoff - aged then
      local nf, du, ds, at, fields, vs = walk(floor, last, cf, cutoff)
      if nf > floor then
        local n, del, cs = nf - floor, {}, {}
        for k = 1, n do
          cs[k] = fields[k]
          del[#del + 1] = fields[k]
          del[#del + 1] = 's' .. fields[k]
          local v = vs[k]
          if v then
            local p = string.find(v, ':', string.find(v, ':', 2, true) + 1, true)
            if p then del[#del + 1] = 'i' .. string.sub(v, p + 1) end
          end
        end
        chunked('HDEL', E, del)
        if x ~= 0 then chunked('ZREM', X, cs) end
        nu, ns, floor = nu - (n - du), ns - (n - ds), nf
      end
      o = at or now
    end
  end
  if refresh then
    redis.call('PEXPIRE', E, ttl)
    if x ~= 0 then redis.call('PEXPIRE', X, ttl) end
    r = now
  elseif expiring then
    redis.call('PEXPIRE', X, ttl)
  end
  -- The deadline and the trim cursor, as in v1; the bound follows t.
  d, t = 0, floor + keep + slack
  if r and floor < last then
    d = r + every
    if x > 0 and x < d then d = x end
    if o + age + aged + 1 < d then d = o + age + aged + 1 end
  end
  local mf = {'last', fmt(last), 'nu', fmt(nu), 'ns', fmt(ns)}
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
  if r == now then put('r', r) end
  if o then put('o', o, o0) end
  local nb = math.max(t, last)
  if not b or nb > b then
    put('b', nb)
    redis.call('HSET', M, 'b', fmt(nb))
  end
  redis.call('HSET', E, unpack(mf))
  if #A == 4 then return out[1] end
  return out
end
`

// convertScript converts a v1 inbox to layout v2, for appendV2Script,
// which answers "v1" rather than append to one. It moves the states and
// the ID index into the entries hash (the bodies are there already), with
// the state hash's TTL, and turns the counters into what is not unread
// and not unseen; the append that follows does the rest (the expiries,
// the TTLs, the deadline). An inbox without entries keeps only the bound.
// KEYS: as the inbox scripts'. Returns 1, or 0 when the inbox is not in
// layout v1 (another node converted it).
var convertScript = redis.NewScript(fmtLua + `
local M, S, E, I, X = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local m = redis.call('HMGET', M, 'last', 'b', 'floor', 'unread', 'unseen')
if not m[1] or m[2] or redis.call('HEXISTS', E, 'last') == 1 then return 0 end
local last, floor = tonumber(m[1]), tonumber(m[3] or '0')
local ttl = redis.call('PTTL', S)
if floor < last and ttl ~= -2 then
  local ids = redis.call('ZRANGE', I, 0, -1, 'WITHSCORES')
  local byc, w = {}, {}
  for k = 1, #ids, 2 do
    byc[ids[k + 1]] = ids[k]
    w[#w + 1] = 'i' .. ids[k]
    w[#w + 1] = ids[k + 1]
  end
  local all = redis.call('HGETALL', S)
  for k = 1, #all, 2 do
    w[#w + 1] = 's' .. all[k]
    w[#w + 1] = all[k + 1] .. ':' .. (byc[all[k]] or '')
  end
  w[#w + 1] = 'last'
  w[#w + 1] = fmt(last)
  w[#w + 1] = 'floor'
  w[#w + 1] = fmt(floor)
  w[#w + 1] = 'nu'
  w[#w + 1] = fmt(last - floor - tonumber(m[4] or '0'))
  w[#w + 1] = 'ns'
  w[#w + 1] = fmt(last - floor - tonumber(m[5] or '0'))
  for k = 1, #w, 1000 do
    redis.call('HSET', E, unpack(w, k, math.min(k + 999, #w)))
  end
  if ttl > 0 then redis.call('PEXPIRE', E, ttl) end
else
  redis.call('DEL', E, X)
end
redis.call('DEL', S, I, M)
redis.call('HSET', M, 'b', fmt(last))
return 1
`)

// appendV2Script appends one user's entries in layout v2, or answers "v1",
// writing nothing, for an inbox of layout v1 (see convertScript). KEYS:
// meta, entries, expiring. ARGV: as appendScript's, but per entry
// "i"+notification ID (its field), the state with ':' and the ID
// appended, and the value.
//
// The fast path, for one entry without expiry before the deadline d and
// the trim cursor t: HMGET of four fields of the entries hash (the ID's
// field among them, which answers a duplicate) and HSET of body, state,
// ID and last. Two calls, one key written.
var appendV2Script = redis.NewScript(`
local m = redis.call('HMGET', KEYS[2], 'last', 'd', 't', ARGV[2])
local last, d, t, st = m[1], m[2], m[3], ARGV[3]
if last and d and #ARGV == 4 and string.byte(st, 2) ~= 45 then
  local p = string.find(st, ':', 3, true)
  if string.sub(st, p, p + 2) == ':0:' then
    local now = string.sub(st, 2, p - 1)
    local c = last + 1
    local f = c .. ''
    if (#now < #d or (#now == #d and now < d)) and c < 1e14 and (#f < #t or (#f == #t and f < t)) then
      if m[4] then return -tonumber(m[4]) end
      redis.call('HSET', KEYS[2], f, ARGV[4], 's' .. f, st, ARGV[2], f, 'last', f)
      return c
    end
  end
end
` + prelude + append2Lua + `
return append2(KEYS[1], KEYS[2], KEYS[3], ARGV)
`)

// lastScript returns a user's last cursor, in either layout. KEYS: meta,
// entries.
var lastScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'last', 'b')
if m[2] then return tonumber(redis.call('HGET', KEYS[2], 'last') or m[2]) end
return tonumber(m[1] or '0')
`)
