package notify

import "errors"

// MaxTopicLen bounds topic names, which end up in store keys.
const MaxTopicLen = 200

// ErrBadTopic is returned by ParseTopic for a name that is empty, too long
// or has a character outside the allowed set.
var ErrBadTopic = errors.New("malformed topic")

// ParseTopic checks that s is a usable topic name: 1 to MaxTopicLen bytes of
// ASCII letters, digits and `. _ - / :`. ASCII only, so that names are the
// same bytes everywhere (store keys, URL paths, logs) and cannot hide
// look-alike characters; the punctuation allows names such as
// "orders/eu:123" or "building-42.alerts".
func ParseTopic(s string) (Topic, error) {
	if s == "" || len(s) > MaxTopicLen {
		return "", ErrBadTopic
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == '/', c == ':':
		default:
			return "", ErrBadTopic
		}
	}
	return Topic(s), nil
}
