// Package auth authenticates Herald's callers: users by JWT, services by API
// key. It puts the resulting identity in the request context, where the
// handlers read it with UserFrom and ServiceFrom.
package auth

import (
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Claims is what a verified user token says about its bearer.
type Claims struct {
	User   notify.UserID
	Expiry time.Time
	// Channels are the token's `channels` claim: path.Match patterns of
	// the channels its bearer may listen to besides the public ones.
	Channels []string
}
