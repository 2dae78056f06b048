package integration_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lazyFS is a LazyFS mount: a FUSE filesystem that keeps written data in
// its cache until fsync and can drop everything unsynced on command, which
// is what a power loss does to a page cache.
type lazyFS struct {
	mnt, disk, faults, doneFifo string
	cmd                         *exec.Cmd
	log                         string
	once                        sync.Once
}

// lazyFSBinary finds the prebuilt LazyFS (see /work/shared/tools/lazyfs).
func lazyFSBinary() string {
	if p := os.Getenv("DMZ_LAZYFS"); p != "" {
		return p
	}
	for _, p := range []string{"../../shared/tools/lazyfs/lazyfs", "/work/shared/tools/lazyfs/lazyfs"} {
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	return ""
}

// requireLazyFS fails under CI and skips elsewhere when LazyFS cannot run.
func requireLazyFS(t *testing.T) string {
	t.Helper()
	bin := lazyFSBinary()
	var problem string
	switch {
	case bin == "":
		problem = "LazyFS binary not found (set DMZ_LAZYFS or see ../shared/tools/lazyfs)"
	case os.Geteuid() != 0:
		problem = "LazyFS needs root to mount FUSE"
	default:
		if _, err := os.Stat("/dev/fuse"); err != nil {
			problem = "FUSE unavailable: " + err.Error()
		} else if _, err := exec.LookPath("fusermount3"); err != nil {
			problem = "fusermount3 not installed (apt-get install -y fuse3; deploy/dev/brokers.sh does it)"
		}
	}
	if problem == "" {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("crash test cannot run: %s", problem)
	}
	t.Skip("crash test skipped: " + problem)
	return ""
}

func startLazyFS(t *testing.T, bin string) *lazyFS {
	t.Helper()
	w := t.TempDir()
	l := &lazyFS{
		mnt: filepath.Join(w, "mnt"), disk: filepath.Join(w, "disk"),
		faults: filepath.Join(w, "faults"), doneFifo: filepath.Join(w, "done"),
		log: filepath.Join(w, "lazyfs.log"),
	}
	for _, d := range []string{l.mnt, l.disk} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{l.faults, l.doneFifo} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(w, "lazyfs.toml")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`[faults]
fifo_path=%q
fifo_path_completed=%q
[cache]
apply_eviction=false
[cache.simple]
custom_size="512mb"
blocks_per_page=1
[filesystem]
log_all_operations=false
logfile=%q
`, l.faults, l.doneFifo, l.log)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(w, "lazyfs.out"))
	if err != nil {
		t.Fatal(err)
	}
	l.cmd = exec.Command(bin, l.mnt, "--config-path", conf, "-o", "modules=subdir", "-o", "subdir="+l.disk, "-f")
	l.cmd.Stdout, l.cmd.Stderr = out, out
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start LazyFS: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = l.cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(l.unmount)
	// Generous: mounting took over 20 s on a loaded 2-core machine. A
	// LazyFS that gave up fails the test at once, with its output.
	eventually(t, 90*time.Second, "LazyFS mounted", func() (bool, string) {
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(w, "lazyfs.out"))
			t.Fatalf("LazyFS exited before it was mounted: %s", b)
		default:
		}
		err := exec.Command("mountpoint", "-q", l.mnt).Run()
		return err == nil, fmt.Sprint(err)
	})
	return l
}

// powerLoss drops every byte LazyFS holds that was never fsynced, then
// unmounts; what survives is in l.disk.
func (l *lazyFS) powerLoss(t *testing.T) {
	t.Helper()
	reply := make(chan string, 1)
	go func() {
		// LazyFS handles no command until the completion fifo has a reader.
		f, err := os.OpenFile(l.doneFifo, os.O_RDONLY, 0)
		if err != nil {
			reply <- "open: " + err.Error()
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "clear-cache") {
				reply <- sc.Text()
				return
			}
		}
		reply <- "eof"
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		f, err := os.OpenFile(l.faults, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.WriteString("lazyfs::clear-cache\n")
	}()
	select {
	case r := <-reply:
		if !strings.HasPrefix(r, "finished") {
			t.Fatalf("LazyFS clear-cache: %s", r)
		}
	case <-ctx.Done():
		t.Fatal("LazyFS did not confirm clear-cache")
	}
	l.unmount()
}

func (l *lazyFS) unmount() {
	l.once.Do(func() {
		_ = exec.Command("fusermount3", "-u", l.mnt).Run()
		if l.cmd.Process != nil {
			_ = l.cmd.Process.Kill()
		}
	})
}
