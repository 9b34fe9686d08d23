// Package c1mtest is test support shared by c1m's tests:
//
//   - RawClient, the one WebSocket client of the end-to-end tests: a
//     blocking raw socket that sends exactly the bytes it is given and
//     parses replies with wsproto, allocating nothing in steady state (so
//     allocation tests can run it beside the server). The conformance
//     suite keeps its own parser, written apart from wsproto, as a judge.
//   - Eventually, the one way tests wait: for a state, with a deadline
//     only as a last guard.
//   - Binary, Serve and Proc: build c1m once per test process, run
//     `c1m serve` on free loopback ports as a child, and read its
//     /metrics and /proc entries.
//   - NewTLSFiles, RenderHAProxy, RenderNginx: a throwaway CA and server
//     certificate, and the shipped load balancer configurations with a
//     test's addresses and paths in place of the production ones.
//   - Browser: headless Chromium (Debian's /usr/bin/chromium) for the
//     tests of the status page and c1m.js, driven with chromedp.
//
// Only tests import it; nothing in it is part of c1m itself.
//
//	c, err := c1mtest.DialWS("127.0.0.1:8080", "/ws", c1mtest.DialOptions{})
//	if err != nil { t.Fatal(err) }
//	defer c.Close()
//	if err := c.Echo("hello"); err != nil { t.Fatal(err) }
package c1mtest
