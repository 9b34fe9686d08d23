package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"c1m/sysctl"
)

const planUsage = `usage: c1m plan --conns N (--room-size N | --rooms N | --room-sizes DIST) [flags]

Sizes a deployment from the measured costs of c1m (docs/operations.md,
"Capacity planning"): deliveries per second, bandwidth, memory, CPU, boxes,
the sysctl values per box and the slowest broadcast.

Every connection is an online member of one room; publishes are spread
evenly over the rooms.

  --conns N             connections to hold (required)
  --room-size N         every room has N members
  --rooms N             N rooms, the members spread evenly over them
  --room-sizes DIST     a distribution of room sizes, SIZE:PERCENT pairs where
                        PERCENT is the share of rooms, e.g. 50:90%,5000:10%
                        (90 % of the rooms have 50 members, 10 % have 5,000)
  --publish-rate R      publishes per second over all rooms (default 0)
  --size B              message size in bytes (default 64)
  --online F            fraction of the members online, 0.8 or 80% (default 1)
  --target-latency D    the slowest broadcast must take at most D (default 100ms)
  --headroom P          share of each box kept free, 30 or 30% (default 30%)
  --cores N             cores per box (default 8)
  --memory SIZE         memory per box: 32GiB, 512MiB, 64G (default 32GiB)
  --ping-interval D     the servers' heartbeat period (default 30s)
  --json                print the plan as JSON

Bad input: exit status 2 and one sentence on stderr.
`

// runPlan is `c1m plan`: the capacity model of package sysctl applied to
// the flags. Exit status 0 with the plan on stdout, 2 for bad input.
func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m plan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conns := fs.Int("conns", 0, "")
	roomSize := fs.Int("room-size", 0, "")
	roomCount := fs.Int("rooms", 0, "")
	roomSizes := fs.String("room-sizes", "", "")
	rate := fs.Float64("publish-rate", 0, "")
	size := fs.Int("size", 64, "")
	online := fs.String("online", "1", "")
	target := fs.Duration("target-latency", 100*time.Millisecond, "")
	headroom := fs.String("headroom", "30%", "")
	cores := fs.Int("cores", 8, "")
	memory := fs.String("memory", "32GiB", "")
	ping := fs.Duration("ping-interval", sysctl.PlanPingInterval*time.Second, "")
	jsonOut := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, planUsage)
			return 0
		}
		return usageError(stderr, fmt.Sprintf("c1m plan: %s; see c1m plan --help.", err))
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fmt.Sprintf("c1m plan: unexpected argument %q.", fs.Arg(0)))
	}
	in := sysctl.PlanInput{
		Connections: *conns, RoomCount: *roomCount, PublishesPerSecond: *rate, MessageBytes: *size,
		TargetLatency: *target, CoresPerBox: *cores, PingInterval: *ping,
	}
	given := 0
	for _, set := range []bool{*roomSize != 0, *roomCount != 0, *roomSizes != ""} {
		if set {
			given++
		}
	}
	if given != 1 {
		return usageError(stderr, "c1m plan: give the rooms with exactly one of --room-size, --rooms or --room-sizes.")
	}
	var err error
	switch {
	case *roomSize < 0:
		return usageError(stderr, fmt.Sprintf("c1m plan: --room-size must be a positive number of members, got %d.", *roomSize))
	case *roomSize > 0:
		in.Rooms = []sysctl.RoomShare{{Size: *roomSize, Share: 1}}
	case *roomSizes != "":
		if in.Rooms, err = sysctl.ParseRoomSizes(*roomSizes); err != nil {
			return planError(stderr, "--room-sizes: ", err)
		}
	}
	if in.OnlineFraction, err = parseFraction(*online); err != nil {
		return usageError(stderr, fmt.Sprintf("c1m plan: --online must be a fraction like 0.8 or 80%%, got %q.", *online))
	}
	// A bare number is a percentage too: --headroom 30 is 30 %.
	h, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(*headroom), "%"), 64)
	if err != nil || math.IsNaN(h) {
		return usageError(stderr, fmt.Sprintf("c1m plan: --headroom must be a percentage like 30%%, got %q.", *headroom))
	}
	in.HeadroomPercent = h
	if in.MemoryPerBox, err = parseBytes(*memory); err != nil {
		return usageError(stderr, fmt.Sprintf("c1m plan: --memory must be a size like 32GiB or 512MiB, got %q.", *memory))
	}
	p, err := sysctl.ComputePlan(in)
	if err != nil {
		return planError(stderr, "", err)
	}
	if *jsonOut {
		writeJSON(stdout, p)
		return 0
	}
	writePlan(stdout, p)
	return 0
}

