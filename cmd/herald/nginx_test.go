package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/testenv"
)

// nginxRedisAddr is the Redis that cluster-mode nodes share in tests.
var nginxRedisAddr = testenv.RedisAddr()

// TestNginxProxy runs real nginx with deploy/nginx/herald.conf in front of
// two Herald nodes: events must pass the proxy unbuffered (within 100 ms of
// the Notify that made them), Last-Event-ID must reach the nodes so a
// resumed stream gets exactly what it missed, and gRPC and REST must pass.
func TestNginxProxy(t *testing.T) {
	bin := nginxBinary(t)
	nodes := startNginxBackends(t)
	px := startNginx(t, bin, nodes)

	conn, err := grpc.NewClient(px.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := heraldv1.NewNotifyServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	user := "nginx-" + nginxRandomHex(t, 4)

	// Headers come at once and untouched: no compression even though the
	// client accepts it, and nginx consumed X-Accel-Buffering itself.
	opened := time.Now()
	st := openStream(t, px.HTTPAddr, "/v1/stream", map[string]string{
		"Authorization":   "Bearer " + token(t, user),
		"Accept-Encoding": "gzip",
	})
	if st.resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(st.resp.Body, 4096))
		t.Fatalf("stream through nginx: status %d: %s", st.resp.StatusCode, b)
	}
	t.Logf("stream headers through nginx after %v", time.Since(opened))
	if ct := st.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type %q", ct)
	}
	if ce := st.resp.Header.Get("Content-Encoding"); ce != "" {
		t.Errorf("stream is compressed (%s): events would wait for the compressor's buffer", ce)
	}

	// Latency: from each Notify's return (through nginx's gRPC port) to its
	// event at the client (through nginx's HTTP port).
	type arrival struct {
		ev    event
		title string
		at    time.Time
		err   error
	}
	arrivals := make(chan arrival, 64)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			ev, p, err := st.NextNotification(30 * time.Second)
			arrivals <- arrival{ev, p.Title, time.Now(), err}
			if err != nil {
				return
			}
		}
	}()
	const live = 20
	var lats []time.Duration
	var lastID string
	for i := range live {
		title := fmt.Sprintf("live-%d", i)
		if _, err := notifyUser(ctx, client, user, title); err != nil {
			t.Fatalf("Notify %s through nginx: %v", title, err)
		}
		acked := time.Now()
		var a arrival
		select {
		case a = <-arrivals:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not arrive through nginx within 5s", title)
		}
		if a.err != nil {
			t.Fatalf("reading the stream through nginx: %v", a.err)
		}
		if a.title != title {
			t.Fatalf("got %q, want %q", a.title, title)
		}
		// The event may beat the Notify response: that counts as no delay.
		lats = append(lats, max(a.at.Sub(acked), 0))
		lastID = a.ev.ID
	}
	slices.Sort(lats)
	t.Logf("Notify return → event through nginx, %d events: p50 %v, max %v", live, lats[live/2], lats[live-1])
	if worst := lats[live-1]; worst >= 100*time.Millisecond {
		t.Errorf("an event took %v through nginx after its Notify returned, want < 100ms (buffered?)", worst)
	}
	st.Close()
	<-readerDone

	// Resume: what is sent while the client is away arrives, exactly once
	// and in order, on a new stream through nginx with Last-Event-ID (which
	// may land on the other node).
	const missed = 5
	for i := range missed {
		if _, err := notifyUser(ctx, client, user, fmt.Sprintf("missed-%d", i)); err != nil {
			t.Fatalf("Notify through nginx: %v", err)
		}
	}
	resumed := openStream(t, px.HTTPAddr, "/v1/stream", map[string]string{
		"Authorization": "Bearer " + token(t, user),
		"Last-Event-ID": lastID,
	})
	if resumed.resp.StatusCode != http.StatusOK {
		t.Fatalf("resumed stream through nginx: status %d", resumed.resp.StatusCode)
	}
	prev, _ := strconv.ParseUint(lastID, 10, 64)
	for i := range missed {
		ev, p, err := resumed.NextNotification(5 * time.Second)
		if err != nil {
			t.Fatalf("resumed stream, event %d: %v", i, err)
		}
		if want := fmt.Sprintf("missed-%d", i); p.Title != want {
			t.Fatalf("resumed stream event %d: got %q (id %s), want %q", i, p.Title, ev.ID, want)
		}
		if id, err := strconv.ParseUint(ev.ID, 10, 64); err != nil || id <= prev {
			t.Fatalf("resumed stream event %d: id %q after %d", i, ev.ID, prev)
		} else {
			prev = id
		}
	}
	// Nothing else was replayed: the next event is one sent now, through
	// the REST entrance behind nginx.
	if err := restNotify(ctx, "http://"+px.HTTPAddr, notifyBody("after-resume", user)); err != nil {
		t.Fatalf("POST /v1/notify through nginx: %v", err)
	}
	if _, p, err := resumed.NextNotification(5 * time.Second); err != nil || p.Title != "after-resume" {
		t.Fatalf("after the missed events: got %q, %v; want after-resume", p.Title, err)
	}
	resumed.Close()

	checkNoSecretsLogged(t, px, user)
}

