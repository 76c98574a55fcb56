package proc

import (
	"os"
	"strconv"
	"strings"
)

// stat is what pipeline reads of /proc/PID/stat.
type stat struct {
	state byte // R, S, D, Z, ...
	ppid  int
	pgrp  int
}

// readStat reads /proc/PID/stat; ok is false when the process is gone.
func readStat(pid int) (stat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	return parseStat(string(b))
}

// parseStat parses "PID (COMM) STATE PPID PGRP ...". COMM may hold spaces
// and parentheses: the fields start after the last ')'.
func parseStat(s string) (stat, bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return stat{}, false
	}
	return stat{state: f[0][0], ppid: atoi(f[1]), pgrp: atoi(f[2])}, true
}

// atoi is strconv.Atoi that gives -1 for anything not a number.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
