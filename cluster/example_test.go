package cluster_test

import (
	"fmt"

	"c1m/broadcast"
	"c1m/cluster"
)

// A single embedded node: a message goes through the stream and comes
// back through the delivery callback, numbered.
func Example() {
	got := make(chan cluster.Message, 1)
	c, err := cluster.New(cluster.Config{Mode: cluster.ModeEmbedded, NodeName: "example"},
		func(m cluster.Message) { got <- m })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	lobby := broadcast.ToRoom("lobby")
	if err := c.Interest(lobby); err != nil {
		fmt.Println(err)
		return
	}
	// New does not wait for NATS; a publish before the connection is
	// refused with ErrNotConnected. Wait for the state.
	for c.Status().State != cluster.StateReady {
		waitReady()
	}
	// The subscription is made in the background: publish until it
	// comes back (a real application does not need this).
	acked := make(chan error, 1)
	for {
		if err := c.Publish(lobby, "alice", []byte(`{"text":"hi"}`), func(_ uint64, err error) { acked <- err }); err != nil {
			fmt.Println(err)
			return
		}
		if err := <-acked; err != nil {
			fmt.Println(err)
			return
		}
		select {
		case m := <-got:
			fmt.Println(m.Target.Name, m.From, string(m.Data), m.Seq > 0)
			return
		case <-afterShortWait():
		}
	}
	// Output: lobby alice {"text":"hi"} true
}
