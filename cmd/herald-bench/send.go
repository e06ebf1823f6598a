package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// note is one notification to send: to a user, a topic or a channel.
type note struct {
	user, topic, channel string
	seq                  uint64
	sent                 int64 // Unix nanoseconds
}

// sender is the one part of the load that differs between herald and the
// bare server: how notifications and subscriptions get in. The streams are
// read by the same code for both.
type sender interface {
	// Notify sends notes and returns how many of them, from the first,
	// the server acknowledged.
	Notify(ctx context.Context, notes []note) (int, error)
	Subscribe(ctx context.Context, topic string, users []string) error
	Close() error
}

// senders spreads calls over the nodes of a cluster, in turn.
type senders struct {
	all  []sender
	next atomic.Uint64
}

func (s *senders) pick() sender { return s.all[(s.next.Add(1)-1)%uint64(len(s.all))] }

func (s *senders) Notify(ctx context.Context, notes []note) (int, error) {
	return s.pick().Notify(ctx, notes)
}

func (s *senders) Subscribe(ctx context.Context, topic string, users []string) error {
	return s.pick().Subscribe(ctx, topic, users)
}

func (s *senders) Close() error {
	var errs []error
	for _, snd := range s.all {
		errs = append(errs, snd.Close())
	}
	return errors.Join(errs...)
}

// How notifications reach the bare server (--bare-notify).
const (
	bareNotifyHTTP = "http"
	bareNotifyGRPC = "grpc"
)

// How notifications reach herald (--notify).
const (
	notifyGRPC = "grpc"
	notifyREST = "rest"
)

// grpcSender sends to herald's NotifyService and SubscriptionService.
type grpcSender struct {
	conns  []*grpc.ClientConn
	notify []heraldv1.NotifyServiceClient
	subs   heraldv1.SubscriptionServiceClient
	md     metadata.MD
	rr     atomic.Uint64 // round robin over conns
}

func newGRPCSender(addr, apiKey string, conns int) (*grpcSender, error) {
	s := &grpcSender{md: metadata.Pairs("authorization", "Bearer "+apiKey)}
	for range max(conns, 1) {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dial grpc %s: %w", addr, err)
		}
		s.conns = append(s.conns, c)
		s.notify = append(s.notify, heraldv1.NewNotifyServiceClient(c))
	}
	s.subs = heraldv1.NewSubscriptionServiceClient(s.conns[0])
	return s, nil
}

func (s *grpcSender) Close() error {
	for _, c := range s.conns {
		c.Close()
	}
	return nil
}

func protoNote(n note) *heraldv1.Notification {
	a := &heraldv1.Audience{}
	switch {
	case n.user != "":
		a.UserIds = []string{n.user}
	case n.channel != "":
		a.Channels = []string{n.channel}
	default:
		a.Topics = []string{n.topic}
	}
	return &heraldv1.Notification{
		Audience: a,
		Type:     "bench",
		Title:    "bench",
		Data: &structpb.Struct{Fields: map[string]*structpb.Value{
			"s": structpb.NewStringValue(strconv.FormatUint(n.seq, 10)),
			"t": structpb.NewStringValue(strconv.FormatInt(n.sent, 10)),
		}},
	}
}

func (s *grpcSender) Notify(ctx context.Context, notes []note) (int, error) {
	ctx = metadata.NewOutgoingContext(ctx, s.md)
	c := s.notify[s.rr.Add(1)%uint64(len(s.notify))]
	if len(notes) == 1 {
		if _, err := c.Notify(ctx, &heraldv1.NotifyRequest{Notification: protoNote(notes[0])}); err != nil {
			return 0, err
		}
		return 1, nil
	}
	req := &heraldv1.NotifyBatchRequest{Notifications: make([]*heraldv1.Notification, len(notes))}
	for i, n := range notes {
		req.Notifications[i] = protoNote(n)
	}
	resp, err := c.NotifyBatch(ctx, req)
	if err != nil {
		return 0, err
	}
	return min(len(resp.GetResults()), len(notes)), nil
}

func (s *grpcSender) Subscribe(ctx context.Context, topic string, users []string) error {
	ctx = metadata.NewOutgoingContext(ctx, s.md)
	_, err := s.subs.Subscribe(ctx, &heraldv1.SubscribeRequest{Topics: []string{topic}, UserIds: users})
	return err
}

