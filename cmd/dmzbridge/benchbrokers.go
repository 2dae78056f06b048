package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// The partner's and the ERP's NATS servers stand for systems outside the
// bridge, so the bench runs them in a child process of their own: the
// CPU time and peak RSS it reports are the bridge's, not those of the
// partner stream that holds what the bench publishes ahead or of its
// duplicate index. The child is this binary with the hidden command
// "bench-brokers"; it speaks a line protocol on stdin/stdout.

const (
	brokersCmdStopERP = "stop-erp"
	brokersCmdCPU     = "cpu"
)

type brokersHello struct {
	Partner string `json:"partner"`
	ERP     string `json:"erp"`
}

func newBenchBrokersCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "bench-brokers",
		Short:  "Partner and ERP NATS servers for dmzbridge bench (internal)",
		Hidden: true,
		Args:   usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveBenchBrokers(cmd.InOrStdin(), cmd.OutOrStdout(), dir)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "store directory of the partner's JetStream")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// serveBenchBrokers runs both servers until stdin ends, answering one line
// per command.
func serveBenchBrokers(in io.Reader, out io.Writer, dir string) error {
	partner, err := startPlainNATS(dir)
	if err != nil {
		return fmt.Errorf("partner server: %w", err)
	}
	defer partner.Shutdown()
	erp, err := startPlainNATS("")
	if err != nil {
		return fmt.Errorf("ERP server: %w", err)
	}
	defer erp.Shutdown()
	hello, _ := json.Marshal(brokersHello{Partner: partner.ClientURL(), ERP: erp.ClientURL()})
	if _, err := fmt.Fprintf(out, "%s\n", hello); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var reply string
		switch sc.Text() {
		case brokersCmdStopERP:
			erp.Shutdown()
			reply = "ok"
		case brokersCmdCPU:
			reply = strconv.FormatFloat(cpuTime().Seconds(), 'f', 3, 64)
		default:
			reply = "error: unknown command " + strconv.Quote(sc.Text())
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return err
		}
	}
	return sc.Err()
}

// benchBrokers is the parent's handle on the child.
type benchBrokers struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
	brokersHello
}

func startBenchBrokers(ctx context.Context, dir string) (*benchBrokers, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench brokers: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench-brokers", "--dir", dir)
	// The child must not outlive a bench that is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench brokers: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench brokers: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench brokers: %w", err)
	}
	b := &benchBrokers{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	line, err := b.readLine(30 * time.Second)
	if err == nil {
		err = json.Unmarshal([]byte(line), &b.brokersHello)
	}
	if err != nil {
		b.close()
		return nil, fmt.Errorf("bench brokers did not start: %w", err)
	}
	return b, nil
}

func (b *benchBrokers) readLine(limit time.Duration) (string, error) {
	got := make(chan bool, 1)
	go func() { got <- b.lines.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			if err := b.lines.Err(); err != nil {
				return "", err
			}
			return "", errors.New("bench brokers exited")
		}
		return b.lines.Text(), nil
	case <-time.After(limit):
		return "", fmt.Errorf("no answer from bench brokers in %v", limit)
	}
}

func (b *benchBrokers) call(command string) (string, error) {
	if _, err := fmt.Fprintln(b.stdin, command); err != nil {
		return "", fmt.Errorf("bench brokers %s: %w", command, err)
	}
	reply, err := b.readLine(30 * time.Second)
	if err != nil {
		return "", fmt.Errorf("bench brokers %s: %w", command, err)
	}
	if msg, ok := strings.CutPrefix(reply, "error: "); ok {
		return "", fmt.Errorf("bench brokers %s: %s", command, msg)
	}
	return reply, nil
}

func (b *benchBrokers) stopERP() error {
	_, err := b.call(brokersCmdStopERP)
	return err
}

// cpu is the child's CPU time so far.
func (b *benchBrokers) cpu() (time.Duration, error) {
	reply, err := b.call(brokersCmdCPU)
	if err != nil {
		return 0, err
	}
	s, err := strconv.ParseFloat(reply, 64)
	if err != nil {
		return 0, fmt.Errorf("bench brokers cpu: %q: %w", reply, err)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// close ends the child: stdin closed is its signal to shut both servers
// down; one that does not exit soon is killed.
func (b *benchBrokers) close() {
	_ = b.stdin.Close()
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}
