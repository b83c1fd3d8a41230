//go:build linux

package main

// Reading a process's resident memory, which the node reports (its own
// and its handlers') and the supervisor checks (each node's).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// readRSS returns VmRSS of this process in bytes.
func readRSS() (int64, error) {
	return rssOf("/proc/self/status")
}

// rssOf returns VmRSS from a /proc/<pid>/status file, in bytes.
func rssOf(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	return rssFrom(f, path)
}

// rssFrom parses VmRSS from the text of a status file named name.
func rssFrom(f io.Reader, name string) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("VmRSS:")) {
			continue
		}
		fields := bytes.Fields(line[len("VmRSS:"):])
		if len(fields) < 1 {
			break
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("read rss: no VmRSS in %s", name)
}
