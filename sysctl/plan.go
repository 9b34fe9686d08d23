package sysctl

import (
	"fmt"
	"math"
	"time"
)

// PlanInput is what a deployment must carry: the question c1m plan
// answers. Rooms gives the room sizes as a distribution; RoomCount, when
// Rooms is nil, gives the number of rooms instead (all of one size). Every
// connection is an online member of one room, so the rooms' members are
// Connections / OnlineFraction. A plain value.
type PlanInput struct {
	Connections        int           `json:"connections"`
	Rooms              []RoomShare   `json:"room_sizes,omitempty"`
	RoomCount          int           `json:"rooms,omitempty"`
	PublishesPerSecond float64       `json:"publishes_per_second"`
	MessageBytes       int           `json:"message_bytes"`
	OnlineFraction     float64       `json:"online_fraction"`
	TargetLatency      time.Duration `json:"target_latency_ns"`
	HeadroomPercent    float64       `json:"headroom_percent"`
	CoresPerBox        int           `json:"cores_per_box"`
	MemoryPerBox       uint64        `json:"memory_per_box_bytes"`
	// PingInterval is the servers' heartbeat period; zero means c1m
	// serve's default, 30 s.
	PingInterval time.Duration `json:"ping_interval_ns"`
}

// Limits on the inputs: past them the model is extrapolated beyond any
// sense, and the box search below stays bounded.
const (
	planMaxConnections = 10_000_000_000
	planMaxPublishes   = 1e9
	planMaxMessage     = 16 << 20
	planMaxCores       = 4096
	planMinMemory      = 64 << 20
	planMaxBoxes       = 1_000_000
	planMaxHeadroom    = 90
)

// Memory is the memory of the connections, in bytes. Kernel includes
// KernelReclaimable, the slab the kernel files as reclaimable although it
// stays pinned while the sockets are open.
type Memory struct {
	User              float64 `json:"user_bytes"`
	Kernel            float64 `json:"kernel_bytes"`
	KernelReclaimable float64 `json:"kernel_reclaimable_bytes"`
	Total             float64 `json:"total_bytes"`
}

// CPU is server CPU in cores (CPU seconds per second) by what spends it.
type CPU struct {
	Deliveries float64 `json:"deliveries_cores"`
	Heartbeats float64 `json:"heartbeats_cores"`
	Publishes  float64 `json:"publishes_cores"`
	Total      float64 `json:"total_cores"`
}

// Plan is the model's answer for a PlanInput. Per-box figures are for the
// busiest box when the connections do not divide evenly. A plain value.
type Plan struct {
	Input        PlanInput `json:"input"`
	Rooms        float64   `json:"rooms"`
	MeanRoomSize float64   `json:"mean_room_size"`
	LargestRoom  int       `json:"largest_room"`

	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	// FrameBytes is one delivery as written: the message, its envelope
	// and frame header.
	FrameBytes int `json:"frame_bytes"`
	// BytesOutPerSecond is frames written per second; WireBitsOutPerSecond
	// adds the Ethernet, IP and TCP overhead of each segment.
	BytesOutPerSecond    float64 `json:"bytes_out_per_second"`
	WireBitsOutPerSecond float64 `json:"wire_bits_out_per_second"`
	BytesInPerSecond     float64 `json:"bytes_in_per_second"`

	Boxes       int `json:"boxes"`
	ConnsPerBox int `json:"connections_per_box"`
	// BoundBy says what decided the number of boxes: "cpu", "memory" or
	// "one box is enough".
	BoundBy string `json:"bound_by"`

	// Memory is over all boxes, with one c1m serve process per box;
	// MemoryPerBox is the busiest box, and MemoryPerBoxWithHeadroom what
	// that box must have so that the connections use no more than
	// 100 % − headroom of it.
	Memory                   Memory  `json:"memory"`
	MemoryPerBox             Memory  `json:"memory_per_box"`
	MemoryPerBoxWithHeadroom float64 `json:"memory_per_box_with_headroom_bytes"`

	CPUPerDeliverySeconds float64 `json:"cpu_per_delivery_seconds"`
	CPU                   CPU     `json:"cpu"`
	CPUPerBox             CPU     `json:"cpu_per_box"`
	CoresPerBoxNeeded     float64 `json:"cores_per_box_needed"`

	// SlowestBroadcast is a publish to the largest room's online members
	// on one box: its targets there × CPU per delivery / Parallelism.
	SlowestBroadcast     time.Duration `json:"slowest_broadcast_ns"`
	BroadcastTargets     int           `json:"broadcast_targets_per_box"`
	BroadcastParallelism int           `json:"broadcast_parallelism"`
	MeetsTarget          bool          `json:"meets_target_latency"`

	// Sysctl is what each box needs for its connections, by the same
	// functions as c1m sysctl check.
	Sysctl    []Need     `json:"sysctl"`
	Constants []Constant `json:"constants"`
}