// checkNoSecretsLogged runs a browser's session through nginx that puts
// credentials in URLs, a token (?access_token=, the fallback) and a stream
// ticket (?ticket=), and checks that nginx's access log names the
// requests but holds neither. With two nodes behind nginx, the ticket's
// second use may land on the node that did not issue it: it is refused
// there too.
func checkNoSecretsLogged(t *testing.T, px *nginxProxy, user string) {
	t.Helper()
	base := "http://" + px.HTTPAddr
	tok := token(t, user)
	tk := streamTicket(t, base, user).Ticket
	byToken := openStream(t, px.HTTPAddr, "/v1/stream?access_token="+tok, nil)
	byTicket := openStream(t, px.HTTPAddr, "/v1/stream?events=message&ticket="+tk, nil)
	for _, st := range []*rawStream{byToken, byTicket} {
		if st.resp.StatusCode != http.StatusOK {
			t.Fatalf("stream through nginx with a credential in the URL: status %d", st.resp.StatusCode)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := restNotify(ctx, base, notifyBody("via-url", user)); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*rawStream{byToken, byTicket} {
		if _, p, err := st.NextNotification(5 * time.Second); err != nil || p.Title != "via-url" {
			t.Fatalf("through nginx: got %q, %v; want via-url", p.Title, err)
		}
		st.Close()
	}
	for range 2 { // each node, whichever nginx picks
		wantStreamRefused(t, px.HTTPAddr, "/v1/stream?ticket="+tk)
	}

	// nginx writes a request's line when the request ends: for the streams,
	// once it has seen the client go. Six streams were opened through it,
	// the two of TestNginxProxy and the four here.
	var logged string
	waitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(px.AccessLog)
		logged = string(b)
		return strings.Count(logged, "GET /v1/stream") >= 6 && strings.Contains(logged, "POST /v1/stream-tickets")
	}, func() string { return "access log " + px.AccessLog + " lacks the session's requests:\n" + logged })
	if !strings.Contains(logged, `"GET /v1/stream HTTP/1.1" 401`) {
		t.Errorf("nginx's access log lacks the refused ticket's line:\n%s", logged)
	}
	for what, secret := range map[string]string{"the token": tok, "the ticket": tk, "a query string": "?", "access_token": "access_token", "ticket=": "ticket="} {
		if strings.Contains(logged, secret) {
			t.Errorf("nginx's access log holds %s:\n%s", what, logged)
		}
	}
}

// nginxBinary finds nginx (Debian installs it in /usr/sbin, often not on a
// user's PATH), or stops the test as testenv.Missing does.
func nginxBinary(t *testing.T) string {
	t.Helper()
	return testenv.NeedCommand(t, "nginx", "Debian package nginx")
}

// startNginxBackends starts the nodes behind the proxy: two cluster-mode
// nodes sharing the local Redis under a prefix of their own when this herald
// has the Redis store and Redis answers, else one node on the embedded store.
func startNginxBackends(t *testing.T) []*server {
	t.Helper()
	help, _ := exec.Command(heraldBin, "--help").CombinedOutput()
	if !bytes.Contains(help, []byte("-redis-url")) {
		t.Log("this herald has no Redis store: one node behind nginx")
		return []*server{startServer(t)}
	}
	rdb := testenv.NeedRedis(t, nginxRedisAddr)
	prefix := clusterPrefix(t, rdb)
	args := withArgs("--store=redis", "--redis-url=redis://"+nginxRedisAddr+"/0", "--redis-prefix="+prefix)
	return []*server{startServer(t, args), startServer(t, args)}
}

