package control

import (
	"errors"
	"net/http"
	"strings"

	"github.com/earshot/earshot/b2bua"
	bolt "go.etcd.io/bbolt"
)

// ModeRequest is the body of POST /calls/{id}/supervisions and PATCH
// /supervisions/{id}.
type ModeRequest struct {
	Mode string `json:"mode"`
	// Device is the phone a new supervision rings: "browser" (the
	// workspace's webphone), "phone" (a SIP phone), or empty for the
	// supervisor's last registered one. Only for POST.
	Device string `json:"device,omitempty"`
}

// parseMode validates the body's mode, naming the field when it is wrong.
func parseMode(w http.ResponseWriter, r *http.Request) (b2bua.Mode, error) {
	var req ModeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return "", err
	}
	return checkMode(req)
}

func checkMode(req ModeRequest) (b2bua.Mode, error) {
	if req.Mode == "" {
		return "", errField("mode", "required")
	}
	m, err := b2bua.ParseMode(req.Mode)
	if err != nil {
		names := make([]string, len(b2bua.Modes))
		for i, m := range b2bua.Modes {
			names[i] = string(m)
		}
		return "", errField("mode", "must be one of %s", strings.Join(names, ", "))
	}
	return m, nil
}

// auditCommand records an API supervision command with its result. It is
// committed before the response, whatever the result.
func (s *Service) auditCommand(p Principal, action, callID, supID string, mode b2bua.Mode, cmdErr error) error {
	return s.auditAPI(AuditRecord{Tenant: p.Tenant, Actor: p.User, Role: string(p.Role), Action: action,
		CallID: callID, SupervisionID: supID, Mode: string(mode)}, cmdErr)
}

// auditAPI records an API command (rec without time, via and result) with
// its result, committed before the response.
func (s *Service) auditAPI(rec AuditRecord, cmdErr error) error {
	rec.Time, rec.Via, rec.Result = s.now(), b2bua.ViaAPI, ResultOK
	if cmdErr != nil {
		rec.Result, rec.Detail = ResultFailed, cmdErr.Error()
	}
	err := write(s.db, s.batch, func(tx *bolt.Tx) error { return appendAudit(tx, &rec) })
	if err == nil {
		s.metrics.audit.Add(1)
	}
	return err
}

func (s *Service) startSupervision(w http.ResponseWriter, r *http.Request, p Principal) error {
	c, err := s.lookupCall(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	var req ModeRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	mode, err := checkMode(req)
	if err != nil {
		return err
	}
	device, err := b2bua.ParseDevice(req.Device)
	if err != nil || req.Device == "both" {
		return errField("device", "must be browser, phone or empty")
	}
	sp, cmdErr := s.sw.Supervise(p.Tenant, p.User, c.ID, mode, device)
	if err := s.auditCommand(p, ActionSupervisionRequested, c.ID, sp.ID, mode, cmdErr); err != nil {
		return err
	}
	if cmdErr != nil {
		return cmdErr
	}
	w.Header().Set("Location", Prefix+"/supervisions/"+sp.ID)
	writeJSON(w, http.StatusCreated, sp)
	return nil
}

// lookupSupervision returns a supervision of p's tenant that p may command:
// its own, or any for an admin.
func (s *Service) lookupSupervision(id string, p Principal) (b2bua.SupervisionSnapshot, error) {
	sp, ok := s.sw.Supervision(id)
	if !ok || sp.Tenant != p.Tenant {
		return sp, errNotFound
	}
	if sp.Supervisor != p.User && p.Role != RoleAdmin {
		return sp, errStatus(http.StatusForbidden, "this supervision belongs to another supervisor")
	}
	if sp.State == b2bua.SupEnded {
		return sp, errStatus(http.StatusConflict, "supervision already ended")
	}
	return sp, nil
}

func (s *Service) changeSupervision(w http.ResponseWriter, r *http.Request, p Principal) error {
	sp, err := s.lookupSupervision(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	mode, err := parseMode(w, r)
	if err != nil {
		return err
	}
	// An admin commands another's supervision in that supervisor's name;
	// the audit record keeps the admin as the actor.
	next, cmdErr := s.sw.SetSupervisionMode(p.Tenant, sp.Supervisor, sp.ID, mode)
	if err := s.auditCommand(p, ActionSupervisionChange, sp.CallID, sp.ID, mode, cmdErr); err != nil {
		return err
	}
	if cmdErr != nil {
		return goneAsConflict(cmdErr)
	}
	writeJSON(w, http.StatusOK, next)
	return nil
}

func (s *Service) endSupervision(w http.ResponseWriter, r *http.Request, p Principal) error {
	sp, err := s.lookupSupervision(r.PathValue("id"), p)
	if err != nil {
		return err
	}
	cmdErr := s.sw.EndSupervision(p.Tenant, sp.Supervisor, sp.ID)
	if err := s.auditCommand(p, ActionSupervisionEnd, sp.CallID, sp.ID, sp.Mode, cmdErr); err != nil {
		return err
	}
	if cmdErr != nil {
		return goneAsConflict(cmdErr)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// goneAsConflict: a supervision that ended between the lookup and the
// command is a conflict with its state, not a missing object.
func goneAsConflict(err error) error {
	if errors.Is(err, b2bua.ErrSupervisionGone) {
		return errStatus(http.StatusConflict, "supervision already ended")
	}
	return err
}
