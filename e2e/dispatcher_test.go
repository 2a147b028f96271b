package e2e

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/phone"
)

// Two earshot nodes behind Kamailio's dispatcher (testdata/kamailio/
// dispatcher.cfg: OPTIONS probing every second, a 503 or a timeout moves
// the call to the next node). While 100 calls arrive at 10/s, one node is
// told to shut down: it drains (OPTIONS and new INVITEs get 503), the
// dispatcher takes it out within one probe interval, and no call fails.
func TestDispatcherDrainLosesNoCall(t *testing.T) {
	var nodes [2]*env
	var answered [2]atomic.Int64
	for i := range nodes {
		cfg := testConfig(t)
		cfg.Tenants[0].Trunks[0].Sources = []string{"127.0.0.9/32"}
		cfg.SIP.DrainTimeout = config.Duration(5 * time.Second)
		nodes[i] = start(t, cfg)
		// Two agents per node that answer everything.
		for j, ext := range []string{"1001", "1002"} {
			p := nodes[i].agent(ext, []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}[2*i+j], toneAgent)
			go func(n *atomic.Int64) {
				for {
					in, err := p.Next(ctx(t))
					if err != nil {
						return
					}
					if _, err := in.Answer(); err == nil {
						n.Add(1)
					}
				}
			}(&answered[i])
		}
	}
	list := filepath.Join(t.TempDir(), "dispatcher.list")
	if err := os.WriteFile(list, []byte("1 sip:"+nodes[0].udp()+"\n1 sip:"+nodes[1].udp()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kam := startKamailio(t, "dispatcher.cfg", "127.0.0.9", func(addr, mods string) []any {
		return []any{addr, "127.0.0.2:5080", mods, list, "127.0.0.1"}
	})

	const calls = 100
	const probeInterval = time.Second // ds_ping_interval in dispatcher.cfg
	var failed atomic.Int64
	var wg sync.WaitGroup
	drained := make(chan error, 1)
	// lastInvite is when node 0 last saw an INVITE after its drain began:
	// Kamailio's next probe (within one interval) gets 503 and takes it
	// out of rotation.
	var drainAt, lastInvite time.Time
	watched := make(chan struct{})
	for i := range calls {
		if i == 30 {
			// SIGTERM's drain on node 0, as cmd/earshot runs it.
			drainAt = time.Now()
			go func() { drained <- nodes[0].app.Shutdown() }()
			go func() {
				defer close(watched)
				seen := nodes[0].app.SIP.Stats().Requests["INVITE"]
				lastInvite = drainAt
				for time.Since(drainAt) < 4*probeInterval {
					if n := nodes[0].app.SIP.Stats().Requests["INVITE"]; n != seen {
						seen, lastInvite = n, time.Now()
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cust := nodes[1].phone(phone.Config{IP: "127.0.0.2", User: "5551234", Tone: toneCustomer, Server: kam})
			cs, err := cust.Call(ctx(t), "100")
			if err != nil {
				failed.Add(1)
				t.Logf("call failed: %v", err)
				return
			}
			time.Sleep(500 * time.Millisecond) // talk
			_ = cs.Hangup(ctx(t))
		}()
		time.Sleep(100 * time.Millisecond) // 10 calls/s
	}
	wg.Wait()
	<-watched
	if out := lastInvite.Sub(drainAt); out > probeInterval+probeInterval/4 {
		t.Errorf("node 0 still got INVITEs %v after its drain began; Kamailio should take it out within one probe interval (%v)", out, probeInterval)
	} else {
		t.Logf("node 0 taken out of rotation %v after its drain began (probe interval %v)", out, probeInterval)
	}
	if err := <-drained; err != nil {
		t.Errorf("node 0's shutdown: %v", err)
	}
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed during the drain", n, calls)
	}
	waitActive(t, nodes[1], 0)
	// Calls each node took (answered by an agent, or queued); an INVITE a
	// draining node refused with 503 never became a call there.
	took := func(n *env) (sum uint64) {
		for _, v := range n.app.SIP.Stats().CallsByOutcome {
			sum += v
		}
		return sum
	}
	a, b := took(nodes[0]), took(nodes[1])
	if a == 0 || b < calls-30 || a+b != calls {
		t.Fatalf("node 0 took %d calls, node 1 %d; want both before the drain, node 1 every call after it, %d in all", a, b, calls)
	}
	t.Logf("node 0 took %d calls before its drain (its agents answered %d), node 1 %d (answered %d)",
		a, answered[0].Load(), b, answered[1].Load())
}
