package bench

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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// The partner's and the ERP's sides stand for systems outside the bridge,
// so the bench runs them in a child process of its own: the partners'
// NATS server and publishers, the ERP's NATS server and the subscriber
// that counts what arrives. The CPU time and peak RSS the bench reports
// are then the bridge's alone. The child is this binary with the hidden
// command "bench-brokers" (ServeBrokers); it speaks a line protocol on stdin/stdout, one
// reply line per command line.

const (
	brokersCmdStopERP  = "stop-erp"
	brokersCmdCPU      = "cpu"
	brokersCmdERPCount = "erp-count"
	// brokersCmdPublish is followed by partners, events per partner,
	// rate (events/s, 0 for as fast as it goes), id tag and event size;
	// the reply comes once the partner's server has stored them all.
	brokersCmdPublish = "publish"
)

// benchStream is the partners' stream on their server: in memory and a
// work queue, so acknowledged events leave it.
const benchStream = "BENCH_IN"

type brokersHello struct {
	Partner string `json:"partner"`
	ERP     string `json:"erp"`
}

// BrokersOptions configure the child process.
type BrokersOptions struct {
	Dir         string // store directory of the partners' JetStream
	PartnerKind string // nats (default) or amqp
	AMQPURL     string // the RabbitMQ partners publish to, for amqp
	AMQPPrefix  string // names of the bench's exchanges and queues, for amqp
}

// ServeBrokers is the child process of a bench run: it runs the partners'
// and the ERP's sides until in ends, answering one line per command.
func ServeBrokers(in io.Reader, out io.Writer, o BrokersOptions) error {
	dir := o.Dir
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pub partnerPublisher
	if o.PartnerKind == KindAMQP {
		pub, err = newAMQPPublisher(o.AMQPURL, o.AMQPPrefix)
	} else {
		pub, err = newBenchPublisher(ctx, partner.ClientURL())
	}
	if err != nil {
		return err
	}
	defer pub.close()
	enc, err := nats.Connect(erp.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("ERP subscriber: %w", err)
	}
	defer enc.Close()
	var atERP atomic.Int64
	if _, err := enc.Subscribe("erp.>", func(*nats.Msg) { atERP.Add(1) }); err != nil {
		return fmt.Errorf("ERP subscriber: %w", err)
	}
	if err := enc.Flush(); err != nil {
		return fmt.Errorf("ERP subscriber: %w", err)
	}
	hello, _ := json.Marshal(brokersHello{Partner: partner.ClientURL(), ERP: erp.ClientURL()})
	if _, err := fmt.Fprintf(out, "%s\n", hello); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		reply := "ok"
		switch f := strings.Fields(sc.Text()); {
		case len(f) == 1 && f[0] == brokersCmdStopERP:
			erp.Shutdown()
		case len(f) == 1 && f[0] == brokersCmdCPU:
			reply = strconv.FormatFloat(cpuTime().Seconds(), 'f', 3, 64)
		case len(f) == 1 && f[0] == brokersCmdERPCount:
			reply = strconv.FormatInt(atERP.Load(), 10)
		case len(f) == 6 && f[0] == brokersCmdPublish:
			if err := publishCommand(ctx, pub, f[1:]); err != nil {
				reply = "error: " + err.Error()
			}
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

func startBenchBrokers(ctx context.Context, command []string, dir string, o Options) (*benchBrokers, error) {
	if len(command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench brokers: %w", err)
		}
		command = []string{exe, "bench-brokers"}
	}
	cmd := exec.CommandContext(ctx, command[0], append(command[1:], "--dir", dir, "--partner-kind", o.kind(), "--amqp-url", o.AMQPURL, "--amqp-prefix", o.amqpPrefix())...)
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
	// A publish of a large backlog takes as long as the bridge needs to
	// take it in; other commands answer at once.
	reply, err := b.readLine(60 * time.Minute)
	if err != nil {
		return "", fmt.Errorf("bench brokers %s: %w", command, err)
	}
	if msg, ok := strings.CutPrefix(reply, "error: "); ok {
		return "", fmt.Errorf("bench brokers %s: %s", command, msg)
	}
	return reply, nil
}

// publish has the child publish n events for each partner at rate
// (0: as fast as it goes) and returns once all are stored.
func (b *benchBrokers) publish(partners, n int, rate float64, tag string, size int) error {
	_, err := b.call(fmt.Sprintf("%s %d %d %g %s %d", brokersCmdPublish, partners, n, rate, tag, size))
	return err
}

// erpCount is how many events the ERP's subscriber has seen.
func (b *benchBrokers) erpCount() (int64, error) {
	reply, err := b.call(brokersCmdERPCount)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(reply, 10, 64)
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
