package b2bua

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// TestTasksCloseWhileStarting starts tasks from many goroutines while the
// server closes: close waits for every task that started, none starts
// after it, and (under -race) the WaitGroup is never added to while waited on.
func TestTasksCloseWhileStarting(t *testing.T) {
	for range 50 {
		tk := newTasks()
		var running, started atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					if tk.goFn(func(stop context.Context) {
						running.Add(1)
						<-stop.Done()
						running.Add(-1)
					}) {
						started.Add(1)
					}
				}
			}()
		}
		tk.close()
		if n := running.Load(); n != 0 {
			t.Fatalf("%d tasks still running after close", n)
		}
		wg.Wait()
		if tk.goFn(func(context.Context) { t.Error("task ran after close") }) {
			t.Fatal("a task started after close")
		}
		if n := running.Load(); n != 0 {
			t.Fatalf("%d tasks running after close", n)
		}
	}
}
