package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/testenv"
)

// repoRoot is the repository root as seen from this package's directory,
// where go test runs.
const repoRoot = "../.."

// toolDir is where `make tools` installs the pinned tools.
var toolDir = filepath.Join(repoRoot, ".bin")

// TestKubernetesManifests validates deploy/k8s with kubeconform in strict
// mode (unknown fields and duplicate keys fail) against schemas made from the
// Kubernetes OpenAPI document that `make tools` puts in .bin.
func TestKubernetesManifests(t *testing.T) {
	kubeconform := testenv.NeedCommand(t, "kubeconform", "make tools", toolDir)
	spec := filepath.Join(toolDir, "kubernetes-openapi.json")
	if _, err := os.Stat(spec); err != nil {
		testenv.Missing(t, "the Kubernetes OpenAPI document", "make tools", err.Error())
	}
	schemas := t.TempDir()
	n, err := writeKubeconformSchemas(spec, schemas)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d kind schemas written from %s", n, spec)
	location := filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json")

	run := func(paths ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Kustomization is kustomize's own file, not a Kubernetes resource.
		args := append([]string{"-strict", "-summary", "-schema-location", location, "-skip", "Kustomization"}, paths...)
		out, err := exec.CommandContext(ctx, kubeconform, args...).CombinedOutput()
		return string(out), err
	}

	out, err := run(filepath.Join(repoRoot, "deploy", "k8s"))
	t.Logf("kubeconform:\n%s", out)
	if err != nil {
		t.Fatalf("kubeconform failed: %v", err)
	}
	// Every kind must have been checked, not skipped for want of a schema.
	for _, want := range []string{"Valid: 5,", "Invalid: 0,", "Errors: 0,"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	// The schemas must catch a mistake: a misspelt field fails strict mode.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers:
        - name: bad
          image: bad
          readinessProbes: {}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(bad); err == nil || !strings.Contains(out, "readinessProbes") {
		t.Errorf("kubeconform accepted an unknown field (err %v):\n%s", err, out)
	}
}

// TestComposeConfig checks deploy/compose.yaml with the compose client
// itself, where one is installed.
func TestComposeConfig(t *testing.T) {
	compose := composeCommand(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(compose[1:], "-f", filepath.Join(repoRoot, "deploy", "compose.yaml"), "config", "--quiet")
	cmd := exec.CommandContext(ctx, compose[0], args...)
	// compose refuses to interpolate the file without its secrets.
	cmd.Env = append(os.Environ(),
		"HERALD_JWT_SECRET="+testSecret,
		"HERALD_API_KEYS=e2e=sha256:"+strings.Repeat("0", 64),
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(compose, " "), err, out)
	}
}

// composeCommand returns the command line of a working Compose v2 client
// (the docker plugin or the standalone binary), or skips the test: CI
// installs no Docker, so compose is optional everywhere.
func composeCommand(t *testing.T) []string {
	t.Helper()
	for _, c := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		path, err := exec.LookPath(c[0])
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, path, append(c[1:], "version", "--short")...).Output()
		cancel()
		// Compose v1 (1.x) predates the Compose Specification features the
		// file uses.
		if err == nil && !bytes.HasPrefix(bytes.TrimPrefix(out, []byte("v")), []byte("1.")) {
			return append([]string{path}, c[1:]...)
		}
	}
	testenv.Optional(t, "a docker compose v2 client", "neither docker compose nor docker-compose v2 runs")
	return nil
}

// writeKubeconformSchemas turns a Kubernetes OpenAPI v2 document into one
// self-contained JSON schema per kind, named as kubeconform's
// {{ .ResourceKind }}{{ .KindSuffix }}.json template expects (the layout of
// the schema registry kubeconform downloads from by default, made here from
// the same source). As that registry's strict schemas do, it forbids
// properties a definition does not name and accepts both forms of
// int-or-string and quantity values. It returns the number of files written.
func writeKubeconformSchemas(specPath, dir string) (int, error) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return 0, err
	}
	var spec struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return 0, fmt.Errorf("%s: %w", specPath, err)
	}
	defs := spec.Definitions
	for _, d := range defs {
		strictSchema(d)
	}
	// Quantity is a string in the document, but YAML writes `cpu: 1` as a number.
	if q, ok := defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]; ok {
		delete(q, "type")
		q["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}
	}

	n := 0
	for name, d := range defs {
		gvks, _ := d["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			// KindSuffix: "-v1" for the core group, "-apps-v1" for apps/v1,
			// "-policy-v1" for policy/v1 (the group's first label).
			suffix := "-" + strings.ToLower(version)
			if group != "" {
				suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
			}
			schema := make(map[string]any, len(d)+1)
			for k, v := range d {
				schema[k] = v
			}
			schema["definitions"] = reachable(defs, name)
			b, err := json.Marshal(schema)
			if err != nil {
				return n, err
			}
			if err := os.WriteFile(filepath.Join(dir, strings.ToLower(kind)+suffix+".json"), b, 0o644); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// strictSchema forbids unnamed properties in s and every schema nested in
// it, and rewrites int-or-string, in place.
func strictSchema(s map[string]any) {
	if f, _ := s["format"].(string); f == "int-or-string" {
		delete(s, "type")
		delete(s, "format")
		s["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		if _, set := s["additionalProperties"]; !set {
			s["additionalProperties"] = false
		}
		for _, p := range props {
			if p, ok := p.(map[string]any); ok {
				strictSchema(p)
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties"} {
		if sub, ok := s[k].(map[string]any); ok {
			strictSchema(sub)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		subs, _ := s[k].([]any)
		for _, sub := range subs {
			if sub, ok := sub.(map[string]any); ok {
				strictSchema(sub)
			}
		}
	}
}

var refPattern = regexp.MustCompile(`"\$ref":"#/definitions/([^"]+)"`)

// reachable returns the definitions that root refers to, directly or not,
// so each kind's schema file carries only what it needs.
func reachable(defs map[string]map[string]any, root string) map[string]any {
	out := map[string]any{}
	queue := []string{root}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, seen := out[name]; seen {
			continue
		}
		d, ok := defs[name]
		if !ok {
			continue
		}
		out[name] = d
		b, _ := json.Marshal(d)
		for _, m := range refPattern.FindAllSubmatch(b, -1) {
			queue = append(queue, string(m[1]))
		}
	}
	return out
}

// TestDeployVariablesAreFlags: every HERALD_* setting in deploy/ names a
// flag of herald, so that a misspelt one fails here, not silently in a
// cluster where herald would run on its default.
func TestDeployVariablesAreFlags(t *testing.T) {
	t.Parallel()
	var help bytes.Buffer
	if _, err := config.LoadTo(&help, []string{"--help"}, func(string) string { return "" }); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		known[config.EnvName(m[1])] = true
	}
	files := []string{filepath.Join(repoRoot, "deploy", "compose.yaml")}
	k8s, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "k8s", "*.yaml"))
	if err != nil || len(k8s) == 0 {
		t.Fatalf("deploy/k8s: %v, %d files", err, len(k8s))
	}
	// A YAML key (a variable set), not a mention in a comment.
	setting := regexp.MustCompile(`(?m)^[ \t]+(?:- name: )?(HERALD_[A-Z0-9_]+)(?::|[ \t]*$)`)
	n := 0
	for _, f := range append(files, k8s...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range setting.FindAllSubmatch(b, -1) {
			n++
			if !known[string(m[1])] {
				t.Errorf("%s sets %s, which is no herald flag's variable", filepath.Base(f), m[1])
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d HERALD_* settings in deploy/: is the pattern stale?", n)
	}
}
