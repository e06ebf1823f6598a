package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/validate"
)

// Validate checks one API notification against lim and turns it into the
// internal form, without ID, creation time or sender scope (Service.Notify
// adds those). User IDs, topics and channels come out de-duplicated, in
// first-seen order; an unspecified priority becomes normal. On failure the
// error is a *validate.Error listing every violation, with paths under
// "notification.".
func Validate(n *heraldv1.Notification, lim Limits, now time.Time) (*notify.Notification, error) {
	var v validate.Violations
	out := validateNotification(n, lim.withDefaults(), now, "notification", &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func validateNotification(n *heraldv1.Notification, lim Limits, now time.Time, path string, v *validate.Violations) *notify.Notification {
	if n == nil {
		v.Add(path, "required")
		return nil
	}
	out := &notify.Notification{
		Type:     n.GetType(),
		Title:    n.GetTitle(),
		Body:     n.GetBody(),
		Category: n.GetCategory(),
	}
	validateAudience(n.GetAudience(), lim, path+".audience", out, v)

	if t := n.GetType(); t != "" {
		if !validate.Name(t, ".-_:", validate.MaxNameLen) {
			v.Add(path+".type", "must be 1 to %d letters, digits or . _ - :", validate.MaxNameLen)
		} else if notify.IsControlEvent(t) {
			v.Add(path+".type", "%q is reserved for stream control events", t)
		}
	}
	if c := n.GetCategory(); c != "" && !validate.Category(c) {
		v.Add(path+".category", validate.CategoryRule)
	}
	checkText(n.GetTitle(), lim.MaxTitleBytes, true, "", path+".title", v)
	checkText(n.GetBody(), lim.MaxBodyBytes, false, "\t\n\r", path+".body", v)
	out.Data = validateData(n.GetData(), lim.MaxDataBytes, path+".data", v)

	switch p := n.GetPriority(); {
	case p == heraldv1.Priority_PRIORITY_UNSPECIFIED:
		out.Priority = notify.PriorityNormal
	case heraldv1.Priority_name[int32(p)] != "":
		out.Priority = notify.Priority(p)
	default:
		v.Add(path+".priority", "unknown value %d", int32(p))
	}

	if k := n.GetIdempotencyKey(); k != "" {
		switch {
		case len(k) > lim.MaxKeyBytes:
			v.Add(path+".idempotency_key", "at most %d bytes, got %d", lim.MaxKeyBytes, len(k))
		case !printable(k):
			v.Add(path+".idempotency_key", "must be valid UTF-8 without control characters")
		default:
			out.IdempotencyKey = k
		}
	}

	if et := n.GetExpireTime(); et != nil {
		switch t := et.AsTime(); {
		case et.CheckValid() != nil:
			v.Add(path+".expire_time", "not a valid timestamp")
		case !t.After(now):
			v.Add(path+".expire_time", "must be in the future")
		default:
			out.ExpireTime = t
		}
	}
	return out
}

// validateAudience sets out's users, topics and channels from a.
func validateAudience(a *heraldv1.Audience, lim Limits, path string, out *notify.Notification, v *validate.Violations) {
	ids, topics, channels := a.GetUserIds(), a.GetTopics(), a.GetChannels()
	if len(ids) == 0 && len(topics) == 0 && len(channels) == 0 {
		v.Add(path, "at least one user ID, topic or channel is required")
		return
	}
	if len(ids) > lim.MaxRecipients {
		v.Add(path+".user_ids", "at most %d user IDs, got %d", lim.MaxRecipients, len(ids))
	} else if len(ids) > 0 {
		out.Users = make([]notify.UserID, 0, len(ids))
		seen := make(map[notify.UserID]struct{}, len(ids))
		for i, s := range ids {
			u, err := notify.ParseUserID(s)
			if err != nil {
				v.Add(fmt.Sprintf("%s.user_ids[%d]", path, i), "must be 1 to %d bytes of UTF-8 without control characters", notify.MaxUserIDLen)
				continue
			}
			if _, dup := seen[u]; !dup {
				seen[u] = struct{}{}
				out.Users = append(out.Users, u)
			}
		}
	}
	out.Topics = names(topics, lim.MaxTopics, path+".topics", "topics", notify.ParseTopic, notify.MaxTopicLen, v)
	out.Channels = names(channels, lim.MaxChannels, path+".channels", "channels", notify.ParseChannel, notify.MaxChannelLen, v)
}

// names parses at most max topic or channel names (what) of the list at
// path, each by parse, under the name rules of maxLen bytes; repeats are
// dropped.
func names[T ~string](ss []string, max int, path, what string, parse func(string) (T, error), maxLen int, v *validate.Violations) []T {
	if len(ss) > max {
		v.Add(path, "at most %d %s, got %d", max, what, len(ss))
		return nil
	}
	if len(ss) == 0 {
		return nil
	}
	out := make([]T, 0, len(ss))
	seen := make(map[T]struct{}, len(ss))
	for i, s := range ss {
		t, err := parse(s)
		switch {
		case s == "":
			v.Add(fmt.Sprintf("%s[%d]", path, i), "must not be empty")
			continue
		case err != nil:
			v.Add(fmt.Sprintf("%s[%d]", path, i), "ASCII letters, digits and . _ - / : only, at most %d bytes", maxLen)
			continue
		}
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}
	return out
}

// checkText checks a title or body: at most max bytes of UTF-8 without
// control characters (C0, DEL, C1) other than those in allowed. Clients
// show these strings as they are; a NUL truncates them in C-based
// renderers, U+0085 breaks lines where JSON does not, and escape sequences
// reach terminals.
func checkText(s string, max int, required bool, allowed, path string, v *validate.Violations) {
	switch {
	case required && strings.TrimSpace(s) == "":
		v.Add(path, "required")
	case len(s) > max:
		v.Add(path, "at most %d bytes, got %d", max, len(s))
	case !utf8.ValidString(s):
		v.Add(path, "must be valid UTF-8")
	default:
		if i, r := controlChar(s, allowed); i >= 0 {
			v.Add(path, "control character %U at byte %d not allowed", r, i)
		}
	}
}

// controlChar returns the byte offset and value of the first control
// character of s not in allowed, or -1.
func controlChar(s, allowed string) (int, rune) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < ' ' || c == 0x7f:
			if strings.IndexByte(allowed, c) < 0 {
				return i, rune(c)
			}
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f:
			// U+0080 to U+009F, C1, are the only controls beyond ASCII.
			return i, rune(s[i+1])
		}
	}
	return -1, 0
}

// validateData encodes data as the compact JSON object clients receive. An
// empty object is dropped.
func validateData(d *structpb.Struct, max int, path string, v *validate.Violations) json.RawMessage {
	if len(d.GetFields()) == 0 {
		return nil
	}
	b, err := appendStruct(make([]byte, 0, 256), d, max)
	de, inside := errors.AsType[*dataError](err)
	switch {
	case errors.Is(err, errTooLarge):
		v.Add(path, "at most %d bytes as JSON, got more", max)
		return nil
	case inside && errors.Is(de.err, errUnsafeInt):
		v.Add(path+de.path, "%v", de.err)
		return nil
	case inside:
		v.Add(path+de.path, "not representable as JSON: %v", de.err)
		return nil
	case err != nil:
		v.Add(path, "not representable as JSON: %v", err)
		return nil
	case len(b) > max:
		v.Add(path, "at most %d bytes as JSON, got %d", max, len(b))
		return nil
	}
	return b
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}
