package sysctl

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseRoomSizes(t *testing.T) {
	ok := func(in string, want ...RoomShare) {
		t.Helper()
		got, err := ParseRoomSizes(in)
		if err != nil {
			t.Fatalf("%q: %s", in, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: got %+v, want %+v", in, got, want)
		}
		for i := range got {
			if got[i].Size != want[i].Size || math.Abs(got[i].Share-want[i].Share) > 1e-9 {
				t.Fatalf("%q: got %+v, want %+v", in, got, want)
			}
		}
	}
	ok("50", RoomShare{50, 1})
	ok("50:90%,5000:10%", RoomShare{50, 0.9}, RoomShare{5000, 0.1})
	ok(" 2:50 , 3:50% ", RoomShare{2, 0.5}, RoomShare{3, 0.5})
	ok("10:33.3%,20:33.3%,30:33.4%", RoomShare{10, 0.333}, RoomShare{20, 0.333}, RoomShare{30, 0.334})

	bad := func(in string) {
		t.Helper()
		if got, err := ParseRoomSizes(in); !errors.Is(err, ErrBadPlan) {
			t.Fatalf("%q: got %+v, %v; want ErrBadPlan", in, got, err)
		}
	}
	bad("")
	bad("0")
	bad("-5")
	bad("fifty")
	bad("50:90%")          // shares add up to 90 %
	bad("50:90%,5000:20%") // 110 %
	bad("50:0%,5000:100%") // a class of no rooms
	bad("50:abc,5000:10%") // not a number
	bad("50,5000")         // several classes need shares
	bad("50:90%,5000")     // idem
	bad("50:-10%,60:110%") // out of range
}

// planIn is a valid input that tests vary.
func planIn() PlanInput {
	return PlanInput{
		Connections: 1_000_000, Rooms: []RoomShare{{50, 1}}, PublishesPerSecond: 200, MessageBytes: 64,
		OnlineFraction: 1, TargetLatency: 100 * time.Millisecond, HeadroomPercent: 30,
		CoresPerBox: 8, MemoryPerBox: 32 << 30,
	}
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Abs(want) {
		t.Fatalf("%s = %g, want %g (±%g%%)", what, got, want, tol*100)
	}
}

func TestComputePlan(t *testing.T) {
	p, err := ComputePlan(planIn())
	if err != nil {
		t.Fatal(err)
	}
	const n = 1_000_000
	// Deliveries: publishes × room size × online.
	near(t, "deliveries/s", p.DeliveriesPerSecond, 200*50, 1e-12)
	near(t, "rooms", p.Rooms, n/50, 1e-12)
	near(t, "bytes out/s", p.BytesOutPerSecond, 10_000*(64+PlanEnvelopeBytes), 1e-12)
	near(t, "wire bits out/s", p.WireBitsOutPerSecond, 8*10_000*(64+PlanEnvelopeBytes+PlanWireBytesPerSegment), 1e-12)
	// Memory: one process's base plus the per-connection costs.
	near(t, "user memory", p.Memory.User, PlanProcessBaseBytes+n*PlanUserBytesPerConn, 1e-12)
	near(t, "kernel memory", p.Memory.Kernel, n*PlanKernelBytesPerSocket, 1e-12)
	near(t, "reclaimable part", p.Memory.KernelReclaimable, n*PlanKernelBytesPerSocket*PlanKernelReclaimableShare, 1e-12)
	near(t, "memory with headroom", p.MemoryPerBoxWithHeadroom, p.MemoryPerBox.Total/0.7, 1e-12)
	// CPU: deliveries, heartbeats every 30 s, publishes.
	near(t, "CPU deliveries", p.CPU.Deliveries, 10_000*CPUPerDelivery(n), 1e-12)
	near(t, "CPU heartbeats", p.CPU.Heartbeats, n/30.0*PlanCPUPerHeartbeat, 1e-12)
	near(t, "CPU publishes", p.CPU.Publishes, 200*PlanCPUPerPublish, 1e-12)
	if p.Boxes != 1 || p.ConnsPerBox != n || p.BoundBy != "one box is enough" {
		t.Fatalf("boxes %d, %d per box, %q", p.Boxes, p.ConnsPerBox, p.BoundBy)
	}
	// The slowest broadcast: 50 targets in one chunk on one thread.
	if p.BroadcastTargets != 50 || p.BroadcastParallelism != 1 || !p.MeetsTarget {
		t.Fatalf("broadcast: %d targets, %d threads, meets %v", p.BroadcastTargets, p.BroadcastParallelism, p.MeetsTarget)
	}
	near(t, "slowest broadcast", p.SlowestBroadcast.Seconds(), 50*CPUPerDelivery(n), 1e-6)
	// The sysctl values are Needs for the connections of one box.
	want, _ := Needs(n, RoleServer, PlanPageSize)
	if len(p.Sysctl) != len(want) || p.Sysctl[0] != want[0] || p.Sysctl[len(want)-1] != want[len(want)-1] {
		t.Fatalf("sysctl %+v, want %+v", p.Sysctl, want)
	}
	if len(p.Constants) == 0 {
		t.Fatal("no constants")
	}
	for _, c := range p.Constants {
		if c.Source == "" || c.Value <= 0 {
			t.Fatalf("constant %+v has no value or no source", c)
		}
	}
}

func TestComputePlanBoxes(t *testing.T) {
	// CPU-bound: 10 M deliveries/s at about 19 µs need about 190 cores.
	in := planIn()
	in.Rooms, in.PublishesPerSecond = []RoomShare{{1000, 1}}, 10_000
	p, err := ComputePlan(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.BoundBy != "cpu" || p.CPUPerBox.Total > 8*0.7 {
		t.Fatalf("bound by %q, %.2f cores per box", p.BoundBy, p.CPUPerBox.Total)
	}
	// One box fewer must not fit.
	if in.box(in.roomModel(), p.Boxes-1).cpu.Total <= 8*0.7 {
		t.Fatalf("%d boxes fit too", p.Boxes-1)
	}
	// Memory-bound: 20 M idle connections in boxes of 8 GiB.
	in = planIn()
	in.Connections, in.PublishesPerSecond, in.MemoryPerBox = 20_000_000, 0, 8<<30
	if p, err = ComputePlan(in); err != nil {
		t.Fatal(err)
	}
	if p.BoundBy != "memory" || p.MemoryPerBox.Total > 0.7*(8<<30) || p.Boxes*p.ConnsPerBox < in.Connections {
		t.Fatalf("bound by %q, %d boxes of %d, %.2f GiB per box", p.BoundBy, p.Boxes, p.ConnsPerBox, p.MemoryPerBox.Total/(1<<30))
	}
	if in.box(in.roomModel(), p.Boxes-1).mem.Total <= 0.7*(8<<30) {
		t.Fatalf("%d boxes fit too", p.Boxes-1)
	}
	// The largest room over several boxes: its members spread, each box
	// fans out its share on up to one thread per core.
	in = planIn()
	in.Rooms = []RoomShare{{50, 0.9}, {100_000, 0.1}}
	in.CoresPerBox = 2
	if p, err = ComputePlan(in); err != nil {
		t.Fatal(err)
	}
	perBox := ceilDiv(100_000, p.Boxes)
	if p.LargestRoom != 100_000 || p.BroadcastTargets != perBox || p.BroadcastParallelism != min(2, ceilDiv(perBox, PlanChunkSize)) {
		t.Fatalf("largest %d, %d targets per box on %d threads over %d boxes", p.LargestRoom, p.BroadcastTargets, p.BroadcastParallelism, p.Boxes)
	}
	near(t, "mean room size", p.MeanRoomSize, 0.9*50+0.1*100_000, 1e-12)
	if p.MeetsTarget != (p.SlowestBroadcast <= in.TargetLatency) {
		t.Fatalf("meets %v with %s against %s", p.MeetsTarget, p.SlowestBroadcast, in.TargetLatency)
	}
	// A room count: members spread evenly; online fraction halves the
	// online members per room.
	in = planIn()
	in.Rooms, in.RoomCount, in.OnlineFraction = nil, 1000, 0.5
	if p, err = ComputePlan(in); err != nil {
		t.Fatal(err)
	}
	near(t, "deliveries/s with a room count", p.DeliveriesPerSecond, 200*1000.0, 1e-12)
	if p.LargestRoom != 2000 {
		t.Fatalf("largest room %d, want 2000 members (1,000 online)", p.LargestRoom)
	}
}

func TestComputePlanBadInput(t *testing.T) {
	f := func(name string, mod func(*PlanInput)) {
		t.Helper()
		in := planIn()
		mod(&in)
		if _, err := ComputePlan(in); !errors.Is(err, ErrBadPlan) {
			t.Fatalf("%s: got %v, want ErrBadPlan", name, err)
		}
	}
	f("no connections", func(in *PlanInput) { in.Connections = 0 })
	f("too many connections", func(in *PlanInput) { in.Connections = planMaxConnections + 1 })
	f("no rooms", func(in *PlanInput) { in.Rooms = nil })
	f("rooms twice", func(in *PlanInput) { in.RoomCount = 10 })
	f("more rooms than connections", func(in *PlanInput) { in.Rooms, in.RoomCount = nil, 2_000_000 })
	f("a room larger than the plan", func(in *PlanInput) { in.Rooms = []RoomShare{{2_000_000, 1}} })
	f("negative rate", func(in *PlanInput) { in.PublishesPerSecond = -1 })
	f("NaN rate", func(in *PlanInput) { in.PublishesPerSecond = math.NaN() })
	f("empty message", func(in *PlanInput) { in.MessageBytes = 0 })
	f("huge message", func(in *PlanInput) { in.MessageBytes = planMaxMessage + 1 })
	f("nobody online", func(in *PlanInput) { in.OnlineFraction = 0 })
	f("more than all online", func(in *PlanInput) { in.OnlineFraction = 1.5 })
	f("no target", func(in *PlanInput) { in.TargetLatency = 0 })
	f("headroom 95%", func(in *PlanInput) { in.HeadroomPercent = 95 })
	f("no cores", func(in *PlanInput) { in.CoresPerBox = 0 })
	f("tiny box", func(in *PlanInput) { in.MemoryPerBox = 1 << 20 })
	f("ping 10ms", func(in *PlanInput) { in.PingInterval = 10 * time.Millisecond })
	f("boxes too small for any count", func(in *PlanInput) { in.MemoryPerBox = planMinMemory; in.HeadroomPercent = 90 })
}

func TestCPUPerDelivery(t *testing.T) {
	pts := cpuPerDelivery
	for _, p := range pts {
		near(t, "at a measured point", CPUPerDelivery(int(p.conns)), p.seconds, 1e-12)
	}
	// Held outside the points, rising between them.
	near(t, "below", CPUPerDelivery(10), pts[0].seconds, 1e-12)
	near(t, "above", CPUPerDelivery(50_000_000), pts[len(pts)-1].seconds, 1e-12)
	prev := 0.0
	for n := 10_000; n <= 2_000_000; n += 10_000 {
		v := CPUPerDelivery(n)
		if v < prev {
			t.Fatalf("CPU per delivery falls from %g to %g at %d connections", prev, v, n)
		}
		prev = v
	}
}

// TestNeedsMatchesCheck: c1m plan's sysctl values are the NEEDED column
// that c1m sysctl check prints for the same target, row for row.
func TestNeedsMatchesCheck(t *testing.T) {
	env := Env{Root: fakeTree(t, defaults()), PageSize: 4096}
	for _, role := range []Role{RoleServer, RoleLoadgen} {
		for _, n := range []int{1, 1000, 65_000, 1_000_000, 3_000_000} {
			rows, err := Check(env, n, role)
			if err != nil {
				t.Fatal(err)
			}
			needs, err := Needs(n, role, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(needs) {
				t.Fatalf("%s %d: %d rows, %d needs", role, n, len(rows), len(needs))
			}
			for i := range rows {
				if rows[i].Key != needs[i].Key || rows[i].Needed != needs[i].Needed {
					t.Fatalf("%s %d: check %q needs %q, Needs %q %q", role, n, rows[i].Key, rows[i].Needed, needs[i].Key, needs[i].Needed)
				}
			}
		}
	}
	if _, err := Needs(0, RoleServer, 4096); !errors.Is(err, ErrBadConns) {
		t.Fatalf("Needs(0): %v", err)
	}
	if _, err := Needs(10, "proxy", 4096); !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("Needs(proxy): %v", err)
	}
}
