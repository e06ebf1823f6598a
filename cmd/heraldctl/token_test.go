package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/config"
)

func mapEnv(kv ...string) env {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestToken(t *testing.T) {
	t.Parallel()
	const flagSecret = "flag-secret-flag-secret-flag-secret-01"
	const envSecret = "env-secret-env-secret-env-secret-0123"
	tests := []struct {
		name       string
		args       []string
		env        env
		wantSecret string
		wantAud    string
		wantIss    string
		wantTTL    time.Duration
	}{
		{"development secret", []string{"--user", "alice"}, noEnv, config.DevJWTSecret, "", "", time.Hour},
		{"secret from env", []string{"--user", "alice"}, mapEnv("HERALD_JWT_SECRET", envSecret), envSecret, "", "", time.Hour},
		{"flag beats env", []string{"--user", "alice", "--secret", flagSecret}, mapEnv("HERALD_JWT_SECRET", envSecret), flagSecret, "", "", time.Hour},
		{
			"claims from flags",
			[]string{"--user", "alice", "--ttl", "5m", "--audience", "web", "--issuer", "idp"},
			noEnv, config.DevJWTSecret, "web", "idp", 5 * time.Minute,
		},
		{
			"claims from env",
			[]string{"--user", "alice"},
			mapEnv("HERALD_JWT_AUDIENCE", "web", "HERALD_JWT_ISSUER", "idp"), config.DevJWTSecret, "web", "idp", time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			before := time.Now().Truncate(time.Second)
			if err := runEnv(context.Background(), append([]string{"token"}, tt.args...), tt.env, &stdout, &stderr); err != nil {
				t.Fatalf("token: %v (stderr %q)", err, stderr.String())
			}
			opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()}
			if tt.wantAud != "" {
				opts = append(opts, jwt.WithAudience(tt.wantAud))
			}
			if tt.wantIss != "" {
				opts = append(opts, jwt.WithIssuer(tt.wantIss))
			}
			var claims jwt.RegisteredClaims
			_, err := jwt.ParseWithClaims(strings.TrimSpace(stdout.String()), &claims,
				func(*jwt.Token) (any, error) { return []byte(tt.wantSecret), nil }, opts...)
			if err != nil {
				t.Fatalf("token %q does not verify: %v", stdout.String(), err)
			}
			if claims.Subject != "alice" {
				t.Errorf("sub = %q, want alice", claims.Subject)
			}
			exp := claims.ExpiresAt.Time
			if min, max := before.Add(tt.wantTTL), time.Now().Add(tt.wantTTL); exp.Before(min) || exp.After(max) {
				t.Errorf("exp = %v, want between %v and %v", exp, min, max)
			}
		})
	}
}

func TestTokenVerifiesWithServerVerifier(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := runEnv(context.Background(), []string{"token", "--user", "bob"}, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("token: %v", err)
	}
	v, err := auth.NewHS256([]byte(config.DevJWTSecret), auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.User != "bob" || claims.Channels != nil {
		t.Errorf("user %q, channels %q; want bob and no channels claim", claims.User, claims.Channels)
	}
}

// TestTokenChannels checks that --channels, repeated and comma-separated,
// becomes the channels claim the server reads.
func TestTokenChannels(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	args := []string{"token", "--user", "bob", "--channels", "rooms/*, news", "--channels", "scores/match-42"}
	if err := runEnv(context.Background(), args, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("token: %v", err)
	}
	v, err := auth.NewHS256([]byte(config.DevJWTSecret), auth.JWTOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, want := strings.Join(claims.Channels, " "), "rooms/* news scores/match-42"; got != want {
		t.Errorf("channels claim %q, want %q", got, want)
	}
}

func TestTokenShortSecret(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := runEnv(context.Background(), []string{"token", "--user", "alice"}, mapEnv("HERALD_JWT_SECRET", "short"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "HERALD_JWT_SECRET is 5 bytes, need at least 32") {
		t.Fatalf("token with short secret: err = %v, want a length error naming the variable", err)
	}
	if got := exitCode(err, &stderr); got != exitUsage {
		t.Errorf("exit code = %d, want %d", got, exitUsage)
	}
}

// TestTokenSaysWhenDevSecret checks that the fallback to the public
// development secret is said on stderr, and only then.
func TestTokenSaysWhenDevSecret(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name     string
		args     []string
		env      env
		wantNote bool
	}{
		{"no secret", []string{"--user", "alice"}, noEnv, true},
		{"secret flag", []string{"--user", "alice", "--secret", secret}, noEnv, false},
		{"secret env", []string{"--user", "alice"}, mapEnv("HERALD_JWT_SECRET", secret), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := runEnv(context.Background(), append([]string{"token"}, tt.args...), tt.env, &stdout, &stderr); err != nil {
				t.Fatalf("token: %v", err)
			}
			if got := stderr.String() == devSecretNote+"\n"; got != tt.wantNote {
				t.Errorf("stderr = %q, want the development-secret note: %v", stderr.String(), tt.wantNote)
			}
			if strings.Count(stdout.String(), ".") != 2 {
				t.Errorf("stdout = %q, want only the token", stdout.String())
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := runEnv(context.Background(), []string{"apikey", "--name", "billing"}, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("apikey: %v", err)
	}
	var key, spec string
	for line := range strings.Lines(stdout.String()) {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "key":
			key = strings.TrimSpace(v)
		case "api-keys":
			spec = strings.TrimSpace(v)
		}
	}
	keys, err := auth.ParseAPIKeys([]string{spec})
	if err != nil {
		t.Fatalf("printed spec %q does not parse: %v", spec, err)
	}
	if name, ok := keys.Lookup(key); !ok || name != "billing" {
		t.Errorf("Lookup(printed key) = %q, %v; want billing, true", name, ok)
	}
}