func (in PlanInput) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadPlan}, args...)...)
	}
	switch {
	case in.Connections <= 0 || in.Connections > planMaxConnections:
		return bad("connections must be between 1 and %d, got %d", planMaxConnections, in.Connections)
	case in.Rooms == nil && in.RoomCount <= 0:
		return bad("give the rooms as a size, a count or a size distribution")
	case in.Rooms != nil && in.RoomCount != 0:
		return bad("give the rooms as a count or as sizes, not both")
	case in.RoomCount > in.Connections:
		return bad("%d rooms for %d connections leaves rooms empty; every connection is in one room", in.RoomCount, in.Connections)
	case !(in.PublishesPerSecond >= 0 && in.PublishesPerSecond <= planMaxPublishes):
		return bad("publishes per second must be between 0 and %.0g, got %g", planMaxPublishes, in.PublishesPerSecond)
	case in.MessageBytes <= 0 || in.MessageBytes > planMaxMessage:
		return bad("message size must be between 1 and %d bytes, got %d", planMaxMessage, in.MessageBytes)
	case !(in.OnlineFraction > 0 && in.OnlineFraction <= 1):
		return bad("online fraction must be above 0 and at most 1, got %g", in.OnlineFraction)
	case in.TargetLatency <= 0:
		return bad("target latency must be positive, got %s", in.TargetLatency)
	case !(in.HeadroomPercent >= 0 && in.HeadroomPercent <= planMaxHeadroom):
		return bad("headroom must be between 0 and %d %%, got %g", planMaxHeadroom, in.HeadroomPercent)
	case in.CoresPerBox <= 0 || in.CoresPerBox > planMaxCores:
		return bad("cores per box must be between 1 and %d, got %d", planMaxCores, in.CoresPerBox)
	case in.MemoryPerBox < planMinMemory:
		return bad("memory per box must be at least %s, got %s", humanBytes(planMinMemory), humanBytes(in.MemoryPerBox))
	case in.PingInterval < 0 || (in.PingInterval > 0 && in.PingInterval < time.Second):
		return bad("ping interval must be at least 1s, got %s", in.PingInterval)
	}
	for _, r := range in.Rooms {
		if r.Size <= 0 || !(r.Share > 0 && r.Share <= 1) {
			return bad("room class %+v needs a positive size and a share in (0, 1]", r)
		}
		if float64(r.Size)*in.OnlineFraction > float64(in.Connections) {
			return bad("rooms of %d with %g online hold more connections than the %d planned", r.Size, in.OnlineFraction, in.Connections)
		}
	}
	return nil
}

// ComputePlan applies the capacity model (docs/operations.md, "Capacity
// planning") to in. It fails, with an error wrapping ErrBadPlan, on an
// input out of range or when no number of boxes up to a million fits.
func ComputePlan(in PlanInput) (Plan, error) {
	if err := in.validate(); err != nil {
		return Plan{}, err
	}
	if in.PingInterval == 0 {
		in.PingInterval = PlanPingInterval * time.Second
	}
	rooms := in.roomModel()
	p := Plan{Input: in, MeanRoomSize: rooms.meanOnline / in.OnlineFraction, LargestRoom: largestRoom(rooms.classes)}
	p.Rooms = float64(in.Connections) / rooms.meanOnline
	p.DeliveriesPerSecond = in.PublishesPerSecond * rooms.meanOnline
	p.FrameBytes = in.MessageBytes + PlanEnvelopeBytes
	segments := math.Ceil(float64(p.FrameBytes) / PlanMSS)
	p.BytesOutPerSecond = p.DeliveriesPerSecond * float64(p.FrameBytes)
	p.WireBitsOutPerSecond = 8 * p.DeliveriesPerSecond * (float64(p.FrameBytes) + segments*PlanWireBytesPerSegment)
	p.BytesInPerSecond = in.PublishesPerSecond * float64(in.MessageBytes)

	use := 1 - in.HeadroomPercent/100
	cpuFits := func(b int) bool { return in.box(rooms, b).cpu.Total <= float64(in.CoresPerBox)*use }
	memFits := func(b int) bool { return in.box(rooms, b).mem.Total <= float64(in.MemoryPerBox)*use }
	if !cpuFits(planMaxBoxes) || !memFits(planMaxBoxes) {
		return Plan{}, fmt.Errorf("%w: even %d boxes of %d cores and %s are not enough at %g %% headroom", ErrBadPlan, planMaxBoxes, in.CoresPerBox, humanBytes(in.MemoryPerBox), in.HeadroomPercent)
	}
	byCPU, byMem := smallest(cpuFits), smallest(memFits)
	p.Boxes = max(byCPU, byMem)
	switch {
	case p.Boxes == 1:
		p.BoundBy = "one box is enough"
	case byCPU >= byMem:
		p.BoundBy = "cpu"
	default:
		p.BoundBy = "memory"
	}

	bx := in.box(rooms, p.Boxes)
	p.ConnsPerBox = bx.conns
	p.MemoryPerBox = bx.mem
	p.MemoryPerBoxWithHeadroom = bx.mem.Total / use
	p.Memory = memoryOf(in.Connections, p.Boxes)
	p.CPUPerDeliverySeconds = CPUPerDelivery(bx.conns)
	p.CPUPerBox = bx.cpu
	p.CoresPerBoxNeeded = bx.cpu.Total / use
	p.CPU = CPU{
		Deliveries: p.DeliveriesPerSecond * p.CPUPerDeliverySeconds,
		Heartbeats: float64(in.Connections) / in.PingInterval.Seconds() * PlanCPUPerHeartbeat,
		Publishes:  bx.cpu.Publishes * float64(p.Boxes),
	}
	p.CPU.Total = p.CPU.Deliveries + p.CPU.Heartbeats + p.CPU.Publishes

	targets := int(math.Ceil(float64(p.LargestRoom) * in.OnlineFraction))
	p.BroadcastTargets = ceilDiv(targets, min(p.Boxes, targets))
	chunks := ceilDiv(p.BroadcastTargets, PlanChunkSize)
	p.BroadcastParallelism = min(in.CoresPerBox, PlanFanoutWorkersPerCore*in.CoresPerBox, chunks)
	p.SlowestBroadcast = time.Duration(float64(p.BroadcastTargets) * p.CPUPerDeliverySeconds / float64(p.BroadcastParallelism) * float64(time.Second))
	p.MeetsTarget = p.SlowestBroadcast <= in.TargetLatency

	var err error
	if p.Sysctl, err = Needs(p.ConnsPerBox, RoleServer, PlanPageSize); err != nil {
		return Plan{}, fmt.Errorf("cannot compute the sysctl values: %w", err)
	}
	p.Constants = PlanConstants()
	return p, nil
}

