package b2bua

import (
	"context"
	"sync"
)

// tasks runs the goroutines the server starts for work that no call waits
// on — draining fire-and-forget transactions, letting a finished call's
// INVITE transaction end — and stops them: Close cancels their context
// and waits for them. A task asked for after that is not started.
type tasks struct {
	mu     sync.Mutex // orders go against close, so wg is never added to while waited on
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

func newTasks() *tasks {
	t := &tasks{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// goFn runs fn(ctx) on its own goroutine, ctx ending at close. It reports
// false, running nothing, once close has begun.
func (t *tasks) goFn(fn func(ctx context.Context)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn(t.ctx)
	}()
	return true
}

// close cancels every task and waits for them.
func (t *tasks) close() {
	t.mu.Lock()
	t.cancel()
	t.mu.Unlock()
	t.wg.Wait()
}
