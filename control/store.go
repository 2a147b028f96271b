package control

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the database described in docs/storage.md.
// A database written by a newer earshot is refused; an older one is brought
// up to date by the migrations at open.
const SchemaVersion = 2

// DBFile is the database's file name under the data directory.
const DBFile = "earshot.db"

// ErrSchemaTooNew is returned by New for a database of a later schema.
var ErrSchemaTooNew = errors.New("control: database written by a newer earshot")

// Top-level buckets. Each but meta holds one nested bucket per tenant, so a
// query can only ever walk its own tenant's records.
var (
	bucketMeta         = []byte("meta")
	bucketHelpRequests = []byte("help_requests") // <tenant>/<id> → HelpRequest
	bucketActiveHelp   = []byte("active_help")   // <tenant>/<call id> → id of its open or in-progress request
	bucketAudit        = []byte("audit")         // <tenant>/<ms><seq> → AuditRecord
	bucketNotes        = []byte("notes")         // <tenant>/<ms><seq> → Note
	bucketCalls        = []byte("calls")         // <tenant>/<started ms><call id> → CallRecord
	bucketSupervisions = []byte("supervisions")  // <tenant>/<ended ms><supervision id> → SupervisionRecord
	bucketCallbacks    = []byte("callbacks")     // <tenant>/<ms><seq> → Callback
	keySchemaVersion   = []byte("schema_version")
	dataBuckets        = [][]byte{bucketHelpRequests, bucketActiveHelp, bucketAudit, bucketNotes, bucketCalls, bucketSupervisions, bucketCallbacks}
)

// migrations[i] brings a database from schema version i+1 to i+2.
var migrations = [...]func(*bolt.Tx) error{
	// 1 → 2: callback requests of queued callers.
	func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketCallbacks)
		return err
	},
}

// openDB opens (or creates) the database and brings its schema up to date.
func openDB(dir string, timeout time.Duration) (*bolt.DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("control: data directory: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("control: %s is locked by another process (is earshot already running?): %w", path, err)
		}
		return nil, fmt.Errorf("control: open %s: %w", path, err)
	}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("control: %s: %w", path, err)
	}
	return db, nil
}

func migrate(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	v := uint64(0)
	if raw := meta.Get(keySchemaVersion); raw != nil {
		if len(raw) != 8 {
			return fmt.Errorf("schema_version is %d bytes, want 8", len(raw))
		}
		v = binary.BigEndian.Uint64(raw)
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("%w: schema %d, this build knows %d", ErrSchemaTooNew, v, SchemaVersion)
	case v == 0: // a new file
		for _, b := range dataBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
	default:
		for ; v < SchemaVersion; v++ {
			if err := migrations[v-1](tx); err != nil {
				return fmt.Errorf("migration to schema %d: %w", v+1, err)
			}
		}
	}
	return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, SchemaVersion))
}

// tenantBucket returns top/<tenant>, created when create is set; nil when
// it does not exist.
func tenantBucket(tx *bolt.Tx, top []byte, tenant string, create bool) (*bolt.Bucket, error) {
	b := tx.Bucket(top)
	if b == nil {
		return nil, fmt.Errorf("bucket %s missing", top)
	}
	if !create {
		return b.Bucket([]byte(tenant)), nil
	}
	return b.CreateBucketIfNotExists([]byte(tenant))
}

// How full bbolt packs the pages it splits in the buckets written in
// time order. New keys land at the right edge, so bbolt's default (half
// full) would leave every page half empty, doubling the pages each
// commit writes — one write system call per page — and the file. Audit
// records are never rewritten; a call is, once, when it ends, and grows
// by its end time and reason (~70 bytes): its pages keep room for that,
// or each would split off a sliver. TestAppendedBucketsPacked.
const (
	auditFill = 0.9
	callsFill = 0.8
)

// timeKey is a big-endian millisecond timestamp followed by suffix: keys
// sort by time, and a cursor Seek finds a time range.
func timeKey(t time.Time, suffix []byte) []byte {
	k := make([]byte, 8, 8+len(suffix))
	binary.BigEndian.PutUint64(k, uint64(t.UnixMilli()))
	return append(k, suffix...)
}

func seqSuffix(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// keyTime reads the timestamp of a timeKey.
func keyTime(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(k))).UTC()
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// write commits fn in one read-write transaction, fsynced before it
// returns. With batch set, concurrent callers may share a commit; fn must
// then be safe to run twice (bbolt reruns it alone if the batch fails), which
// holds for every writer here: each reads what it checks inside the
// transaction and sets its results afresh.
func write(db *bolt.DB, batch bool, fn func(*bolt.Tx) error) error {
	if batch {
		return db.Batch(fn)
	}
	return db.Update(fn)
}