// httpSender sends to the bare server's POST /notify and /subscribe.
type httpSender struct {
	base   string
	client *http.Client
	auth   string // the Authorization header, if any
}

// newHTTPSender returns a sender that keeps up to idle keep-alive
// connections: one per caller, so that each caller reuses its own.
func newHTTPSender(addr string, idle int) *httpSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(idle, 1)
	return &httpSender{base: "http://" + addr, client: &http.Client{Transport: tr}}
}

func (s *httpSender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// bareNote is a notification on the bare server's wire.
type bareNote struct {
	UserIDs  []string        `json:"user_ids,omitempty"`
	Topics   []string        `json:"topics,omitempty"`
	Channels []string        `json:"channels,omitempty"`
	Data     json.RawMessage `json:"data"`
}

type bareNotifyRequest struct {
	Notifications []bareNote `json:"notifications"`
}

type bareNotifyResponse struct {
	Results []struct {
		ID         string `json:"id"`
		Recipients int    `json:"recipients"`
	} `json:"results"`
}

type bareSubscribeRequest struct {
	Topics  []string `json:"topics"`
	UserIDs []string `json:"user_ids"`
}

func (s *httpSender) Notify(ctx context.Context, notes []note) (int, error) {
	req := bareNotifyRequest{Notifications: make([]bareNote, len(notes))}
	for i, n := range notes {
		b := bareNote{Data: appendBenchData(nil, n.seq, n.sent)}
		switch {
		case n.user != "":
			b.UserIDs = []string{n.user}
		case n.channel != "":
			b.Channels = []string{n.channel}
		default:
			b.Topics = []string{n.topic}
		}
		req.Notifications[i] = b
	}
	var resp bareNotifyResponse
	if err := s.post(ctx, "/notify", req, &resp); err != nil {
		return 0, err
	}
	return min(len(resp.Results), len(notes)), nil
}

func (s *httpSender) Subscribe(ctx context.Context, topic string, users []string) error {
	return s.post(ctx, "/subscribe", bareSubscribeRequest{Topics: []string{topic}, UserIDs: users}, nil)
}

func (s *httpSender) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// restSender sends to herald's REST API, POST /v1/notify (or
// /v1/notify:batch) and /v1/subscriptions:subscribe, as JSON with the API
// key, over one keep-alive connection per caller.
type restSender struct{ *httpSender }

func newRESTSender(addr, apiKey string, callers int) restSender {
	s := newHTTPSender(addr, callers)
	s.auth = "Bearer " + apiKey
	return restSender{s}
}

// restNote is a herald Notification as REST JSON.
type restNote struct {
	Audience restAudience    `json:"audience"`
	Type     string          `json:"type"`
	Title    string          `json:"title"`
	Data     json.RawMessage `json:"data"`
}

type restAudience struct {
	UserIDs  []string `json:"user_ids,omitempty"`
	Topics   []string `json:"topics,omitempty"`
	Channels []string `json:"channels,omitempty"`
}

func newRESTNote(n note) restNote {
	r := restNote{Type: "bench", Title: "bench", Data: appendBenchData(nil, n.seq, n.sent)}
	switch {
	case n.user != "":
		r.Audience.UserIDs = []string{n.user}
	case n.channel != "":
		r.Audience.Channels = []string{n.channel}
	default:
		r.Audience.Topics = []string{n.topic}
	}
	return r
}

func (s restSender) Notify(ctx context.Context, notes []note) (int, error) {
	if len(notes) == 1 {
		var resp struct {
			ID string `json:"id"`
		}
		if err := s.post(ctx, "/v1/notify", newRESTNote(notes[0]), &resp); err != nil {
			return 0, err
		}
		return 1, nil
	}
	req := struct {
		Notifications []restNote `json:"notifications"`
	}{Notifications: make([]restNote, len(notes))}
	for i, n := range notes {
		req.Notifications[i] = newRESTNote(n)
	}
	var resp bareNotifyResponse // the same shape: {"results":[{"id":…}]}
	if err := s.post(ctx, "/v1/notify:batch", req, &resp); err != nil {
		return 0, err
	}
	return min(len(resp.Results), len(notes)), nil
}

func (s restSender) Subscribe(ctx context.Context, topic string, users []string) error {
	return s.post(ctx, "/v1/subscriptions:subscribe", bareSubscribeRequest{Topics: []string{topic}, UserIDs: users}, nil)
}
