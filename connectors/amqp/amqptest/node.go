package amqptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dmzbridge/dmzbridge/bridge/bridgetest"
)

// Node is a private RabbitMQ node started by one test: its own node name,
// AMQP and distribution ports, Erlang cookie, data and log directories in
// the test's temp dir, and no plugins. A test that stops, restarts or cuts
// a broker uses one of these, so the machine's shared RabbitMQ is never
// disturbed.
type Node struct {
	t    testing.TB
	dir  string
	name string // Erlang node name, e.g. dmzt-1234-5678abcd@localhost
	port int    // AMQP listener
	env  []string
	cmd  *exec.Cmd
	done chan struct{}
}

// rabbitBin is where Debian's rabbitmq-server package keeps the real
// scripts. /usr/sbin/rabbitmq-server is a wrapper that switches to the
// rabbitmq user and its cookie, which a private node must not use.
const rabbitBin = "/usr/lib/rabbitmq/bin"

// StartNode starts a private RabbitMQ node and stops it when the test
// ends. Without RabbitMQ installed the test fails under CI and is skipped
// elsewhere. A cold start takes ~10 s on an idle machine and ~40 s on a
// busy one.
func StartNode(t testing.TB) *Node {
	t.Helper()
	if _, err := os.Stat(filepath.Join(rabbitBin, "rabbitmq-server")); err != nil {
		msg := fmt.Sprintf("RabbitMQ is not installed (%v); run deploy/dev/brokers.sh", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	reapOrphans()
	dir, err := os.MkdirTemp("", nodeDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	n := &Node{t: t, dir: dir, name: fmt.Sprintf("dmzt-%d-%s@localhost", os.Getpid(), hex.EncodeToString(suffix))}
	n.port = bridgetest.FreePort(t)
	dist := bridgetest.FreePort(t)
	// The node and rabbitmqctl find the cookie in HOME; a fresh one per
	// node means no other node's CLI can reach it, and it never touches
	// root's or the rabbitmq user's cookie.
	cookie := make([]byte, 16)
	_, _ = rand.Read(cookie)
	files := map[string]string{
		".erlang.cookie":    strings.ToUpper(hex.EncodeToString(cookie)),
		"rabbitmq.conf":     fmt.Sprintf("listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\n", n.port),
		"rabbitmq-env.conf": "",
		"enabled_plugins":   "[].\n",
	}
	for name, body := range files {
		mode := os.FileMode(0o600)
		if name == ".erlang.cookie" {
			mode = 0o400
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	n.env = append(os.Environ(),
		"HOME="+dir,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_NODENAME="+n.name,
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", n.port),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", dist),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_PLUGINS_EXPAND_DIR="+filepath.Join(dir, "plugins-expand"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

const nodeDirPrefix = "dmzt-rabbit-"

// reapOrphans stops private nodes whose test process is gone (a test
// binary killed by a timeout or a signal runs no cleanup) and removes
// their directories. A node's processes are found by their environment,
// which names the node's own directory as HOME: nothing else is touched.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nodeDirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := readInt(filepath.Join(dir, "owner"))
		if err != nil || syscall.Kill(owner, 0) == nil {
			continue // being set up, or its test still runs
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, p := range procs {
			env, _ := os.ReadFile(p)
			home := []byte("HOME=" + dir + "\x00")
			if !bytes.HasPrefix(env, home) && !bytes.Contains(env, append([]byte{0}, home...)) {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// URL is the node's AMQP address (guest/guest).
func (n *Node) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.port) }

// Name is the Erlang node name, for rabbitmqctl -n.
func (n *Node) Name() string { return n.name }

// Start starts the node (again, after Stop, on the same data) and returns
// once it accepts AMQP connections.
func (n *Node) Start() {
	n.t.Helper()
	if n.cmd != nil {
		return
	}
	out, err := os.OpenFile(filepath.Join(n.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(rabbitBin, "rabbitmq-server"))
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = n.dir, n.env, out, out
	// Its own process group, so Stop reaches the Erlang VM the script
	// starts and a signal to the test's group does not.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		n.t.Fatalf("start RabbitMQ node %s: %v", n.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	n.cmd, n.done = cmd, done
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			n.cmd = nil
			n.t.Fatalf("RabbitMQ node %s exited while starting:\n%s", n.name, n.serverLog())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.Stop()
			n.t.Fatalf("RabbitMQ node %s not listening after 3 min:\n%s", n.name, n.serverLog())
		}
	}
}

// Stop stops the node gracefully (SIGTERM, as a service manager would)
// and waits until it has exited; it is killed if it takes over a minute.
// Its data stays for the next Start.
func (n *Node) Stop() {
	if n.cmd == nil {
		return
	}
	pgid := n.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-n.done
	}
	n.cmd = nil
}

func (n *Node) serverLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "server.out"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// ctl runs rabbitmqctl against this node with its cookie.
func (n *Node) ctl(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(rabbitBin, "rabbitmqctl"), append([]string{"-n", n.name}, args...)...)
	cmd.Dir, cmd.Env = n.dir, n.env
	return cmd
}

// CloseConnections makes the node close every connection whose client
// connection_name starts with prefix and returns how many it closed.
func (n *Node) CloseConnections(prefix string) int {
	n.t.Helper()
	return closeConnections(n.t, n.ctl, prefix)
}