// roomDist is the room-size distribution the model works with.
type roomDist struct {
	classes []RoomShare
	// meanOnline is the average online members per room, the deliveries
	// of one publish.
	meanOnline float64
}

// roomModel turns a room count into one class of rooms (its size rounded
// up, its mean exact), or takes the distribution as given.
func (in PlanInput) roomModel() roomDist {
	if in.Rooms != nil {
		return roomDist{classes: in.Rooms, meanOnline: meanRoomSize(in.Rooms) * in.OnlineFraction}
	}
	mean := float64(in.Connections) / float64(in.RoomCount)
	return roomDist{
		classes:    []RoomShare{{Size: int(math.Ceil(mean / in.OnlineFraction)), Share: 1}},
		meanOnline: mean,
	}
}

// boxLoad is the busiest box when the connections are spread over b.
type boxLoad struct {
	conns int
	mem   Memory
	cpu   CPU
}

// box computes the load of one of b boxes. Each publish reaches the
// boxes that hold an online member of its room: with k members spread at
// random over b boxes, a given box holds one with probability
// 1 − (1 − 1/b)^k.
func (in PlanInput) box(rm roomDist, b int) boxLoad {
	conns := ceilDiv(in.Connections, b)
	pubs := 0.0
	for _, r := range rm.classes {
		k := float64(r.Size) * in.OnlineFraction
		pubs += r.Share * (1 - math.Pow(1-1/float64(b), k))
	}
	pubs *= in.PublishesPerSecond
	deliveries := in.PublishesPerSecond * rm.meanOnline / float64(b)
	ping := in.PingInterval
	if ping == 0 {
		ping = PlanPingInterval * time.Second
	}
	c := CPU{
		Deliveries: deliveries * CPUPerDelivery(conns),
		Heartbeats: float64(conns) / ping.Seconds() * PlanCPUPerHeartbeat,
		Publishes:  pubs * PlanCPUPerPublish,
	}
	c.Total = c.Deliveries + c.Heartbeats + c.Publishes
	return boxLoad{conns: conns, mem: memoryOf(conns, 1), cpu: c}
}

// memoryOf is the memory of conns connections held by procs c1m serve
// processes.
func memoryOf(conns, procs int) Memory {
	m := Memory{
		User:   float64(procs)*PlanProcessBaseBytes + float64(conns)*PlanUserBytesPerConn,
		Kernel: float64(conns) * PlanKernelBytesPerSocket,
	}
	m.KernelReclaimable = m.Kernel * PlanKernelReclaimableShare
	m.Total = m.User + m.Kernel
	return m
}

// smallest returns the least b in [1, planMaxBoxes] with fits(b), fits
// being monotone (more boxes never fit worse); fits(planMaxBoxes) holds.
func smallest(fits func(int) bool) int {
	lo, hi := 1, planMaxBoxes
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
