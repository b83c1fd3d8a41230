//go:build linux

package main

// The benchmark harness: what a benchmark measures a process by (CPU and
// memory from /proc) and how it reports a sample (median, p90, spread;
// detail lines on stdout). Used by bench_test.go and userfelt_bench_test.go.

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// taskTotals sums per-thread figures over /proc/PID/task/*.
type taskTotals struct {
	runNs                  int64 // time on CPU, schedstat
	ticks                  int64 // utime+stime of the process, clock ticks
	voluntary, involuntary int64
	threads                int
}

// taskStats reads pid's taskTotals now.
func taskStats(pid int) taskTotals {
	var t taskTotals
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		dir := fmt.Sprintf("/proc/%d/task/%s/", pid, task.Name())
		if b, err := os.ReadFile(dir + "schedstat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				t.runNs += ns
			}
		}
		if b, err := os.ReadFile(dir + "status"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) != 2 {
					continue
				}
				v, _ := strconv.ParseInt(f[1], 10, 64)
				switch f[0] {
				case "voluntary_ctxt_switches:":
					t.voluntary += v
				case "nonvoluntary_ctxt_switches:":
					t.involuntary += v
				}
			}
		}
		t.threads++
	}
	t.ticks = statTicks(pid)
	return t
}

// statTicks is utime+stime of a whole process (its exited threads
// included) from /proc/PID/stat, in clock ticks (USER_HZ, 100 on Linux).
func statTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	// After the comm: state is field 3 of stat(5), utime 14, stime 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// cpuOf is the CPU seconds (utime+stime) used so far by the processes.
func cpuOf(pids []int) float64 {
	var ticks int64
	for _, pid := range pids {
		ticks += statTicks(pid)
	}
	return float64(ticks) / 100
}

// selfCPU is the CPU seconds this test process has used: mostly the
// in-process kfake broker while a throughput run is on.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// note prints one line of detail to stdout, prefixed with the benchmark's
// name. Not b.Logf: go test keeps only the first 10 lines a benchmark logs.
func note(b *testing.B, format string, args ...any) {
	fmt.Printf("    %s: %s\n", b.Name(), fmt.Sprintf(format, args...))
}

// noteLoad logs the load average when the benchmark ends: the machine is
// shared, and a busy one explains a spread.
func noteLoad(b *testing.B) {
	b.Cleanup(func() {
		l, _ := os.ReadFile("/proc/loadavg")
		note(b, "load average at the end (1, 5, 15 min): %s", strings.Join(strings.Fields(string(l))[:3], " "))
	})
}

// machineCPU is the CPU seconds all CPUs of the machine have been busy
// (everything but idle and iowait), from the cpu line of /proc/stat.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return float64(busy) / 100
}

// memOf reads Rss and Pss (MB) from /proc/PID/smaps_rollup.
func memOf(pid int) (rss, pss float64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "Rss:":
			rss = kb / 1024
		case "Pss:":
			pss = kb / 1024
		}
	}
	return rss, pss, nil
}

// num is a log line's JSON number field as a float (0 when it is not one).
func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// reportSpread reports median, p90 and max of xs as custom metrics, and
// logs them with the minimum.
func reportSpread(b *testing.B, name string, xs []float64) {
	if len(xs) == 0 {
		return
	}
	med, p90, lo, hi := spread(xs)
	b.ReportMetric(med, name+"-median")
	b.ReportMetric(p90, name+"-p90")
	b.ReportMetric(hi, name+"-max")
	note(b, "%s: n=%d median=%.3f p90=%.3f min=%.3f max=%.3f", name, len(xs), med, p90, lo, hi)
}

// logSpread logs what reportSpread reports, for figures that are context.
func logSpread(b *testing.B, name string, xs []float64) {
	if len(xs) == 0 {
		return
	}
	med, p90, lo, hi := spread(xs)
	note(b, "%s: n=%d median=%.3f p90=%.3f min=%.3f max=%.3f", name, len(xs), med, p90, lo, hi)
}

// spread is the median (the upper one for an even count), the p90 (nearest
// rank), the minimum and the maximum of xs.
func spread(xs []float64) (med, p90, lo, hi float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	i90 := (9*n+9)/10 - 1
	return s[n/2], s[max(i90, 0)], s[0], s[n-1]
}
