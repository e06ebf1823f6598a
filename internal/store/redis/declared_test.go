package redisstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storetest"
)

// scripts are the store's scripts by variable name: TestScriptsDeclareKeys
// fails when a script of the package is missing here.
var scripts = map[string]**redis.Script{
	"appendScript":   &appendScript,
	"appendV2Script": &appendV2Script,
	"convertScript":  &convertScript,
	"lastScript":     &lastScript,
	"readScript":     &readScript,
	"listScript":     &listScript,
	"countsScript":   &countsScript,
	"markScript":     &markScript,
	"claimScript":    &claimScript,
	"settleScript":   &settleScript,
	"publishScript":  &publishScript,
}

// scriptSources returns the Lua source of each script of the package's
// Go files (not its tests), by variable name: the argument of
// redis.NewScript, string literals and constants joined by +.
func scriptSources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := make(map[string]ast.Expr)
	calls := make(map[string]ast.Expr)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, sp := range gd.Specs {
				vs, ok := sp.(*ast.ValueSpec)
				if !ok || len(vs.Values) != len(vs.Names) {
					continue
				}
				for i, v := range vs.Values {
					if gd.Tok == token.CONST {
						consts[vs.Names[i].Name] = v
					} else if c, ok := v.(*ast.CallExpr); ok && isNewScript(c) {
						calls[vs.Names[i].Name] = c.Args[0]
					}
				}
			}
		}
	}
	var eval func(e ast.Expr) string
	eval = func(e ast.Expr) string {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(e.Pos()), err)
			}
			return s
		case *ast.Ident:
			if c, ok := consts[e.Name]; ok {
				return eval(c)
			}
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				return eval(e.X) + eval(e.Y)
			}
		case *ast.ParenExpr:
			return eval(e.X)
		}
		t.Fatalf("%s: a script source that is not constant strings joined by +", fset.Position(e.Pos()))
		return ""
	}
	srcs := make(map[string]string)
	for name, e := range calls {
		srcs[name] = eval(e)
	}
	return srcs
}

func isNewScript(c *ast.CallExpr) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "NewScript" || len(c.Args) != 1 {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "redis"
}

// keyGuard precedes a script's source in the guarded scripts: it shadows
// redis with a table whose call and pcall fail on a key that KEYS does not
// hold (the first argument, or every one of DEL, EXISTS and UNLINK). Redis
// does not check this itself, and serves undeclared keys of the script's
// slot; proxies and managed services need not.
const keyGuard = `local redis = setmetatable({}, {__index = redis})
do
  local raw = getmetatable(redis).__index
  local function check(cmd, ...)
    local args, n = {...}, 1
    local c = string.upper(cmd)
    if c == 'DEL' or c == 'EXISTS' or c == 'UNLINK' then n = #args end
    for i = 1, n do
      local ok = false
      for _, k in ipairs(KEYS) do ok = ok or k == args[i] end
      if not ok then error('undeclared key ' .. tostring(args[i]) .. ' in ' .. cmd) end
    end
  end
  rawset(redis, 'call', function(cmd, ...) check(cmd, ...) return raw.call(cmd, ...) end)
  rawset(redis, 'pcall', function(cmd, ...) check(cmd, ...) return raw.pcall(cmd, ...) end)
end
`

// guardScripts replaces the store's scripts with guarded ones until t
// ends. The scripts are package variables: t must not run in parallel,
// and the stores it opens see the guarded ones.
func guardScripts(t *testing.T, srcs map[string]string) {
	t.Helper()
	for name, p := range scripts {
		old := *p
		*p = redis.NewScript(keyGuard + srcs[name])
		t.Cleanup(func() { *p = old })
	}
}

// builtKey finds a key name built inside a script: a concatenation to, or
// a substring of, KEYS or a variable of a key.
var builtKey = regexp.MustCompile(`(KEYS\[\d+\]|\b[MSEIX]\b)\s*\.\.|string\.sub\(\s*(KEYS|[MSEIX]\b)`)

// TestScriptsDeclareKeys: every script touches only the keys it declares.
// The store's suites, a layout switch each way (a v2 store converting a
// v1 inbox among them) and a v1 store's suites run with every script
// guarded, and fail on an undeclared key.
func TestScriptsDeclareKeys(t *testing.T) {
	srcs := scriptSources(t)
	if got, want := slices.Sorted(maps.Keys(srcs)), slices.Sorted(maps.Keys(scripts)); !slices.Equal(got, want) {
		t.Fatalf("scripts of the package %v, of this test %v", got, want)
	}
	for name, src := range srcs {
		if m := builtKey.FindString(src); m != "" {
			t.Errorf("%s builds a key name: %q", name, m)
		}
	}
	probe := OpenTest(t, Options{})
	bad := redis.NewScript(keyGuard + `return redis.call('GET', KEYS[1] .. 'x')`)
	if err := bad.Run(t.Context(), probe.rdb, []string{probe.opts.Prefix + "k"}).Err(); err == nil || !strings.Contains(err.Error(), "undeclared key") {
		t.Fatalf("the guard let an undeclared key pass: %v", err)
	}
	guardScripts(t, srcs)
	for _, l := range []Layout{LayoutV2, LayoutV1} {
		t.Run(string(l), func(t *testing.T) {
			open := func(t *testing.T, hook store.CommitHook) store.Store {
				return OpenTest(t, Options{Layout: l, OnCommit: hook})
			}
			storetest.Run(t, open)
			storetest.RunInbox(t, open)
			storetest.RunParts(t, open)
			storetest.RunRetention(t, 5, func(t *testing.T, hook store.CommitHook) store.Store {
				return OpenTest(t, Options{Layout: l, OnCommit: hook, RetentionCount: 5})
			})
			storetest.RunChannels(t, func(t *testing.T, o storetest.ChannelOptions) store.Store {
				return OpenTest(t, Options{Layout: l, OnCommit: o.Hook, ChannelHistory: o.History, ChannelHistoryAge: o.Age, Now: o.Now})
			})
		})
	}
	for _, tc := range []struct{ from, to Layout }{{LayoutV1, LayoutV2}, {LayoutV2, LayoutV1}} {
		t.Run(string(tc.from)+"_to_"+string(tc.to), func(t *testing.T) {
			layoutSwitch(t, tc.from, tc.to)
		})
	}
}
