package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/backoff"
)

// Defaults and bounds of a JWKSVerifier's fetches.
const (
	DefaultJWKSRefresh    = 15 * time.Minute
	DefaultJWKSMinRefresh = 30 * time.Second
	// jwksFetchTimeout bounds one fetch of the key set.
	jwksFetchTimeout = 10 * time.Second
	// unknownKIDWait is the longest a request with an unknown kid waits for
	// its turn to refresh (and for the fetch itself); past it the token is
	// refused, so a flood of made-up kids never queues up.
	unknownKIDWait = 5 * time.Second
	// maxJWKSBytes bounds a key set response: real ones are a few KB.
	maxJWKSBytes = 1 << 20
	// maxKIDLen bounds the kid looked up and logged.
	maxKIDLen = 256
	// minRSABits refuses RSA keys too short to trust.
	minRSABits = 2048
)

// jwksAlgs are the algorithms a JWKS key may verify. HS256 is not among
// them: a JWKS holds public keys, and a token must never get one used as an
// HMAC secret.
var jwksAlgs = []string{"RS256", "ES256", "EdDSA"}

// JWKSOptions configure a JWKSVerifier.
type JWKSOptions struct {
	JWTOptions
	// Refresh is how often the key set is fetched in the background;
	// zero means DefaultJWKSRefresh.
	Refresh time.Duration
	// MinRefresh is the least time between two fetches caused by tokens
	// naming a kid the set does not hold; zero means DefaultJWKSMinRefresh.
	MinRefresh time.Duration
	// Logger receives fetch failures; nil discards them.
	Logger *slog.Logger
}

// JWKSVerifier verifies RS256, ES256 and EdDSA user tokens against the keys
// of a JSON Web Key Set fetched over HTTP. Each token must name a key by
// `kid`, and its `alg` must be the one that key is for: the key's own `alg`
// or, when the set gives none, the one its type implies (RSA: RS256,
// EC P-256: ES256, OKP Ed25519: EdDSA).
//
// The set is cached and fetched again every Refresh; a kid the cache does
// not hold causes a fetch at most once per MinRefresh, so that rotated keys
// are picked up without a restart and removed keys stop verifying. If the
// first fetch fails the verifier still starts, refusing every token, logs
// the failure and retries with backoff until a fetch succeeds: a key server
// that is down must not keep Herald from serving what it can, and the log
// says why users are refused. Close stops the background fetches.
type JWKSVerifier struct {
	parser *jwt.Parser
	keys   jwkset.Storage
	log    *slog.Logger
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// NewJWKS returns a verifier of tokens signed by the keys of the set at
// rawURL, after trying a first fetch (at most jwksFetchTimeout).
func NewJWKS(rawURL string, opts JWKSOptions) (*JWKSVerifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("auth: JWKS URL %q: want an http or https URL", redact(rawURL))
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultJWKSRefresh
	}
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = DefaultJWKSMinRefresh
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("jwks_url", redact(rawURL))

	ctx, stop := context.WithCancel(context.Background())
	v := &JWKSVerifier{parser: newParser(jwksAlgs, opts.JWTOptions), log: log, stop: stop}
	mem := jwkset.NewMemoryStorage()
	// The first fetch runs inside NewStorageFromHTTP, which reports its
	// failure to the handler too: NewJWKS logs that one itself.
	var mu sync.Mutex
	starting, firstErr := true, error(nil)
	sopts := jwkset.HTTPClientStorageOptions{
		Client:                    &http.Client{Timeout: jwksFetchTimeout, Transport: limitBody{http.DefaultTransport, maxJWKSBytes}},
		Ctx:                       ctx,
		HTTPTimeout:               jwksFetchTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler: func(_ context.Context, err error) {
			mu.Lock()
			if starting {
				firstErr = err
				mu.Unlock()
				return
			}
			mu.Unlock()
			log.Warn("JWKS fetch failed; the keys fetched before stay in use", "error", err)
		},
		RefreshInterval: opts.Refresh,
		Storage:         mem,
	}
	remote, err := jwkset.NewStorageFromHTTP(rawURL, sopts)
	mu.Lock()
	starting = false
	mu.Unlock()
	if err != nil {
		stop()
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	v.keys, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{rawURL: remote},
		RateLimitWaitMax:  unknownKIDWait,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(opts.MinRefresh), 1),
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	if firstErr != nil {
		log.Error("JWKS fetch failed at start; tokens it should verify are refused until a fetch succeeds, retrying", "error", firstErr)
		v.wg.Add(1)
		go v.retryFirst(ctx, rawURL, sopts, min(opts.Refresh, time.Minute))
	} else {
		n := 0
		if all, err := mem.KeyReadAll(ctx); err == nil {
			n = len(all)
		}
		log.Info("JWKS fetched", "keys", n)
	}
	return v, nil
}

