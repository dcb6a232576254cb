// proc.go: CPU time of a server's whole process tree (utime + stime of every process and thread,
// from /proc), read right before and right after the measured phase so that the workers'
// set-up (sign-ins) is not counted.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procStat returns the parent PID and utime+stime (clock ticks) of one process.
func procStat(pid int) (ppid int, ticks int64, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	text := string(data)
	// After "pid (comm) ": state, ppid, … utime is the 12th field, stime the 13th.
	i := strings.LastIndexByte(text, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(text[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, utime + stime, true
}

// parsePIDs reads "123,456" (empty: none).
func parsePIDs(list string) ([]int, error) {
	var pids []int
	for _, part := range strings.Split(list, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		pid, err := strconv.Atoi(part)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-cpu-pid: %q is not a process ID", part)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// treeTicks sums utime+stime over the roots and all their descendants.
func treeTicks(roots []int) int64 {
	if len(roots) == 0 {
		return 0
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	children := map[int][]int{}
	ticks := map[int]int64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, t, ok := procStat(pid); ok {
			children[ppid] = append(children[ppid], pid)
			ticks[pid] = t
		}
	}
	var total int64
	stack := append([]int(nil), roots...)
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		total += ticks[pid]
		stack = append(stack, children[pid]...)
	}
	return total
}
