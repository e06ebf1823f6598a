package rpc

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/tap"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
)

// streamSink is a stream's resume.Sink: each entry is a Send. grpc-go has no
// deadline per Send, and a Send waits for flow control while the client
// does not read; so a timer armed for each batch cancels the stream's
// context, which is what that wait gives up on.
type streamSink struct {
	ss      grpc.ServerStreamingServer[heraldv1.StreamResponse]
	cancel  context.CancelCauseFunc // nil on a server without StreamDeadlines
	timeout time.Duration
	timer   *time.Timer
	err     error // the first failure, returned by Flush
}

// Begin implements resume.Sink: it arms the batch's deadline.
func (o *streamSink) Begin(time.Time) {
	switch {
	case o.cancel == nil:
	case o.timer == nil:
		cancel := o.cancel
		o.timer = time.AfterFunc(o.timeout, func() { cancel(resume.ErrWriteTimeout) })
	default:
		o.timer.Reset(o.timeout)
	}
}

// Entry implements resume.Sink.
func (o *streamSink) Entry(e *notify.Entry, id []byte) {
	if e.Counts != nil {
		o.send(&heraldv1.StreamResponse{Kind: &heraldv1.StreamResponse_Read{
			Read: &heraldv1.InboxCounts{Unread: int32(e.Counts.Unread), Unseen: int32(e.Counts.Unseen)},
		}})
		return
	}
	ev := eventOf(*e)
	ev.Cursor = string(id) // the stream's, which holds every source's position
	o.send(&heraldv1.StreamResponse{Kind: &heraldv1.StreamResponse_Event{Event: ev}})
}

// Control implements resume.Sink. Token expiry and shutdown are said by
// the status the call ends with.
func (o *streamSink) Control(c resume.Control) {
	switch c.Kind {
	case resume.Open:
		// Headers tell the client that the stream is live: whatever is
		// committed from now on reaches it.
		if o.err == nil {
			o.err = o.ss.SendHeader(nil)
		}
	case resume.Reset:
		o.send(&heraldv1.StreamResponse{Kind: &heraldv1.StreamResponse_Reset_{
			Reset_: &heraldv1.StreamReset{Reason: "cursor_expired", Cursor: string(c.ID), Channel: string(c.Channel)},
		}})
	}
}

// Heartbeat implements resume.Sink. It sends nothing: the server's
// keepalive pings find a dead connection whether or not its streams are
// idle, below every client's message handling.
func (o *streamSink) Heartbeat() {}

// Flush implements resume.Sink: Send has written already; the batch's
// deadline is disarmed.
func (o *streamSink) Flush() error {
	if o.timer != nil {
		o.timer.Stop()
	}
	return o.err
}

func (o *streamSink) send(m *heraldv1.StreamResponse) {
	if o.err == nil {
		o.err = o.ss.Send(m)
	}
}

func (o *streamSink) stop() {
	if o.timer != nil {
		o.timer.Stop()
	}
}

// StreamDeadlines is the server option that lets Stream bound its Sends
// (StreamConfig.WriteTimeout): it gives each Stream call a context the
// stream can cancel, which a Send blocked on flow control gives up on. It
// is grpc.InTapHandle, of which a server has one.
func StreamDeadlines() grpc.ServerOption { return grpc.InTapHandle(tapStream) }

type sendCancelKey struct{}

func tapStream(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != heraldv1.InboxService_Stream_FullMethodName {
		return ctx, nil // unary calls pay nothing
	}
	ctx, cancel := context.WithCancelCause(ctx)
	return context.WithValue(ctx, sendCancelKey{}, cancel), nil
}

// sendCancel returns the cancel tapStream put in ctx, or nil.
func sendCancel(ctx context.Context) context.CancelCauseFunc {
	cancel, _ := ctx.Value(sendCancelKey{}).(context.CancelCauseFunc)
	return cancel
}
