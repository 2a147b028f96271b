package control

import (
	"net/http"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// backup answers GET /backup (admins): a consistent copy of the whole
// database, taken in one read transaction while earshot runs (bbolt's
// Tx.WriteTo), so writes go on meanwhile. It holds every tenant's data,
// hence admins only; `earshot backup FILE` fetches it.
func (s *Service) backup(w http.ResponseWriter, r *http.Request, p Principal) error {
	if p.Role != RoleAdmin {
		return errForbidden
	}
	return s.db.View(func(tx *bolt.Tx) error {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+DBFile+`"`)
		w.Header().Set("Content-Length", strconv.FormatInt(tx.Size(), 10))
		_, err := tx.WriteTo(w)
		return err
	})
}
