//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"c1m/bench"
	"c1m/internal/c1mtest"
)

// TestBenchRoomsAndChurn runs the rooms and churn scenarios at a small
// size: in rooms every member gets exactly the messages of its room
// (publishes × room size deliveries in all), and under churn the
// connections that stayed get every broadcast while others reconnect.
func TestBenchRoomsAndChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark for about 15 s; run without -short")
	}
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(c1mtest.Binary(t), "bench", "--conns", "2000", "--servers", "1", "--workers", "1",
		"--scenario", "rooms,churn", "--hold", "1s", "--room-size", "20", "--publish-rate", "200",
		"--duration", "3s", "--interval", "500ms", "--churn-rate", "100", "--base-port", "29080", "--out", out)
	cmd.Env = c1mtest.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if b, err := cmd.Output(); err != nil {
		t.Fatalf("c1m bench: %v\n%s\n%s", err, b, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	if len(rep.Phases) != 2 {
		t.Fatalf("phases %+v, want rooms and churn", rep.Phases)
	}
	rooms, churn := rep.Phases[0], rep.Phases[1]
	// 100 rooms of 20: every message of a room reaches its 20 members.
	if rooms.Name != "rooms" || rooms.Messages == 0 || rooms.Messages%100 != 0 ||
		rooms.Deliveries != int64(rooms.Messages)*20 || rooms.Complete != 2000 || rooms.Extra != 0 {
		t.Fatalf("rooms phase %+v: want every member to get exactly its room's messages", rooms)
	}
	if churn.Name != "churn" || churn.Churned == 0 || churn.Receivers == 0 ||
		churn.Complete != churn.Receivers || churn.Extra != 0 {
		t.Fatalf("churn phase %+v: want reconnections, and every stable connection complete", churn)
	}
}
