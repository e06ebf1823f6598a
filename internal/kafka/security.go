package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms of Security.SASLMechanism; case does not matter.
const (
	SASLPlain       = "plain"
	SASLSCRAMSHA256 = "scram-sha-256"
	SASLSCRAMSHA512 = "scram-sha-512"
)

// Security configures encryption and authentication of every connection to
// the brokers. The zero value is plaintext without authentication.
type Security struct {
	// TLS encrypts the connections. The settings below apply only with it.
	TLS bool
	// CAFile is a PEM bundle of the CAs that brokers' certificates are
	// checked against; empty means the system roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and its key, for
	// brokers that require mutual TLS. Both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked in brokers' certificates;
	// empty means each broker's host.
	ServerName string
	// InsecureSkipVerify accepts any broker certificate. It makes TLS open
	// to interception, so it is for testing only.
	InsecureSkipVerify bool

	// SASLMechanism is "", SASLPlain, SASLSCRAMSHA256 or SASLSCRAMSHA512;
	// empty means no SASL. PLAIN sends the password as is, so it belongs
	// with TLS.
	SASLMechanism string
	// Username and Password are the SASL credentials, both required with a
	// mechanism.
	Username, Password string
}

// Validate checks s without reading its files.
func (s Security) Validate() error {
	var errs []error
	if !s.TLS && (s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" || s.ServerName != "" || s.InsecureSkipVerify) {
		errs = append(errs, errors.New("kafka: TLS settings given but TLS is off"))
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		errs = append(errs, errors.New("kafka: TLS client certificate and key go together; one is missing"))
	}
	switch strings.ToLower(s.SASLMechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			errs = append(errs, errors.New("kafka: SASL credentials given but no SASL mechanism"))
		}
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
		if s.Username == "" || s.Password == "" {
			errs = append(errs, fmt.Errorf("kafka: SASL mechanism %s needs a username and a password", s.SASLMechanism))
		}
	default:
		errs = append(errs, fmt.Errorf("kafka: unknown SASL mechanism %q, want %s, %s or %s",
			s.SASLMechanism, SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512))
	}
	return errors.Join(errs...)
}

// Dialer returns a dialer for a kafkago.Reader that connects as s says.
func (s Security) Dialer() (*kafkago.Dialer, error) {
	tlsCfg, mech, err := s.build()
	if err != nil {
		return nil, err
	}
	return newDialer(tlsCfg, mech), nil
}

// Transport returns a transport for a kafkago.Writer or kafkago.Client that
// connects as s says.
func (s Security) Transport() (*kafkago.Transport, error) {
	tlsCfg, mech, err := s.build()
	if err != nil {
		return nil, err
	}
	return newTransport(tlsCfg, mech), nil
}

// build validates s and reads its files, so that a bad setting fails at
// start rather than at the first connection.
func (s Security) build() (*tls.Config, sasl.Mechanism, error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	tlsCfg, err := s.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	mech, err := s.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return tlsCfg, mech, nil
}

func (s Security) tlsConfig() (*tls.Config, error) {
	if !s.TLS {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // for testing only, as documented
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS CA file %s: no PEM certificate in it", s.CAFile)
		}
	}
	if s.CertFile != "" {
		// LoadX509KeyPair names neither file in its errors.
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS client certificate %s and key %s: %w", s.CertFile, s.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (s Security) mechanism() (sasl.Mechanism, error) {
	var algo scram.Algorithm
	switch strings.ToLower(s.SASLMechanism) {
	case "":
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLSCRAMSHA256:
		algo = scram.SHA256
	case SASLSCRAMSHA512:
		algo = scram.SHA512
	}
	m, err := scram.Mechanism(algo, s.Username, s.Password)
	if err != nil {
		// The error names neither the password nor the username's bytes.
		return nil, fmt.Errorf("kafka: SASL %s credentials: %w", s.SASLMechanism, err)
	}
	return m, nil
}

// newDialer keeps the values of kafkago.DefaultDialer, which a Reader uses
// when it has no dialer of its own.
func newDialer(tlsCfg *tls.Config, mech sasl.Mechanism) *kafkago.Dialer {
	return &kafkago.Dialer{
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}
}

// newTransport leaves the rest of kafkago.Transport at its defaults, which
// are those of kafkago.DefaultTransport, the one a Writer uses otherwise.
func newTransport(tlsCfg *tls.Config, mech sasl.Mechanism) *kafkago.Transport {
	return &kafkago.Transport{TLS: tlsCfg, SASL: mech}
}
