//go:build !linux

package bench

import (
	"context"
	"errors"
)

// errUnsupported: the benchmark's workers run on epoll.
var errUnsupported = errors.New("bench: c1m bench runs on Linux only (epoll)")

// Worker is unavailable off Linux.
type Worker struct{}

// NewWorker returns an error off Linux.
func NewWorker(cfg WorkerConfig) (*Worker, error) { return nil, errUnsupported }

// Run returns an error off Linux.
func (w *Worker) Run(ctx context.Context) error { return errUnsupported }

// Do returns an error off Linux.
func (w *Worker) Do(cmd Command) (Dump, error) { return Dump{}, errUnsupported }

// Snapshot returns nothing off Linux.
func (w *Worker) Snapshot() Progress { return Progress{} }
