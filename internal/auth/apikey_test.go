package auth_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	k1, err := auth.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := auth.NewAPIKey()
	k3, _ := auth.NewAPIKey()
	if k1 == k2 || !strings.HasPrefix(k1, "hk_") || len(k1) != 3+43 {
		t.Fatalf("NewAPIKey = %q, %q", k1, k2)
	}
	h3 := auth.HashAPIKey(k3)
	keys, err := auth.ParseAPIKeys([]string{
		"billing=" + auth.HashAPIKey(k1),
		" billing=sha256:" + strings.ToUpper(auth.HashAPIKey(k2)[7:]) + " ", // rotation; upper-case hex
		h3, // unnamed
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys.Len() != 3 {
		t.Errorf("Len = %d, want 3", keys.Len())
	}
	tests := []struct {
		key, name string
		ok        bool
	}{
		{k1, "billing", true},
		{k2, "billing", true},
		{k3, h3[7:15], true},
		{"hk_unknown", "", false},
		{"", "", false},
		{auth.HashAPIKey(k1), "", false}, // the hash is not the key
	}
	for _, tt := range tests {
		name, ok := keys.Lookup(tt.key)
		if name != tt.name || ok != tt.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.key, name, ok, tt.name, tt.ok)
		}
	}
	var none *auth.APIKeys
	if _, ok := none.Lookup(k1); ok || none.Len() != 0 {
		t.Error("nil APIKeys found a key")
	}
}

func TestHashAPIKey(t *testing.T) {
	t.Parallel()
	// sha256("abc")
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := auth.HashAPIKey("abc"); got != want {
		t.Errorf("HashAPIKey = %s, want %s", got, want)
	}
}

func TestParseAPIKeysErrors(t *testing.T) {
	t.Parallel()
	good := auth.HashAPIKey("k")
	tests := []struct {
		name  string
		specs []string
		want  string
	}{
		{"empty", []string{""}, "empty"},
		{"raw key", []string{"billing=hk_abc"}, "sha256:"},
		{"short hash", []string{"sha256:abcd"}, "hex digits"},
		{"not hex", []string{"sha256:" + strings.Repeat("zz", 32)}, "hexadecimal"},
		{"empty name", []string{"=" + good}, "service name"},
		{"bad name", []string{"bil ling=" + good}, "service name"},
		{"long name", []string{strings.Repeat("n", 65) + "=" + good}, "service name"},
		{"duplicate hash", []string{"a=" + good, "b=" + good}, "already listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.ParseAPIKeys(tt.specs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseAPIKeys(%q) err = %v, want it to mention %q", tt.specs, err, tt.want)
			}
		})
	}
}

func FuzzParseAPIKeys(f *testing.F) {
	f.Add("billing=" + auth.HashAPIKey("k"))
	f.Add(auth.HashAPIKey("k"))
	f.Add("a=b=c")
	f.Fuzz(func(t *testing.T, spec string) {
		keys, err := auth.ParseAPIKeys([]string{spec})
		if err != nil {
			return
		}
		if keys.Len() != 1 {
			t.Fatalf("Len = %d for accepted spec %q", keys.Len(), spec)
		}
	})
}
