// Package app is c1m's product on top of the connection engine: the JSON
// client protocol (docs/protocol.md: rooms, direct messages, presence,
// errors as JSON frames, rate limits), the fan-out through a
// broadcast.Hub, and the HTTP publish API for back ends. It sits above
// both server (the engine) and broadcast (the fan-out) and is the one
// place that wires them together.
//
// One constructor builds everything in the right order; Start and
// Shutdown run and drain it:
//
//	a, err := app.New(app.Config{
//		Engine: server.Config{Addr: ":8080", Auth: auth},
//		API:    app.APIConfig{Addr: "127.0.0.1:8081"},
//	})
//	if err != nil { ... }
//	if err := a.Start(); err != nil { ... }
//	...
//	_ = a.Shutdown(ctx)
//
// The files: app.go (Config, App, New, Start, Shutdown), protocol.go (the
// engine Handler: the client protocol), envelope.go (the in-place JSON
// envelope parser), ratelimit.go (token buckets), sender.go (the engine as
// the hub's broadcast.Sender), metrics.go (the messaging metrics), api.go
// (the publish API).
package app
