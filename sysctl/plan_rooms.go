package sysctl

import (
	"fmt"
	"strconv"
	"strings"
)

// RoomShare is one class of a room-size distribution: Share of the rooms
// (0 < Share ≤ 1) have Size members each.
type RoomShare struct {
	Size  int     `json:"size"`
	Share float64 `json:"share"`
}

// maxRoomClasses bounds a distribution; a plan needs a few classes, not
// a histogram.
const maxRoomClasses = 64

// ParseRoomSizes parses a room-size distribution written as
// SIZE:PERCENT pairs separated by commas, PERCENT being the share of
// rooms of that size, e.g. "50:90%,5000:10%" (the % sign is optional).
// The shares must add up to 100 %. A lone size with no share ("50") is
// every room. Errors wrap ErrBadPlan.
func ParseRoomSizes(s string) ([]RoomShare, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty room-size distribution", ErrBadPlan)
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxRoomClasses {
		return nil, fmt.Errorf("%w: %d room-size classes, at most %d", ErrBadPlan, len(parts), maxRoomClasses)
	}
	var out []RoomShare
	total := 0.0
	for _, p := range parts {
		sizeText, shareText, hasShare := strings.Cut(strings.TrimSpace(p), ":")
		size, err := strconv.Atoi(strings.TrimSpace(sizeText))
		if err != nil || size <= 0 {
			return nil, fmt.Errorf("%w: room size %q is not a positive whole number", ErrBadPlan, sizeText)
		}
		share := 1.0
		if hasShare {
			t := strings.TrimSuffix(strings.TrimSpace(shareText), "%")
			pct, err := strconv.ParseFloat(t, 64)
			if err != nil || !(pct > 0 && pct <= 100) {
				return nil, fmt.Errorf("%w: share %q of rooms of %d is not a percentage above 0 and at most 100", ErrBadPlan, shareText, size)
			}
			share = pct / 100
		} else if len(parts) > 1 {
			return nil, fmt.Errorf("%w: room size %d has no share; write SIZE:PERCENT for each class", ErrBadPlan, size)
		}
		total += share
		out = append(out, RoomShare{Size: size, Share: share})
	}
	if total < 0.999 || total > 1.001 {
		return nil, fmt.Errorf("%w: room shares add up to %.4g %%, want 100 %%", ErrBadPlan, total*100)
	}
	return out, nil
}

// meanRoomSize is the average members per room.
func meanRoomSize(rs []RoomShare) float64 {
	m := 0.0
	for _, r := range rs {
		m += r.Share * float64(r.Size)
	}
	return m
}

// largestRoom is the biggest class's size.
func largestRoom(rs []RoomShare) int {
	l := 0
	for _, r := range rs {
		l = max(l, r.Size)
	}
	return l
}