// nginxProxy is one nginx master process and its workers.
type nginxProxy struct {
	HTTPAddr, GRPCAddr string
	// AccessLog is the path of the access log of herald.conf's HTTP server.
	AccessLog string
	cmd       *exec.Cmd
	exited    chan struct{}
	mu        sync.Mutex
	stderr    bytes.Buffer
}

func (p *nginxProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.Write(b)
}

func (p *nginxProxy) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startNginx runs nginx in the foreground on free 127.0.0.1 ports with
// deploy/nginx/herald.conf pointed at nodes. The ports are picked free and
// then bound by nginx, so another process can take one in between: then
// nginx exits at once and this tries new ports.
func startNginx(t *testing.T, bin string, nodes []*server) *nginxProxy {
	t.Helper()
	var logs string
	for range 3 {
		p, err := tryStartNginx(t, bin, nodes)
		if err == nil {
			return p
		}
		logs = err.Error()
		if !strings.Contains(logs, "Address already in use") {
			break
		}
	}
	t.Fatalf("nginx did not start: %s", logs)
	return nil
}

func tryStartNginx(t *testing.T, bin string, nodes []*server) (*nginxProxy, error) {
	dir := t.TempDir()
	httpPort, grpcPort := freePort(t), freePort(t)
	if err := renderNginxConf(dir, httpPort, grpcPort, nodes); err != nil {
		t.Fatal(err)
	}
	p := &nginxProxy{
		HTTPAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
		GRPCAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort)),
		AccessLog: filepath.Join(dir, "access.log"),
		exited:    make(chan struct{}),
	}
	p.cmd = exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"),
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr notice;")
	p.cmd.Stdout, p.cmd.Stderr = p, p
	// Own process group, so the workers go too if the master is killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)

	health := "http://" + p.HTTPAddr + "/nginx-health"
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("exited: %s", p.Logs())
		default:
		}
		if resp, err := c.Get(health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(10 * time.Millisecond) // polling a bounded wait for the listener
	}
	return nil, fmt.Errorf("not serving %s within 10s: %s", health, p.Logs())
}

// stop ends nginx with a fast shutdown (SIGTERM), then SIGKILLs its process
// group if it lingers.
func (p *nginxProxy) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// renderNginxConf writes into dir a main nginx.conf that includes the
// deployed herald.conf unchanged but for its listen addresses and the path
// of its access log (dir/access.log), and the upstream files it includes,
// naming the test's nodes.
func renderNginxConf(dir string, httpPort, grpcPort int, nodes []*server) error {
	conf, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "nginx", "herald.conf"))
	if err != nil {
		return err
	}
	s := string(conf)
	for old, repl := range map[string]string{
		"listen 8080;":       fmt.Sprintf("listen 127.0.0.1:%d;", httpPort),
		"listen 9090 http2;": fmt.Sprintf("listen 127.0.0.1:%d http2;", grpcPort),
		"access_log /var/log/nginx/herald-access.log herald_noquery;": "access_log " + filepath.Join(dir, "access.log") + " herald_noquery;",
	} {
		if n := strings.Count(s, old); n != 1 {
			return fmt.Errorf("herald.conf has %q %d times, want once", old, n)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	var httpUp, grpcUp strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&httpUp, "server %s;\n", n.HTTPAddr)
		fmt.Fprintf(&grpcUp, "server %s;\n", n.GRPCAddr)
	}
	// Workers run as root only when the master does (as in CI), so that they
	// can use the temp directories under this test's private dir.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;"
	}
	mainConf := fmt.Sprintf(`%s
worker_processes 1;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include herald.conf;
}
`, user)
	if err := os.MkdirAll(filepath.Join(dir, "upstreams"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	for name, content := range map[string]string{
		"nginx.conf":                 mainConf,
		"herald.conf":                s,
		"upstreams/herald-http.conf": httpUp.String(),
		"upstreams/herald-grpc.conf": grpcUp.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func nginxRandomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
