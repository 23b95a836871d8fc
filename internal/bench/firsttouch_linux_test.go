package bench

import (
	"syscall"
	"testing"
)

// BenchmarkFirstTouch measures what the agents' process pays for memory it has never
// touched: one write per 4 KiB page of a fresh anonymous mapping, so that every write is a
// page fault (and, on a virtual machine whose memory the host backs lazily, a fault on the
// host too). Its MB/s bounds how fast 1,000 agents in one process can take their first
// snapshot: each keeps ~2 MB of it (docs/benchmarks-push.md, target 4), so at 370 MB/s
// the first touch alone is ~5 s of CPU. "warm" writes the same pages again: the cost of
// memory that is already there, which is what a heap that reuses its garbage pays.
func BenchmarkFirstTouch(b *testing.B) {
	const size = 64 << 20
	touch := func(m []byte) {
		for i := 0; i < len(m); i += 4096 {
			m[i] = 1
		}
	}
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				b.Fatal(err)
			}
			touch(m)
			b.StopTimer()
			if err := syscall.Munmap(m); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		perPage(b, size)
	})
	b.Run("warm", func(b *testing.B) {
		m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			b.Fatal(err)
		}
		defer syscall.Munmap(m)
		touch(m)
		b.SetBytes(size)
		b.ResetTimer()
		for range b.N {
			touch(m)
		}
		perPage(b, size)
	})
}

// perPage reports the time per 4 KiB page touched.
func perPage(b *testing.B, size int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(size/4096)), "ns/page")
}
