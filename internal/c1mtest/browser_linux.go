//go:build linux

package c1mtest

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium, which .ci/run installs.
const ChromiumPath = "/usr/bin/chromium"

// Browser starts headless Chromium (ChromiumPath) with a fresh profile and
// nothing that reaches beyond loopback (no QUIC, background networking,
// component updates or sync), and returns the chromedp context of its
// first tab; the browser has started when Browser returns. A context made
// from it with chromedp.NewContext opens another tab of the same browser.
// The browser is stopped when tb ends. A missing Chromium fails tb with
// the command that installs it.
func Browser(tb testing.TB) context.Context {
	tb.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		tb.Fatalf("this test needs Debian's chromium at %s (.ci/run installs it; by hand: apt-get install --no-install-recommends chromium): %v", ChromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()), // removed after the browser has stopped (cleanups run last-in first-out)
		chromedp.WindowSize(1280, 1500),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		tb.Fatalf("cannot start %s: %v", ChromiumPath, err)
	}
	return ctx
}
