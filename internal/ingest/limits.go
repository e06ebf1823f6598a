package ingest

// Limits bound what one request may ask of Herald. A zero field means its
// default.
type Limits struct {
	MaxTitleBytes int // default 256
	MaxBodyBytes  int // default 4096
	MaxDataBytes  int // default 16384, counted as compact JSON
	MaxRecipients int // default 1000 user IDs per notification
	MaxTopics     int // default 100 topics per notification
	MaxChannels   int // default 100 channels per notification
	MaxBatch      int // default 100 notifications per batch
	MaxKeyBytes   int // default 256, for the idempotency key
}

// Default limits.
const (
	DefaultMaxTitleBytes = 256
	DefaultMaxBodyBytes  = 4096
	DefaultMaxDataBytes  = 16384
	DefaultMaxRecipients = 1000
	DefaultMaxTopics     = 100
	DefaultMaxChannels   = 100
	DefaultMaxBatch      = 100
	DefaultMaxKeyBytes   = 256
)

// withDefaults returns l with its zero (or negative) fields set to the
// defaults.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxTitleBytes, DefaultMaxTitleBytes)
	def(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&l.MaxDataBytes, DefaultMaxDataBytes)
	def(&l.MaxRecipients, DefaultMaxRecipients)
	def(&l.MaxTopics, DefaultMaxTopics)
	def(&l.MaxChannels, DefaultMaxChannels)
	def(&l.MaxBatch, DefaultMaxBatch)
	def(&l.MaxKeyBytes, DefaultMaxKeyBytes)
	return l
}
