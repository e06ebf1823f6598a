package auth

import (
	"crypto/sha256"
	"path"
	"slices"
	"strings"
)

// Key is one service credential: who it is and what it may do. Fields left
// empty grant everything, as keys given with --api-keys have.
type Key struct {
	// Name is the service's name, in logs, metrics and idempotency scopes.
	Name string
	// Methods are the short names of the NotifyService,
	// SubscriptionService and PresenceService methods the key may call
	// ("Notify", "GetPresence"); nil: all.
	Methods []string
	// Topics are path.Match patterns of the topics the key may notify and
	// manage subscriptions of; nil: all.
	Topics []string
	// Limit is the key's own notification rate; nil: the server's default.
	Limit *Limit

	hash   [sha256.Size]byte
	origin string // where the key was read, for errors
}

// Limit is a token bucket of notifications: Rate per second (0: unlimited)
// with bursts of Burst (0: one second's worth).
type Limit struct {
	Rate  float64
	Burst int
}

func sameLimit(a, b *Limit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// MethodName returns the short name of a full gRPC method,
// "/herald.v1.NotifyService/Notify" → "Notify".
func MethodName(fullMethod string) string {
	return fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
}

// AllowsMethod reports whether the key may call the method with this short
// name. A nil Key, a service without a key (development), may call all.
func (k *Key) AllowsMethod(name string) bool {
	return k == nil || k.Methods == nil || slices.Contains(k.Methods, name)
}

// AllowsTopic reports whether topic is inside the key's patterns.
func (k *Key) AllowsTopic(topic string) bool {
	if k == nil || k.Topics == nil {
		return true
	}
	for _, p := range k.Topics {
		// Patterns were checked when parsed, so Match cannot fail.
		if ok, _ := path.Match(p, topic); ok {
			return true
		}
	}
	return false
}

// DeniedTopic returns the first of topics outside the key's patterns.
func (k *Key) DeniedTopic(topics []string) (string, bool) {
	for _, t := range topics {
		if !k.AllowsTopic(t) {
			return t, true
		}
	}
	return "", false
}

// TopicScoped reports whether the key is limited to some topics.
func (k *Key) TopicScoped() bool {
	return k != nil && k.Topics != nil
}
