package amqptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReapOrphans: a process whose HOME is the directory of a node whose
// test is gone is killed and the directory removed; a process with any
// other HOME is left alone.
func TestReapOrphans(t *testing.T) {
	orphan, err := os.MkdirTemp("", nodeDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(orphan) })
	// A pid above the kernel's maximum belongs to no process.
	if err := os.WriteFile(filepath.Join(orphan, "owner"), []byte("99999999"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(home string) *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.Env = append(os.Environ(), "HOME="+home)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	node, bystander := start(orphan), start(t.TempDir())

	reapOrphans()

	if err := node.Wait(); err == nil {
		t.Fatal("the orphaned node's process exited by itself, not killed")
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphaned node's directory still there: %v", err)
	}
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("a process that is no node was touched: %v", err)
	}
}
