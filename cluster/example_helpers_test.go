package cluster_test

import "time"

func waitReady()                       { time.Sleep(5 * time.Millisecond) }
func afterShortWait() <-chan time.Time { return time.After(50 * time.Millisecond) }
