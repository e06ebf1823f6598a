package auth_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
)

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	h1, h2 := auth.HashAPIKey("k1"), auth.HashAPIKey("k2")
	file := `# Herald service keys
name=billing hash=` + h1 + ` methods=Notify,NotifyBatch topics=order:*,billing/* rate=500 burst=1000

	name=ops  hash=` + strings.ToUpper(h2[:7]) + h2[7:] + `   # trailing comment, no scopes
`
	// The prefix must stay lower-case: the upper-case form above is refused.
	if _, err := auth.ParseKeyFile([]byte(file)); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("upper-case prefix: err = %v, want an error on line 4", err)
	}
	file = strings.Replace(file, strings.ToUpper(h2[:7]), "sha256:", 1)
	file = strings.Replace(file, h2[7:], strings.ToUpper(h2[7:]), 1) // hex in either case
	keys, err := auth.ParseKeyFile([]byte(strings.ReplaceAll(file, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys, want 2", len(keys))
	}
	b := keys[0]
	if b.Name != "billing" || !slices.Equal(b.Methods, []string{"Notify", "NotifyBatch"}) ||
		!slices.Equal(b.Topics, []string{"order:*", "billing/*"}) || b.Limit == nil || *b.Limit != (auth.Limit{Rate: 500, Burst: 1000}) {
		t.Errorf("billing = %+v", b)
	}
	o := keys[1]
	if o.Name != "ops" || o.Methods != nil || o.Topics != nil || o.Limit != nil {
		t.Errorf("ops = %+v, want full scope and the default limit", o)
	}
	set, err := auth.NewAPIKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := set.Find("k2"); !ok || k.Name != "ops" {
		t.Errorf("Find(k2) = %v, %v", k, ok)
	}
	if got := set.Names(); !slices.Equal(got, []string{"billing", "ops"}) {
		t.Errorf("Names = %q", got)
	}
}

func TestParseKeyFileScopes(t *testing.T) {
	t.Parallel()
	h := auth.HashAPIKey("k")
	tests := []struct {
		line    string
		methods []string
		topics  []string
		limit   *auth.Limit
	}{
		{"methods=* topics=*", nil, nil, nil},
		{"methods=Subscribe topics=a", []string{"Subscribe"}, []string{"a"}, nil},
		{"methods=GetPresence", []string{"GetPresence"}, nil, nil},
		{"rate=0", nil, nil, &auth.Limit{}},
		{"rate=2.5", nil, nil, &auth.Limit{Rate: 2.5}},
		{"rate=10 burst=1", nil, nil, &auth.Limit{Rate: 10, Burst: 1}},
		{"topics=a/[bc]?,x\\*", nil, []string{"a/[bc]?", `x\*`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			t.Parallel()
			keys, err := auth.ParseKeyFile([]byte("name=s hash=" + h + " " + tt.line))
			if err != nil {
				t.Fatal(err)
			}
			k := keys[0]
			if !slices.Equal(k.Methods, tt.methods) || !slices.Equal(k.Topics, tt.topics) || (k.Limit == nil) != (tt.limit == nil) || (k.Limit != nil && *k.Limit != *tt.limit) {
				t.Errorf("got methods %q topics %q limit %v; want %q %q %v", k.Methods, k.Topics, k.Limit, tt.methods, tt.topics, tt.limit)
			}
		})
	}
}

func TestParseKeyFileErrors(t *testing.T) {
	t.Parallel()
	h, h2 := auth.HashAPIKey("k"), auth.HashAPIKey("k2")
	ok := "name=a hash=" + h
	tests := []struct {
		name, file, want string
	}{
		{"no equals", "name=a hash", `line 1: "hash": want FIELD=VALUE`},
		{"unknown field", ok + " scope=x", `unknown field "scope"`},
		{"field twice", ok + " name=b", "field name given twice"},
		{"empty value", ok + " topics=", "field topics is empty"},
		{"no name", "hash=" + h, "name= is required"},
		{"bad name", "name=a/b hash=" + h, "service name"},
		{"no hash", "# keys\n\nname=a", "line 3: hash= is required"},
		{"raw key", "name=a hash=hk_secret", "never the key"},
		{"short hash", "name=a hash=sha256:abc", "hex digits"},
		{"unknown method", ok + " methods=Notify,Stream", `unknown method "Stream"`},
		{"inbox method", ok + " methods=ListInbox", `unknown method "ListInbox"`},
		{"star among methods", ok + " methods=Notify,*", "* stands alone"},
		{"empty method", ok + " methods=Notify,", `unknown method ""`},
		{"bad pattern", ok + " topics=a[", `pattern "a["`},
		{"empty pattern", ok + " topics=a,,b", "empty pattern"},
		{"star among topics", ok + " topics=a,*", "* stands alone"},
		{"negative rate", ok + " rate=-1", "rate"},
		{"nan rate", ok + " rate=NaN", "rate"},
		{"inf rate", ok + " rate=Inf", "rate"},
		{"word rate", ok + " rate=fast", "rate"},
		{"burst without rate", ok + " burst=5", "burst needs rate"},
		{"burst with zero rate", ok + " rate=0 burst=5", "above 0"},
		{"zero burst", ok + " rate=1 burst=0", "burst"},
		{"fraction burst", ok + " rate=1 burst=1.5", "burst"},
		{"comment glued", ok + "#note", "hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := auth.ParseKeyFile([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKeyFile(%q) err = %v, want it to mention %q", tt.file, err, tt.want)
			}
		})
	}

	// Rules across lines and with --api-keys are NewAPIKeys's.
	across := []struct {
		name  string
		specs []string
		file  string
		want  string
	}{
		{"hash twice", nil, ok + "\nname=b hash=" + h, `line 2: hash already listed for service "a" (line 1)`},
		{"hash inline and in file", []string{"a=" + h}, "name=b hash=" + h, `line 1: hash already listed for service "a" (API key spec 1)`},
		{"limits disagree", nil, ok + " rate=5\nname=a hash=" + h2, `line 2: service "a" has another rate or burst in line 1`},
		{"file limit against inline default", []string{"a=" + h}, "name=a hash=" + h2 + " rate=5", "another rate"},
	}
	for _, tt := range across {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inline, err := auth.ParseAPIKeySpecs(tt.specs)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := auth.ParseKeyFile([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = auth.NewAPIKeys(append(inline, keys...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}

	// Rotation: two keys of one service with one limit.
	keys, err := auth.ParseKeyFile([]byte(ok + " rate=5 burst=9\nname=a hash=" + h2 + " rate=5 burst=9 topics=x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewAPIKeys(keys); err != nil {
		t.Errorf("two keys of one service: %v", err)
	}
}

// serviceMethods are the methods a key file may name, as the README lists
// them.
var serviceMethods = []string{"Notify", "NotifyBatch", "Subscribe", "Unsubscribe", "ListUserTopics", "ListTopicSubscribers"}

func FuzzParseKeyFile(f *testing.F) {
	h := auth.HashAPIKey("k")
	f.Add("name=billing hash=" + h + " methods=Notify,NotifyBatch topics=order:*,billing/* rate=500 burst=1000")
	f.Add("# comment\n\nname=a hash=" + h + " # note\r\n")
	f.Add("name=a hash=" + h + " topics=[a-")
	f.Add("name=a hash=" + h + " rate=1e308 burst=99999999999")
	f.Add("name=a=b hash==")
	f.Fuzz(func(t *testing.T, file string) {
		keys, err := auth.ParseKeyFile([]byte(file))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "auth: line ") {
				t.Fatalf("error %q does not name its line", err)
			}
			return
		}
		for _, k := range keys {
			if k.Name == "" || strings.ContainsAny(k.Name, " \t\r\n#=") {
				t.Fatalf("accepted name %q from %q", k.Name, file)
			}
			if l := k.Limit; l != nil && (l.Rate < 0 || l.Burst < 0 || l.Rate != l.Rate) {
				t.Fatalf("accepted limit %+v from %q", *l, file)
			}
			for _, m := range k.Methods {
				if !slices.Contains(serviceMethods, m) {
					t.Fatalf("accepted method %q", m)
				}
			}
			// Every accepted pattern can be matched without error.
			for _, p := range k.Topics {
				_ = k.AllowsTopic(p)
			}
		}
		set, err := auth.NewAPIKeys(keys)
		if err == nil && set.Len() != len(keys) {
			t.Fatalf("Len = %d, want %d", set.Len(), len(keys))
		}
	})
}

// TestKeyFileMethods checks that exactly the methods of the services that
// take an API key are accepted: a new method needs no change here to be
// scoped, and InboxService's never are.
func TestKeyFileMethods(t *testing.T) {
	t.Parallel()
	h := auth.HashAPIKey("k")
	for _, m := range serviceMethods {
		if _, err := auth.ParseKeyFile([]byte("name=a hash=" + h + " methods=" + m)); err != nil {
			t.Errorf("method %s: %v", m, err)
		}
	}
	_, err := auth.ParseKeyFile([]byte("name=a hash=" + h + " methods=Nope"))
	if err == nil || !strings.Contains(err.Error(), strings.Join(serviceMethods, ",")) {
		t.Errorf("unknown method: err = %v, want the list %q", err, serviceMethods)
	}
}
