package phone

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Two phones on loopback: one sends a MESSAGE straight to the other, which
// answers 200 and yields it on Messages.
func TestMessage(t *testing.T) {
	rx, err := New(Config{IP: "127.0.0.1", User: "2001"})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := New(Config{IP: "127.0.0.1", User: "1001", Server: rx.contact.Address.HostPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, err := tx.SendMessage(ctx, "2001", "hello ä")
	if err != nil || code != 200 {
		t.Fatalf("SendMessage: %d %v", code, err)
	}
	m, ok := rx.NextMessage(time.Second)
	if !ok {
		t.Fatal("no message received")
	}
	if m.Text != "hello ä" || m.ContentType != "text/plain;charset=utf-8" || !strings.HasPrefix(m.From, "sip:1001@127.0.0.1") {
		t.Fatalf("received %+v", m)
	}
	if _, ok := rx.NextMessage(50 * time.Millisecond); ok {
		t.Fatal("a second message out of nowhere")
	}
}