// planError prints a model error as one sentence, without the package's
// sentinel prefix.
func planError(stderr io.Writer, prefix string, err error) int {
	msg := strings.TrimPrefix(err.Error(), sysctl.ErrBadPlan.Error()+": ")
	return usageError(stderr, "c1m plan: "+prefix+msg+".")
}

// parseFraction reads 0.8 or 80% as 0.8.
func parseFraction(s string) (float64, error) {
	s = strings.TrimSpace(s)
	div := 1.0
	if t, ok := strings.CutSuffix(s, "%"); ok {
		s, div = t, 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("cannot parse %q as a fraction", s)
	}
	return v / div, nil
}

// parseBytes reads a size with an optional binary unit: 32GiB, 32G, 512MiB,
// 1TiB, or plain bytes.
func parseBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}, {"B", 0}}
	shift := uint(0)
	for _, u := range units {
		if t, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(t), u.shift
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || v*math.Exp2(float64(shift)) >= 1<<62 {
		return 0, fmt.Errorf("cannot parse %q as a size", s)
	}
	return uint64(v * math.Exp2(float64(shift))), nil
}

// writePlan prints the plan as a table: each figure with how it was
// computed, then the sysctl values per box and the constants with their
// sources.
func writePlan(w io.Writer, p sysctl.Plan) {
	in := p.Input
	fmt.Fprintf(w, "c1m plan: %s connections in %s, %s publishes/s of %d B, %s online; boxes of %d cores and %s at %s headroom\n\n",
		count(float64(in.Connections)), roomsText(p), count(in.PublishesPerSecond), in.MessageBytes, pct(in.OnlineFraction),
		in.CoresPerBox, gib(float64(in.MemoryPerBox)), pct(in.HeadroomPercent/100))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(what, value, how string) { fmt.Fprintf(tw, "%s\t%s\t%s\n", what, value, how) }
	row("WHAT", "VALUE", "HOW")
	row("deliveries per second", count(p.DeliveriesPerSecond),
		fmt.Sprintf("%s publishes/s × %.4g online members per room", count(in.PublishesPerSecond), p.DeliveriesPerSecond/math.Max(in.PublishesPerSecond, 1e-300)))
	row("bandwidth out", fmt.Sprintf("%s/s (%s on the wire)", bytesText(p.BytesOutPerSecond), bitsText(p.WireBitsOutPerSecond)),
		fmt.Sprintf("deliveries × %d B frames (message + %d B envelope), + %d B per TCP segment on the wire", p.FrameBytes, sysctl.PlanEnvelopeBytes, sysctl.PlanWireBytesPerSegment))
	row("bandwidth in", bytesText(p.BytesInPerSecond)+"/s", "publishes × message size")
	row("memory, user space", gib(p.Memory.User),
		fmt.Sprintf("%d process(es) × %s + %s connections × %d B", p.Boxes, mib(sysctl.PlanProcessBaseBytes), count(float64(in.Connections)), sysctl.PlanUserBytesPerConn))
	row("memory, kernel", gib(p.Memory.Kernel),
		fmt.Sprintf("%s sockets × %s B; free(1) shows %s of it as reclaimable slab, pinned while the sockets are open", count(float64(in.Connections)), count(sysctl.PlanKernelBytesPerSocket), gib(p.Memory.KernelReclaimable)))
	row("memory, total", gib(p.Memory.Total),
		fmt.Sprintf("per box %s; with %s headroom a box needs %s", gib(p.MemoryPerBox.Total), pct(in.HeadroomPercent/100), gib(p.MemoryPerBoxWithHeadroom)))
	row("CPU, deliveries", cores(p.CPU.Deliveries), fmt.Sprintf("deliveries/s × %.1f µs at %s connections per box", p.CPUPerDeliverySeconds*1e6, count(float64(p.ConnsPerBox))))
	row("CPU, heartbeats", cores(p.CPU.Heartbeats), fmt.Sprintf("connections / %s × %.0f µs", in.PingInterval, sysctl.PlanCPUPerHeartbeat*1e6))
	row("CPU, publishes", cores(p.CPU.Publishes), fmt.Sprintf("publishes/s × boxes each reaches × %.0f µs", sysctl.PlanCPUPerPublish*1e6))
	row("CPU, total", cores(p.CPU.Total),
		fmt.Sprintf("per box %s; with %s headroom a box needs %.2f cores", cores(p.CPUPerBox.Total), pct(in.HeadroomPercent/100), p.CoresPerBoxNeeded))
	decides := map[string]string{"cpu": "CPU decides the count", "memory": "memory decides the count"}[p.BoundBy]
	if decides == "" {
		decides = p.BoundBy
	}
	row("boxes", strconv.Itoa(p.Boxes), fmt.Sprintf("%s connections per box; %s", count(float64(p.ConnsPerBox)), decides))
	verdict := "meets"
	if !p.MeetsTarget {
		verdict = "MISSES"
	}
	row("slowest broadcast", ms(p.SlowestBroadcast),
		fmt.Sprintf("room of %s: %s targets per box × %.1f µs / %d fan-out thread(s); %s the %s target", count(float64(p.LargestRoom)), count(float64(p.BroadcastTargets)),
			p.CPUPerDeliverySeconds*1e6, p.BroadcastParallelism, verdict, in.TargetLatency))
	tw.Flush()

	fmt.Fprintf(w, "\nsysctl and limits per box for %d connections (as `c1m sysctl check --conns %d` computes them):\n", p.ConnsPerBox, p.ConnsPerBox)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tNEEDED")
	for _, n := range p.Sysctl {
		fmt.Fprintf(tw, "%s\t%s\n", n.Key, n.Needed)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nconstants (measured on a 2-core box over loopback, both ends on it; docs/operations.md, \"Capacity planning\"):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSTANT\tVALUE\tSOURCE")
	for _, c := range p.Constants {
		fmt.Fprintf(tw, "%s\t%s %s\t%s\n", c.Name, strconv.FormatFloat(math.Round(c.Value*1000)/1000, 'f', -1, 64), c.Unit, c.Source)
	}
	tw.Flush()
}

func roomsText(p sysctl.Plan) string {
	in := p.Input
	switch {
	case in.Rooms == nil:
		return fmt.Sprintf("%s rooms of %.4g members", count(float64(in.RoomCount)), p.MeanRoomSize)
	case len(in.Rooms) == 1:
		return fmt.Sprintf("rooms of %d (%s rooms)", in.Rooms[0].Size, count(p.Rooms))
	}
	parts := make([]string, len(in.Rooms))
	for i, r := range in.Rooms {
		parts[i] = fmt.Sprintf("%s of rooms of %d", pct(r.Share), r.Size)
	}
	return fmt.Sprintf("%s rooms (%s)", count(p.Rooms), strings.Join(parts, ", "))
}

// count renders 1234567.8 as 1,234,568.
func count(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func pct(f float64) string         { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" }
func gib(b float64) string         { return fmt.Sprintf("%.2f GiB", b/(1<<30)) }
func mib(b float64) string         { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
func cores(c float64) string       { return fmt.Sprintf("%.2f cores", c) }
func ms(d time.Duration) string    { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func bitsText(bits float64) string { return fmt.Sprintf("%.1f Mbit/s", bits/1e6) }
func bytesText(bytes float64) string {
	switch {
	case bytes >= 1e9:
		return fmt.Sprintf("%.2f GB", bytes/1e9)
	case bytes >= 1e6:
		return fmt.Sprintf("%.2f MB", bytes/1e6)
	}
	return fmt.Sprintf("%.1f kB", bytes/1e3)
}
