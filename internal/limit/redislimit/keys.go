package redislimit

import (
	"context"
	"encoding/base64"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
)

// enc is the store's: unpadded base64url, so that a name with '{', '}' or
// ':' can neither move the hash tag nor blur the separators.
func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// rateKey is service's GCRA state.
func rateKey(prefix, service string) string {
	return prefix + "rate:{s:" + enc(service) + "}"
}

// streamsKey is user's open streams, in the slot of the user's inbox.
func streamsKey(prefix string, user notify.UserID) string {
	return prefix + "{u:" + enc(string(user)) + "}:streams"
}

// seenKey is when user was last seen (Unix ms, Redis's clock), in the
// slot of the user's streams.
func seenKey(prefix string, user notify.UserID) string {
	return prefix + "{u:" + enc(string(user)) + "}:seen"
}

// libPrefix is what redis_rate puts before every key it is given.
const libPrefix = "rate:"

// unprefixed hands redis_rate's commands to Redis with its "rate:" taken
// off the keys again, so that ours sit under the deployment's prefix (one
// ACL pattern, one SCAN for an operator) rather than at the top of the
// keyspace. redis_rate names keys only in these five methods; TestRateKey
// checks where the key lands.
type unprefixed struct{ redis.UniversalClient }

func (c unprefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.Eval(ctx, script, trim(keys), args...)
}

func (c unprefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalSha(ctx, sha1, trim(keys), args...)
}

func (c unprefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalRO(ctx, script, trim(keys), args...)
}

func (c unprefixed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return c.UniversalClient.EvalShaRO(ctx, sha1, trim(keys), args...)
}

func (c unprefixed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return c.UniversalClient.Del(ctx, trim(keys)...)
}

func trim(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, libPrefix)
	}
	return out
}
