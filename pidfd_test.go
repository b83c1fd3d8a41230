//go:build linux

package main

import (
	"testing"
	"unsafe"
)

// siginfoChld is handed to waitid, which writes a whole siginfo_t: 128
// bytes on Linux. Smaller would let the kernel write past it; the fields
// must sit where the kernel puts them.
func TestSiginfoChldLayout(t *testing.T) {
	var si siginfoChld
	if got := unsafe.Sizeof(si); got != 128 {
		t.Fatalf("unsafe.Sizeof(siginfoChld{}) = %d, want 128 (sizeof(siginfo_t))", got)
	}
	for _, f := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"signo", unsafe.Offsetof(si.signo), 0},
		{"errno", unsafe.Offsetof(si.errno), 4},
		{"code", unsafe.Offsetof(si.code), 8},
		{"pid", unsafe.Offsetof(si.pid), 16},
		{"uid", unsafe.Offsetof(si.uid), 20},
		{"status", unsafe.Offsetof(si.status), 24},
	} {
		if f.got != f.want {
			t.Errorf("siginfoChld.%s at offset %d, want %d", f.name, f.got, f.want)
		}
	}
}
