package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/validate"
)

// toStatus translates an error from the domain into a gRPC status. Only
// validation errors reach the client in detail; unexpected errors are logged
// and reported generically, so that internals never leak.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	var ve *validate.Error
	var ce *ingest.ConflictError
	switch {
	case errors.As(err, &ve):
		return invalidArgument(ve)
	case errors.As(err, &ce):
		return keyReused(ce)
	case errors.Is(err, notify.ErrUnavailable), errors.Is(err, notify.ErrClosed):
		log.WarnContext(ctx, "request failed: unavailable", "method", method, "err", err)
		return status.Error(codes.Unavailable, unavailable(err)+"; retry")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	default:
		log.ErrorContext(ctx, "request failed", "method", method, "err", err)
		return status.Error(codes.Internal, "internal error")
	}
}

func invalidArgument(ve *validate.Error) error {
	br := &errdetails.BadRequest{FieldViolations: make([]*errdetails.BadRequest_FieldViolation, len(ve.Violations))}
	for i, v := range ve.Violations {
		br.FieldViolations[i] = &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description}
	}
	st, err := status.New(codes.InvalidArgument, summary(ve)).WithDetails(br)
	if err != nil {
		// Only a marshalling failure of BadRequest could land here.
		return status.Error(codes.InvalidArgument, ve.Error())
	}
	return st.Err()
}

// ReasonKeyReused is the ErrorInfo reason of an idempotency key reused for
// a different notification.
const ReasonKeyReused = "IDEMPOTENCY_KEY_REUSED"

// keyReused is ALREADY_EXISTS (HTTP 409 through the gateway): a
// notification exists under the key, and it is not this one. A retry with
// the same content would be a duplicate; this needs a new key. ErrorInfo
// names the key's field and the first notification's ID (the sender's
// own: keys are scoped per sender), one pair per conflict.
func keyReused(ce *ingest.ConflictError) error {
	c := ce.Conflicts[0]
	msg := "idempotency key reused for a different notification: " + c.Field + " was first used by notification " + c.ID
	if n := len(ce.Conflicts) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	info := &errdetails.ErrorInfo{Reason: ReasonKeyReused, Domain: "herald", Metadata: map[string]string{}}
	br := &errdetails.BadRequest{}
	for _, c := range ce.Conflicts {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: c.Field, Description: "already used for notification " + c.ID + " with different content; use a new key",
		})
	}
	info.Metadata["field"], info.Metadata["notification_id"] = c.Field, c.ID
	st, err := status.New(codes.AlreadyExists, msg).WithDetails(info, br)
	if err != nil {
		return status.Error(codes.AlreadyExists, msg)
	}
	return st.Err()
}

// summary names the first violation and counts the rest; the details list
// them all. Keeping the message short keeps the trailers well under the
// 8 KiB that many clients accept.
func summary(ve *validate.Error) string {
	if len(ve.Violations) == 0 {
		return "invalid request"
	}
	v := ve.Violations[0]
	msg := "invalid request: " + v.Field + ": " + v.Description
	if n := len(ve.Violations) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// unavailable says what is down: the inbox store, by kind when the store
// named itself (notify.UnavailableError), never its address or the cause,
// which are logged.
func unavailable(err error) string {
	if errors.Is(err, notify.ErrClosed) {
		return "server shutting down"
	}
	var ue *notify.UnavailableError
	if errors.As(err, &ue) {
		return "inbox store (" + ue.Dependency + ") temporarily unavailable"
	}
	return "inbox store temporarily unavailable"
}
