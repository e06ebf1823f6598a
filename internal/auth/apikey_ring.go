package auth

import "sync/atomic"

// KeyRing holds the API keys in force and lets them be replaced while
// requests are checked against them: a request sees either the old set or
// the new one, never a mix. The zero value holds no keys.
type KeyRing struct {
	keys atomic.Pointer[APIKeys]
}

// NewKeyRing returns a ring holding keys.
func NewKeyRing(keys *APIKeys) *KeyRing {
	r := &KeyRing{}
	r.Store(keys)
	return r
}

// Store puts keys in force.
func (r *KeyRing) Store(keys *APIKeys) { r.keys.Store(keys) }

// Load returns the keys in force.
func (r *KeyRing) Load() *APIKeys { return r.keys.Load() }

// Find looks key up in the keys in force.
func (r *KeyRing) Find(key string) (*Key, bool) { return r.keys.Load().Find(key) }

// Len returns how many keys are in force.
func (r *KeyRing) Len() int { return r.keys.Load().Len() }
