package rpc

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/validate"
)

// Request limits of the subscription and inbox APIs, as the proto comments
// state them.
const (
	maxTopicsPerCall = 100
	maxUsersPerCall  = 10_000
	maxPairsPerCall  = 10_000
	maxMarkIDs       = 1000
	maxIDLen         = 256
)

// violations adds the subscription and inbox fields to the collector every
// API validates with.
type violations struct{ validate.Violations }

// err is the InvalidArgument status for the violations, or nil.
func (v *violations) err() error {
	if err := v.Err(); err != nil {
		return invalidArgument(err.(*validate.Error))
	}
	return nil
}

// topics parses a list of 1 to maxTopicsPerCall topic names, dropping
// repeats.
func (v *violations) topics(field string, in []string, required bool) []notify.Topic {
	switch {
	case len(in) == 0 && required:
		v.Add(field, "at least one topic is required")
		return nil
	case len(in) > maxTopicsPerCall:
		v.Add(field, "at most %d topics, got %d", maxTopicsPerCall, len(in))
		return nil
	}
	out := make([]notify.Topic, 0, len(in))
	seen := make(map[notify.Topic]struct{}, len(in))
	for i, s := range in {
		t, err := notify.ParseTopic(s)
		if err != nil {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must be 1 to %d ASCII letters, digits or . _ - / :", notify.MaxTopicLen)
			continue
		}
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}
	return out
}

// users parses a list of 1 to maxUsersPerCall user IDs, dropping repeats.
func (v *violations) users(field string, in []string) []notify.UserID {
	return v.usersUpTo(field, in, maxUsersPerCall)
}

// usersUpTo parses a list of 1 to max user IDs, dropping repeats.
func (v *violations) usersUpTo(field string, in []string, max int) []notify.UserID {
	switch {
	case len(in) == 0:
		v.Add(field, "at least one user ID is required")
		return nil
	case len(in) > max:
		v.Add(field, "at most %d user IDs, got %d", max, len(in))
		return nil
	}
	out := make([]notify.UserID, 0, len(in))
	seen := make(map[notify.UserID]struct{}, len(in))
	for i, s := range in {
		u, err := notify.ParseUserID(s)
		if err != nil {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must be 1 to %d bytes of UTF-8 without control characters", notify.MaxUserIDLen)
			continue
		}
		if _, dup := seen[u]; !dup {
			seen[u] = struct{}{}
			out = append(out, u)
		}
	}
	return out
}

// categories parses a list of category names with the rule that applies
// to a notification's category, dropping repeats.
func (v *violations) categories(field string, in []string) []string {
	if len(in) > maxTopicsPerCall {
		v.Add(field, "at most %d categories, got %d", maxTopicsPerCall, len(in))
		return nil
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]struct{}, len(in))
	for i, s := range in {
		if !validate.Category(s) {
			v.Add(fmt.Sprintf("%s[%d]", field, i), validate.CategoryRule)
			continue
		}
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

// pageSize applies a list's default and maximum; larger sizes are capped,
// as AIP-158 advises, and negative ones refused.
func (v *violations) pageSize(n int32, def, max int) int {
	switch {
	case n < 0:
		v.Add("page_size", "must not be negative")
		return def
	case n == 0:
		return def
	case int(n) > max:
		return max
	default:
		return int(n)
	}
}

// A page token of the subscription listings is the last item of the
// previous page, base64url-encoded: opaque to clients, so that its form can
// change, and safe in a query string.
func pageToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

// pageAfter decodes a page token into the item the page starts after; ""
// for the first page.
func (v *violations) pageAfter(token string, valid func(string) bool) string {
	if token == "" {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !utf8.Valid(b) || !valid(string(b)) {
		v.Add("page_token", "not a next_page_token of this listing")
		return ""
	}
	return string(b)
}

func validTopic(s string) bool  { _, err := notify.ParseTopic(s); return err == nil }
func validUserID(s string) bool { _, err := notify.ParseUserID(s); return err == nil }
