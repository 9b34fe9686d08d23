//go:build linux

package app

import (
	"testing"

	"c1m/server"
)

// TestJoinSinceWithoutHistory: without a history, a join that says the
// last seq it saw gets one gap notice for what came after it, and then the
// live stream; a join without since gets none.
func TestJoinSinceWithoutHistory(t *testing.T) {
	ta := startApp(t, Config{RateBurst: 100, RateRefill: 100}, server.Config{}, APIConfig{})
	a := dialRawApp(t, ta.s, "a", 0)
	a.sendAll(`{"type":"join","room":"r"}`)
	if f := a.nextFrame(); f.Type != "joined" {
		t.Fatalf("%+v", f)
	}
	for i := 0; i < 5; i++ {
		ta.publish(t, `{"room":"r","data":1}`)
	}
	for i := 1; i <= 5; i++ {
		if f := a.nextFrame(); f.Seq != uint64(i) {
			t.Fatalf("a got %+v, want seq %d", f, i)
		}
	}
	b := dialRawApp(t, ta.s, "b", 0)
	b.sendAll(`{"type":"join","room":"r","since":2,"id":7}`)
	if f := b.nextFrame(); f.Type != "joined" {
		t.Fatalf("b: %+v, want joined", f)
	}
	if f := b.nextFrame(); f.Type != "gap" || f.FromSeq != 3 || f.ToSeq != 5 || f.Missed != 3 {
		t.Fatalf("b: %+v, want gap 3..5, 3 missed", f)
	}
	ta.publish(t, `{"room":"r","data":1}`)
	if f := b.nextFrame(); f.Type != "message" || f.Seq != 6 {
		t.Fatalf("b: %+v, want message seq 6", f)
	}
	// Up to date: no gap, just live.
	c := dialRawApp(t, ta.s, "c", 0)
	c.sendAll(`{"type":"join","room":"r","since":6}`)
	if f := c.nextFrame(); f.Type != "joined" {
		t.Fatalf("c: %+v", f)
	}
	ta.publish(t, `{"room":"r","data":1}`)
	if f := c.nextFrame(); f.Type != "message" || f.Seq != 7 {
		t.Fatalf("c: %+v, want message seq 7 and no gap", f)
	}
}
