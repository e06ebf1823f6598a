package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Service API keys are stored only as SHA-256 hashes. A fast, unsalted hash
// is right here because the keys are 256-bit random strings (NewAPIKey): no
// dictionary or brute-force attack applies to them, unlike passwords, and a
// lookup must stay cheap on every request.

const (
	hashPrefix = "sha256:"
	// apiKeyPrefix marks Herald keys, so that secret scanners and humans
	// recognise a leaked one.
	apiKeyPrefix = "hk_"
	// maxServiceNameLen bounds names, which end up in logs and metrics.
	maxServiceNameLen = 64
)

// APIKeys maps the hashes of valid service keys to their Key. Several keys
// may share a name, so that a service can rotate its key. The zero value and
// nil hold no keys. It is read-only once built and safe for concurrent use.
type APIKeys struct {
	byHash map[[sha256.Size]byte]*Key
}

// ParseAPIKeys reads key specs of the form "NAME=sha256:HEX" or "sha256:HEX"
// (the name is then the first 8 hex digits). HEX is the SHA-256 of the key,
// as printed by HashAPIKey. Such keys have full scope and the server's
// default rate.
func ParseAPIKeys(specs []string) (*APIKeys, error) {
	keys, err := ParseAPIKeySpecs(specs)
	if err != nil {
		return nil, err
	}
	return NewAPIKeys(keys)
}

// ParseAPIKeySpecs parses specs like ParseAPIKeys, without building the set,
// so that they can be joined with the keys of a key file.
func ParseAPIKeySpecs(specs []string) ([]Key, error) {
	keys := make([]Key, 0, len(specs))
	for i, spec := range specs {
		name, sum, err := parseAPIKeySpec(spec)
		if err != nil {
			return nil, fmt.Errorf("auth: API key spec %d: %w", i+1, err)
		}
		keys = append(keys, Key{Name: name, hash: sum, origin: fmt.Sprintf("API key spec %d", i+1)})
	}
	return keys, nil
}

// NewAPIKeys builds the set of keys. A hash may be listed once; the keys of
// one service, which share its rate limiter, must agree on their Limit.
func NewAPIKeys(keys []Key) (*APIKeys, error) {
	k := &APIKeys{byHash: make(map[[sha256.Size]byte]*Key, len(keys))}
	byName := make(map[string]*Key, len(keys))
	for i := range keys {
		key := &keys[i]
		if prev, dup := k.byHash[key.hash]; dup {
			return nil, fmt.Errorf("auth: %s: hash already listed for service %q (%s)", key.origin, prev.Name, prev.origin)
		}
		if prev, ok := byName[key.Name]; ok && !sameLimit(prev.Limit, key.Limit) {
			return nil, fmt.Errorf("auth: %s: service %q has another rate or burst in %s; keys of one service share one limit", key.origin, key.Name, prev.origin)
		}
		byName[key.Name] = key
		k.byHash[key.hash] = key
	}
	return k, nil
}

func parseAPIKeySpec(spec string) (string, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return "", sum, fmt.Errorf("empty; want NAME=sha256:HEX or sha256:HEX")
	}
	name, h, named := strings.Cut(spec, "=")
	if !named {
		name, h = "", spec
	}
	sum, err := parseHash(h)
	if err != nil {
		return "", sum, err
	}
	if !named {
		return strings.ToLower(h[len(hashPrefix):])[:8], sum, nil
	}
	if err := checkServiceName(name); err != nil {
		return "", sum, err
	}
	return name, sum, nil
}

// parseHash reads "sha256:HEX" in either case.
func parseHash(h string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if !strings.HasPrefix(h, hashPrefix) {
		return sum, fmt.Errorf("hash must start with %q (store the hash of a key, never the key)", hashPrefix)
	}
	hx := h[len(hashPrefix):]
	if len(hx) != 2*sha256.Size {
		return sum, fmt.Errorf("hash has %d hex digits, want %d", len(hx), 2*sha256.Size)
	}
	if _, err := hex.Decode(sum[:], []byte(hx)); err != nil {
		return sum, fmt.Errorf("hash is not hexadecimal: %w", err)
	}
	return sum, nil
}

func checkServiceName(name string) error {
	if name == "" || len(name) > maxServiceNameLen {
		return fmt.Errorf("service name must be 1 to %d characters", maxServiceNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("service name %q may hold only letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

// Lookup returns the name of the service that key belongs to.
func (k *APIKeys) Lookup(key string) (name string, ok bool) {
	sk, ok := k.Find(key)
	if !ok {
		return "", false
	}
	return sk.Name, true
}

// Find returns the Key that key is the secret of.
func (k *APIKeys) Find(key string) (*Key, bool) {
	if k == nil || key == "" {
		return nil, false
	}
	sk, ok := k.byHash[sha256.Sum256([]byte(key))]
	return sk, ok
}

// Len returns how many keys are configured.
func (k *APIKeys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byHash)
}

// Names returns the distinct service names, sorted, for logs.
func (k *APIKeys) Names() []string {
	if k == nil {
		return nil
	}
	names := make([]string, 0, len(k.byHash))
	for _, key := range k.byHash {
		names = append(names, key.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// HashAPIKey returns the stored form of key, "sha256:HEX".
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// NewAPIKey returns a fresh random key: "hk_" and 32 random bytes in
// unpadded base64url.
func NewAPIKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("auth: new API key: %w", err)
	}
	return apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