// retryFirst fetches the set into the verifier's cache with capped
// exponential backoff until one fetch succeeds, for when the key server was
// down at start. Background refreshes and unknown kids fetch too; this only
// makes sure recovery does not wait for them.
func (v *JWKSVerifier) retryFirst(ctx context.Context, rawURL string, sopts jwkset.HTTPClientStorageOptions, ceiling time.Duration) {
	defer v.wg.Done()
	sopts.RefreshInterval = 0 // one fetch per call, no goroutine
	sopts.NoErrorReturnFirstHTTPReq = false
	sopts.RefreshErrorHandler = nil
	retry := backoff.Backoff{Min: min(time.Second, ceiling), Max: ceiling}
	for attempt := 1; ; attempt++ {
		if !retry.Wait(ctx) {
			return
		}
		if _, err := jwkset.NewStorageFromHTTP(rawURL, sopts); err != nil {
			if ctx.Err() != nil {
				return
			}
			v.log.Warn("JWKS fetch failed; retrying", "attempt", attempt, "error", err)
			continue
		}
		v.log.Info("JWKS fetched after failing at start", "attempt", attempt)
		return
	}
}

// Close stops the background fetches. Tokens are still verified against the
// keys cached so far.
func (v *JWKSVerifier) Close() error {
	v.stop()
	v.wg.Wait()
	return nil
}

// Verify checks token against the key its kid names (see JWKSVerifier) and
// the claims as a JWTVerifier does. A kid the cache lacks may cause a fetch
// under ctx. Errors wrap ErrInvalidToken.
func (v *JWKSVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	return verify(v.parser, token, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
}

// key returns the public key that token's kid names, if it is for token's
// alg.
func (v *JWKSVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	kid, ok := t.Header["kid"].(string)
	switch {
	case !ok || kid == "":
		return nil, errors.New("token names no kid")
	case len(kid) > maxKIDLen:
		return nil, fmt.Errorf("kid longer than %d bytes", maxKIDLen)
	}
	jwk, err := v.keys.KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	if err != nil {
		return nil, fmt.Errorf("kid %q: %w", kid, err)
	}
	m := jwk.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, fmt.Errorf("key %q is for use %q, not sig", kid, m.USE)
	}
	pub, keyAlg := publicKeyAlg(jwk.Key())
	switch {
	case keyAlg == "":
		return nil, fmt.Errorf("key %q (kty %s) cannot verify tokens", kid, m.KTY)
	case m.ALG != "" && string(m.ALG) != keyAlg:
		return nil, fmt.Errorf("key %q says alg %s, which its type (%s) does not allow", kid, m.ALG, keyAlg)
	case alg != keyAlg:
		return nil, fmt.Errorf("token alg %s does not match key %q, which is for %s", alg, kid, keyAlg)
	}
	return pub, nil
}

// publicKeyAlg returns key's public half and the one algorithm it verifies,
// or "" when Herald accepts none for it.
func publicKeyAlg(key any) (crypto.PublicKey, string) {
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = k.Public()
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() >= minRSABits {
			return k, "RS256"
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return k, "ES256"
		}
	case ed25519.PublicKey:
		return k, "EdDSA"
	}
	return nil, ""
}

// limitBody cuts every response body at n bytes, so a key server cannot make
// a fetch buffer without bound; a cut set fails to decode.
type limitBody struct {
	rt http.RoundTripper
	n  int64
}

func (l limitBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, l.n), resp.Body}
	return resp, nil
}

// redact drops the user info and query of a URL, which may hold
// credentials, for errors and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
