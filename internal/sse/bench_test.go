package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/sse"
)

// countingWriter is a streaming ResponseWriter that discards what it gets
// and signals each flush.
type countingWriter struct {
	header  http.Header
	n       atomic.Int64
	flushed chan struct{}
}

func (w *countingWriter) Header() http.Header         { return w.header }
func (w *countingWriter) WriteHeader(int)             {}
func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }
func (w *countingWriter) Flush() {
	select {
	case w.flushed <- struct{}{}:
	default:
	}
}

func digits(c notify.Cursor) int64 {
	n := int64(1)
	for c >= 10 {
		c /= 10
		n++
	}
	return n
}

// BenchmarkFanOut publishes one event of a user with N open streams and
// waits until every stream has written it: hub delivery, encoding and
// flushing, per event.
func BenchmarkFanOut(b *testing.B) {
	for _, conns := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			hb := hub.New(hub.Options{})
			h := sse.NewHandler(sse.Config{
				Store:    newMemStore(hb),
				Hub:      hb,
				Verifier: fakeVerifier{tokenAlice: {User: "alice"}},
			})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			writers := make([]*countingWriter, conns)
			for i := range writers {
				w := &countingWriter{header: http.Header{}, flushed: make(chan struct{}, 1)}
				writers[i] = w
				req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/stream", nil)
				req.Header.Set("Authorization", "Bearer "+tokenAlice)
				wg.Go(func() { h.ServeHTTP(w, req) })
				<-w.flushed // the retry frame: subscribed
			}
			defer func() {
				cancel()
				wg.Wait()
			}()

			n := &notify.Notification{ID: "n1", Type: "order.shipped", Title: "Your order has shipped", CreateTime: createTime}
			batch := []notify.Entry{{User: "alice", Notification: n}}
			base := int64(len("id: \nevent: order.shipped\ndata: \n\n") + len(n.Payload()))
			start := writers[0].n.Load()
			target := start
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c := notify.Cursor(i + 1)
				batch[0].Cursor = c
				target += base + digits(c)
				hb.Publish(batch)
				for _, w := range writers {
					for w.n.Load() < target {
						<-w.flushed
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*conns)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkFanOutHTTP is BenchmarkFanOut over real HTTP/1.1 connections on
// loopback, with clients that read and count the bytes.
func BenchmarkFanOutHTTP(b *testing.B) {
	for _, conns := range []int{1, 10} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			hb := hub.New(hub.Options{})
			h := sse.NewHandler(sse.Config{
				Store:    newMemStore(hb),
				Hub:      hb,
				Verifier: fakeVerifier{tokenAlice: {User: "alice"}},
			})
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer h.Shutdown(context.Background())

			readers := make([]*countingWriter, conns)
			var wg sync.WaitGroup
			defer wg.Wait() // after the bodies are closed
			for i := range readers {
				cw := &countingWriter{header: http.Header{}, flushed: make(chan struct{}, 1)}
				readers[i] = cw
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				req.Header.Set("Authorization", "Bearer "+tokenAlice)
				resp, err := srv.Client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				wg.Go(func() {
					buf := make([]byte, 32<<10)
					for {
						n, err := resp.Body.Read(buf)
						cw.Write(buf[:n])
						cw.Flush()
						if err != nil {
							return
						}
					}
				})
				for cw.n.Load() < int64(len("retry: 3000\n\n")) {
					<-cw.flushed
				}
			}

			n := &notify.Notification{ID: "n1", Type: "order.shipped", Title: "Your order has shipped", CreateTime: createTime}
			batch := []notify.Entry{{User: "alice", Notification: n}}
			base := int64(len("id: \nevent: order.shipped\ndata: \n\n") + len(n.Payload()))
			target := readers[0].n.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c := notify.Cursor(i + 1)
				batch[0].Cursor = c
				target += base + digits(c)
				hb.Publish(batch)
				for _, r := range readers {
					for r.n.Load() < target {
						<-r.flushed
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*conns)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
