package rpc_test

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/rpc"
)

// TestNotifyKeyReused: a key reused for another notification is
// ALREADY_EXISTS with an ErrorInfo naming the reason, the field and the
// first notification, for Notify and for the notification of a batch.
func TestNotifyKeyReused(t *testing.T) {
	t.Parallel()
	c := serve(t, true)
	n := note("conflict")
	n.IdempotencyKey = "k"
	_, err := c.Notify(authed(), &heraldv1.NotifyRequest{Notification: n})
	check := func(err error, field string) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.AlreadyExists {
			t.Fatalf("code %v (%v), want AlreadyExists", st.Code(), err)
		}
		var info *errdetails.ErrorInfo
		for _, d := range st.Details() {
			if i, ok := d.(*errdetails.ErrorInfo); ok {
				info = i
			}
		}
		if info == nil || info.GetReason() != rpc.ReasonKeyReused || info.GetMetadata()["field"] != field || info.GetMetadata()["notification_id"] != "n-first" {
			t.Fatalf("details %v, want ErrorInfo %s for %s and n-first", st.Details(), rpc.ReasonKeyReused, field)
		}
	}
	check(err, "notification.idempotency_key")
	_, err = c.NotifyBatch(authed(), &heraldv1.NotifyBatchRequest{Notifications: []*heraldv1.Notification{note("ok"), n}})
	check(err, "notifications[1].idempotency_key")
}
