// Drives a server with nats.go, the official Go client: pub/sub, queue
// groups, request/reply, headers, and a reconnect after a restart.
// Usage: go run . SERVER_BINARY   (GOPATH mode, Debian's nats.go sources)
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

const step = 5 * time.Second

type server struct {
	bin  string
	port int
	cmd  *exec.Cmd
}

func (s *server) start() {
	s.cmd = exec.Command(s.bin, "-a", "127.0.0.1", "-p", fmt.Sprint(s.port))
	must(s.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.addr(), 500*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fail("server did not start")
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
		s.cmd = nil
	}
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func must(err error) {
	if err != nil {
		fail(err.Error())
	}
}

var current *server

func fail(msg string) {
	if current != nil {
		current.stop()
	}
	fmt.Fprintln(os.Stderr, "go client check failed:", msg)
	os.Exit(1)
}

func main() {
	srv := &server{bin: os.Args[1], port: freePort()}
	current = srv
	srv.start()
	defer srv.stop()
	time.AfterFunc(60*time.Second, func() { fail("timed out") })

	var reconnected sync.WaitGroup
	reconnected.Add(1)
	var once sync.Once
	nc, err := nats.Connect("nats://"+srv.addr(), nats.ReconnectWait(100*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(*nats.Conn) { once.Do(reconnected.Done) }))
	must(err)
	other, err := nats.Connect("nats://" + srv.addr())
	must(err)

	// pub/sub with wildcards
	sub, err := nc.SubscribeSync("go.*.x")
	must(err)
	must(nc.Flush())
	must(other.Publish("go.a.x", []byte("one")))
	m, err := sub.NextMsg(step)
	must(err)
	if string(m.Data) != "one" || m.Subject != "go.a.x" {
		fail("wrong message")
	}

	// queue group
	var counts [3]int64
	for i := 0; i < 3; i++ {
		i := i
		_, err := nc.QueueSubscribe("go.q", "workers", func(*nats.Msg) { atomic.AddInt64(&counts[i], 1) })
		must(err)
	}
	must(nc.Flush())
	for i := 0; i < 300; i++ {
		must(other.Publish("go.q", []byte("w")))
	}
	must(other.Flush())
	deadline := time.Now().Add(step)
	for time.Now().Before(deadline) && atomic.LoadInt64(&counts[0])+atomic.LoadInt64(&counts[1])+atomic.LoadInt64(&counts[2]) < 300 {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	total := counts[0] + counts[1] + counts[2]
	if total != 300 || counts[0] < 30 || counts[1] < 30 || counts[2] < 30 {
		fail(fmt.Sprintf("queue spread wrong: %v", counts))
	}

	// request/reply with headers
	_, err = other.Subscribe("go.svc", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Data = append([]byte("pong:"+string(m.Data)), m.Header.Get("X-Id")...)
		m.RespondMsg(r)
	})
	must(err)
	must(other.Flush())
	req := nats.NewMsg("go.svc")
	req.Data = []byte("ping")
	req.Header.Set("X-Id", "7")
	resp, err := nc.RequestMsg(req, step)
	must(err)
	if string(resp.Data) != "pong:ping7" {
		fail("bad reply " + string(resp.Data))
	}

	// no responders
	if _, err := nc.Request("go.nobody", []byte("?"), step); !errors.Is(err, nats.ErrNoResponders) {
		fail(fmt.Sprintf("expected no responders, got %v", err))
	}

	// reconnect after restart on the same port
	other.Close()
	srv.stop()
	srv.start()
	reconnected.Wait()
	after, err := nc.SubscribeSync("go.after")
	must(err)
	must(nc.Flush())
	must(nc.Publish("go.after", []byte("back")))
	m, err = after.NextMsg(step)
	must(err)
	if string(m.Data) != "back" {
		fail("no message after reconnect")
	}
	nc.Close()
	fmt.Println("go client (nats.go): all checks passed against", srv.bin)
}
