package auth

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// A key file lists one service key per line, as fields NAME=VALUE separated
// by spaces:
//
//	# billing may notify about orders; rotated 2025-06
//	name=billing hash=sha256:HEX methods=Notify,NotifyBatch topics=order:*,billing/* rate=500 burst=1000
//
// name and hash are required; methods (short names of NotifyService,
// SubscriptionService and PresenceService methods, or *), topics (path.Match patterns, or * for
// every topic), rate (notifications per second, 0 for unlimited) and burst
// are optional and default to everything and the server's default rate. A
// '#' at the start of a field begins a comment; blank lines are ignored.

// Fields of a key file line.
const (
	fieldName    = "name"
	fieldHash    = "hash"
	fieldMethods = "methods"
	fieldTopics  = "topics"
	fieldRate    = "rate"
	fieldBurst   = "burst"
)

// maxRate bounds a key's rate to what a float counts exactly and a person
// means.
const maxRate = 1e9

// serviceMethods are the methods a key file may name: those of the services
// that take an API key.
var serviceMethods = func() []string {
	var ms []string
	for _, m := range heraldv1.NotifyService_ServiceDesc.Methods {
		ms = append(ms, m.MethodName)
	}
	for _, m := range heraldv1.SubscriptionService_ServiceDesc.Methods {
		ms = append(ms, m.MethodName)
	}
	for _, m := range heraldv1.PresenceService_ServiceDesc.Methods {
		ms = append(ms, m.MethodName)
	}
	return ms
}()

// ParseKeyFile reads a key file. Errors name the line. Rules that span lines
// (a hash listed twice, the keys of one service agreeing on their limit)
// are NewAPIKeys's.
func ParseKeyFile(data []byte) ([]Key, error) {
	var keys []Key
	n := 0
	for line := range strings.Lines(string(data)) {
		n++
		k, ok, err := parseKeyLine(line)
		if err != nil {
			return nil, fmt.Errorf("auth: line %d: %w", n, err)
		}
		if ok {
			k.origin = fmt.Sprintf("line %d", n)
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// parseKeyLine reads one line; ok is false for a blank or comment line.
func parseKeyLine(line string) (k Key, ok bool, err error) {
	seen := make(map[string]string, 6)
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "#") {
			break
		}
		name, value, found := strings.Cut(f, "=")
		if !found {
			return k, false, fmt.Errorf("%q: want FIELD=VALUE", f)
		}
		switch name {
		case fieldName, fieldHash, fieldMethods, fieldTopics, fieldRate, fieldBurst:
		default:
			return k, false, fmt.Errorf("unknown field %q; want name, hash, methods, topics, rate or burst", name)
		}
		if _, dup := seen[name]; dup {
			return k, false, fmt.Errorf("field %s given twice", name)
		}
		if value == "" {
			return k, false, fmt.Errorf("field %s is empty", name)
		}
		seen[name] = value
	}
	if len(seen) == 0 {
		return k, false, nil
	}
	if k.Name = seen[fieldName]; k.Name == "" {
		return k, false, fmt.Errorf("name= is required")
	}
	if err := checkServiceName(k.Name); err != nil {
		return k, false, err
	}
	h, found := seen[fieldHash]
	if !found {
		return k, false, fmt.Errorf("hash= is required (heraldctl apikey prints one)")
	}
	if k.hash, err = parseHash(h); err != nil {
		return k, false, err
	}
	if v, found := seen[fieldMethods]; found {
		if k.Methods, err = parseMethods(v); err != nil {
			return k, false, err
		}
	}
	if v, found := seen[fieldTopics]; found {
		if k.Topics, err = parseTopics(v); err != nil {
			return k, false, err
		}
	}
	if k.Limit, err = parseLimit(seen); err != nil {
		return k, false, err
	}
	return k, true, nil
}

// parseMethods reads "*" (nil: all) or a list of method names.
func parseMethods(v string) ([]string, error) {
	if v == "*" {
		return nil, nil
	}
	ms := strings.Split(v, ",")
	for _, m := range ms {
		switch {
		case m == "*":
			return nil, fmt.Errorf("methods: * stands alone")
		case !slices.Contains(serviceMethods, m):
			return nil, fmt.Errorf("methods: unknown method %q; want * or some of %s", m, strings.Join(serviceMethods, ","))
		}
	}
	return ms, nil
}

// parseTopics reads "*" (nil: all) or a list of path.Match patterns.
func parseTopics(v string) ([]string, error) {
	if v == "*" {
		return nil, nil
	}
	ps := strings.Split(v, ",")
	for _, p := range ps {
		switch {
		case p == "":
			return nil, fmt.Errorf("topics: empty pattern in %q", v)
		case p == "*":
			return nil, fmt.Errorf("topics: * stands alone")
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("topics: pattern %q: %w", p, err)
		}
	}
	return ps, nil
}

// parseLimit reads rate and burst; nil without rate: the server's default.
func parseLimit(fields map[string]string) (*Limit, error) {
	r, hasRate := fields[fieldRate]
	b, hasBurst := fields[fieldBurst]
	if !hasRate {
		if hasBurst {
			return nil, fmt.Errorf("burst needs rate")
		}
		return nil, nil
	}
	var l Limit
	var err error
	l.Rate, err = strconv.ParseFloat(r, 64)
	if err != nil || math.IsNaN(l.Rate) || l.Rate < 0 || l.Rate > maxRate {
		return nil, fmt.Errorf("rate %q: want notifications per second, 0 (unlimited) to %g", r, float64(maxRate))
	}
	if hasBurst {
		if l.Rate == 0 {
			return nil, fmt.Errorf("burst needs a rate above 0")
		}
		l.Burst, err = strconv.Atoi(b)
		if err != nil || l.Burst < 1 || l.Burst > maxRate {
			return nil, fmt.Errorf("burst %q: want a whole number of notifications, 1 to %g", b, float64(maxRate))
		}
	}
	return &l, nil
}
