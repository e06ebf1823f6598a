package rpc

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
)

// eventOf is the API form of an inbox entry, shared by ListInbox and Stream.
func eventOf(e notify.Entry) *heraldv1.Event {
	n := e.Notification
	ev := &heraldv1.Event{
		Id:         n.ID,
		Cursor:     e.Cursor.String(),
		Type:       n.EventType(),
		Title:      n.Title,
		Body:       n.Body,
		Topic:      string(e.Topic),
		Category:   n.Category,
		Priority:   heraldv1.Priority(n.Priority),
		CreateTime: timestamppb.New(n.CreateTime),
	}
	if !n.ExpireTime.IsZero() {
		ev.ExpireTime = timestamppb.New(n.ExpireTime)
	}
	if ch, ok := notify.ChannelOf(e.User); ok {
		ev.Channel = string(ch)
	}
	if len(n.Data) > 0 {
		// Data was validated as a JSON object on the way in.
		d := new(structpb.Struct)
		if err := protojson.Unmarshal(n.Data, d); err == nil {
			ev.Data = d
		}
	}
	return ev
}
