package control

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	pruneEvery = time.Hour
	// pruneChunk bounds the deletes of one transaction so that pruning a
	// large backlog does not hold the writer lock for long.
	pruneChunk = 5000
)

// pruner deletes records past their retention at start and then hourly.
func (s *Service) pruner() {
	defer s.wg.Done()
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for first := true; ; first = false {
		if n, err := s.prune(s.now()); err != nil {
			s.log.Error("pruning old records failed", "err", err)
		} else if n > 0 {
			s.log.Info("pruned records past retention", "records", n)
		}
		if first {
			close(s.startPruned)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// prune deletes what retention no longer covers and returns how many
// records went: audit records, notes and ended help requests older than
// retention.audit; calls and supervisions older than retention.call_history.
func (s *Service) prune(now time.Time) (int, error) {
	auditCut := timeKey(now.Add(-s.retention.audit), nil)
	callCut := timeKey(now.Add(-s.retention.calls), nil)
	total := 0
	for _, job := range []struct {
		top []byte
		cut []byte
	}{{bucketAudit, auditCut}, {bucketNotes, auditCut}, {bucketCalls, callCut}, {bucketSupervisions, callCut}} {
		for {
			n, err := s.pruneOlder(job.top, job.cut)
			total += n
			if err != nil || n < pruneChunk {
				if err != nil {
					return total, err
				}
				break
			}
		}
	}
	n, err := s.pruneHelp(now.Add(-s.retention.audit))
	return total + n, err
}

// pruneOlder deletes up to pruneChunk keys before cut in every tenant of top.
func (s *Service) pruneOlder(top, cut []byte) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		tb := tx.Bucket(top)
		return tb.ForEachBucket(func(name []byte) error {
			c := tb.Bucket(name).Cursor()
			for k, _ := c.First(); k != nil && string(k[:min(8, len(k))]) < string(cut) && n < pruneChunk; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
	})
	return n, err
}

// pruneHelp deletes closed and canceled help requests that ended before cut.
func (s *Service) pruneHelp(cut time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		top := tx.Bucket(bucketHelpRequests)
		return top.ForEachBucket(func(name []byte) error {
			b := top.Bucket(name)
			var old [][]byte
			if err := b.ForEach(func(k, v []byte) error {
				var h HelpRequest
				if err := json.Unmarshal(v, &h); err != nil {
					return err
				}
				if !h.Status.active() && h.EndedAt.Before(cut) {
					old = append(old, append([]byte(nil), k...))
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
				n++
			}
			return nil
		})
	})
	return n, err
}
