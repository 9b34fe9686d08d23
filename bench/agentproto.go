package bench

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"c1m/sysctl"
)

// The agent protocol: JSON lines over TCP, one session per connection.
//
//  1. The agent greets: {"type":"hello","version":1,"nonce":<32 random bytes>}.
//  2. The orchestrator proves it holds the key without sending it:
//     {"op":"auth","mac":HMAC-SHA256(key, "c1m-agent-auth\0" ‖ agent nonce),
//     "nonce":<its own 32 random bytes>}.
//  3. The agent answers {"type":"ok","mac":HMAC-SHA256(key,
//     "c1m-agent-proof\0" ‖ orchestrator nonce)}, proving it holds the key
//     too, or {"type":"error",...} and closes.
//  4. Requests, each answered by one line: "plan" (the agent checks its
//     room and its loadgen tuning for a share and says how it will run
//     it), "time" (a clock sample) — any number of these on the control
//     session — or "worker": the agent starts a `c1m bench worker` and the
//     session becomes that worker's stdin and stdout, the very lines a
//     local worker reads and writes (Command in; Progress and Dump out),
//     ended by an "exit" line when the worker has exited.
//
// The key authenticates both ends; it does not encrypt the session. The
// one secret that travels, a JWT key for the workers' tokens, is sealed
// with AES-256-GCM under a key derived from the agent key and both nonces.
// Bytes are base64 in JSON ([]byte).
const agentVersion = 1

// Limits of the protocol.
const (
	agentNonceLen = 32
	// agentMaxLine bounds a request line: a plan or worker request with
	// thousands of targets fits; a dump line from a worker is never
	// parsed by the agent (it is copied through).
	agentMaxLine = 1 << 20
)

// agentMsg is every line of the protocol: requests carry Op, replies Type.
type agentMsg struct {
	Op   string `json:"op,omitempty"`   // auth, plan, time, worker
	Type string `json:"type,omitempty"` // hello, ok, error, plan, time, exit

	Version int    `json:"version,omitempty"`
	Nonce   []byte `json:"nonce,omitempty"`
	MAC     []byte `json:"mac,omitempty"`
	Error   string `json:"error,omitempty"`

	Plan   *AgentPlan  `json:"plan,omitempty"`   // plan request
	Info   *AgentInfo  `json:"info,omitempty"`   // plan reply
	Worker *WorkerSpec `json:"worker,omitempty"` // worker request

	// time: T0 is the orchestrator's send time (echoed), T1 and T2 the
	// agent's receive and send times, Unix ns on each one's own clock.
	T0 int64 `json:"t0,omitempty"`
	T1 int64 `json:"t1,omitempty"`
	T2 int64 `json:"t2,omitempty"`

	Code int `json:"code,omitempty"` // exit: the worker's exit status
}

// AgentPlan asks an agent about its share of a run.
type AgentPlan struct {
	Conns   int      `json:"conns"`
	Targets []string `json:"targets"`
}

// AgentInfo is an agent's answer to a plan: the box, how it will run its
// share, and the shortfalls of its tuning for it (`c1m sysctl check
// --role loadgen`).
type AgentInfo struct {
	Hostname string `json:"hostname"`
	Cores    int    `json:"cores"`
	Kernel   string `json:"kernel"`
	MemTotal int64  `json:"mem_total_bytes"`
	// BootID is the kernel's boot id: equal to the orchestrator's when
	// the agent shares its kernel (a network namespace), so that both
	// ends of its connections count in this box's kernel memory.
	BootID string `json:"boot_id"`
	NoFile uint64 `json:"nofile"` // open-files limit of each worker process
	// PerWorker is the connections one worker process may hold under
	// NoFile; Workers the processes the share takes, MaxWorkers the most
	// it runs.
	PerWorker  int      `json:"per_worker"`
	Workers    int      `json:"workers"`
	MaxWorkers int      `json:"max_workers"`
	Sources    []string `json:"sources"`
	Ports      string   `json:"ports"`
	// Loadgen are the rows of the loadgen check that fall short for the
	// share (the open-files row for one worker process's part of it).
	Loadgen []sysctl.Row `json:"loadgen,omitempty"`
}

// errAgentKey is what an agent answers to a wrong key.
var errAgentKey = errors.New("bench: wrong agent key")

func agentNonce() ([]byte, error) {
	b := make([]byte, agentNonceLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("cannot make a nonce: %w", err)
	}
	return b, nil
}

// agentMAC is HMAC-SHA256(key, label ‖ 0 ‖ parts...).
func agentMAC(key []byte, label string, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// sealedJWT is a JWT key on its way to an agent: Kind "secret" (HS256)
// or "pem" (an RS256 or ES256 private key), Box the AES-GCM nonce and
// ciphertext.
type sealedJWT struct {
	Kind string `json:"kind"`
	Box  []byte `json:"box"`
}

// sessionKeys are one session's nonces and the agent key: what seals and
// opens the secrets of that session.
type sessionKeys struct {
	key, agentNonce, orchNonce []byte
}

func (k sessionKeys) aead() (cipher.AEAD, error) {
	b, err := aes.NewCipher(agentMAC(k.key, "c1m-agent-seal", k.agentNonce, k.orchNonce))
	if err != nil {
		return nil, fmt.Errorf("cannot seal: %w", err)
	}
	return cipher.NewGCM(b)
}

func (k sessionKeys) seal(kind string, secret []byte) (*sealedJWT, error) {
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	n := make([]byte, g.NonceSize())
	if _, err := rand.Read(n); err != nil {
		return nil, fmt.Errorf("cannot seal: %w", err)
	}
	return &sealedJWT{Kind: kind, Box: g.Seal(n, n, secret, []byte(kind))}, nil
}

func (k sessionKeys) open(s *sealedJWT) ([]byte, error) {
	g, err := k.aead()
	if err != nil {
		return nil, err
	}
	if len(s.Box) < g.NonceSize() {
		return nil, errors.New("cannot open the sealed JWT key: too short")
	}
	b, err := g.Open(nil, s.Box[:g.NonceSize()], s.Box[g.NonceSize():], []byte(s.Kind))
	if err != nil {
		return nil, fmt.Errorf("cannot open the sealed JWT key: %w", err)
	}
	return b, nil
}

// writeMsg writes m as one line.
func writeMsg(w io.Writer, m agentMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("cannot encode %s%s: %w", m.Op, m.Type, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// errLineTooLong: a line past agentMaxLine.
var errLineTooLong = errors.New("bench: agent protocol line too long")

// readMsg reads one line of at most agentMaxLine bytes into a message.
func readMsg(r *bufio.Reader) (agentMsg, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > agentMaxLine {
			return agentMsg{}, errLineTooLong
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return agentMsg{}, err
		}
	}
	var m agentMsg
	if err := json.Unmarshal(bytes.TrimSpace(line), &m); err != nil {
		return agentMsg{}, fmt.Errorf("cannot parse agent protocol line: %w", err)
	}
	return m, nil
}
