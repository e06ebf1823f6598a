package rest

import (
	"net/http"
	"strings"
)

// presencePath is the route of PresenceService.GetPresence.
const presencePath = "/v1/presence"

// presenceQuery lets GET /v1/presence take its users comma-separated,
// user_ids=a,b, as well as the parameter repeated (the gateway's own form
// for a repeated field), or both: each value is split at its commas before
// the gateway reads the query. A user ID with a comma in it can therefore
// not be asked for over REST; gRPC takes any.
func presenceQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != presencePath || !strings.Contains(r.URL.RawQuery, "user_ids") {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		for _, name := range []string{"user_ids", "userIds"} {
			vs, ok := q[name]
			if !ok {
				continue
			}
			var split []string
			for _, v := range vs {
				split = append(split, strings.Split(v, ",")...)
			}
			q[name] = split
		}
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		next.ServeHTTP(w, r2)
	})
}
