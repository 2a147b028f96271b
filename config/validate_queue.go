package config

import (
	"os"
	"path/filepath"
	"strings"
)

// validateQueues checks every group's queue once all the tenant's groups
// and numbers are known (an overflow may name any of them).
func (c *Config) validateQueues(col *collector, t *Tenant, p string) {
	groups := map[string]bool{}
	numbers := map[string]bool{}
	for _, g := range t.Groups {
		groups[g.Name] = true
		for _, n := range g.Numbers {
			numbers[n.Number] = true
		}
	}
	if len(t.PauseReasons) > 0 {
		seen := map[string]bool{}
		for i, r := range t.PauseReasons {
			rp := idx(at(p, "pause_reasons"), i)
			switch {
			case r == "" || strings.TrimFunc(r, func(c rune) bool { return c == '_' || c == '-' || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }) != "":
				col.addf(rp, "%s must be lower-case letters, digits, - and _", quoteShort(r))
			case r == "no_answer":
				col.addf(rp, "no_answer is the reason earshot itself pauses agents with")
			case seen[r]:
				col.addf(rp, "%s is listed twice", r)
			}
			seen[r] = true
		}
		if len(t.PauseReasons) > 9 {
			col.addf(at(p, "pause_reasons"), "at most 9 reasons (the pause feature code takes one digit)")
		}
	}
	for i, tr := range t.Trunks {
		if tr.CallerID != "" && !businessNumber(tr.CallerID) {
			col.addf(at(idx(at(p, "trunks"), i), "caller_id"), "%s must be digits, optionally after a leading +", quoteShort(tr.CallerID))
		}
	}
	for i := range t.Groups {
		g := &t.Groups[i]
		gp := idx(at(p, "groups"), i)
		if g.CallerID != "" && !businessNumber(g.CallerID) {
			col.addf(at(gp, "caller_id"), "%s must be digits, optionally after a leading +", quoteShort(g.CallerID))
		}
		if g.WrapUp < 0 {
			col.addf(at(gp, "wrap_up"), "must not be negative")
		}
		if g.MaxMissed < -1 {
			col.addf(at(gp, "max_missed"), "must be -1 (never pause), 0 (the default, 3) or more")
		}
		c.validateQueue(col, &g.Queue, g.Name, groups, numbers, at(gp, "queue"))
		for j, n := range g.Numbers {
			if n.Priority < 0 || n.Priority > 100 {
				col.addf(at(idx(at(gp, "numbers"), j), "priority"), "must be between 0 and 100")
			}
		}
	}
}

func (c *Config) validateQueue(col *collector, q *Queue, self string, groups, numbers map[string]bool, p string) {
	switch q.Answer {
	case QueueAnswer, QueueEarlyMedia:
	default:
		col.add(at(p, "answer"), oneOf(QueueAnswer, QueueEarlyMedia))
	}
	switch q.Announce {
	case AnnounceBoth, AnnouncePosition, AnnounceWait, AnnounceNone:
	default:
		col.add(at(p, "announce"), oneOf(AnnounceBoth, AnnouncePosition, AnnounceWait, AnnounceNone))
	}
	positive(col, at(p, "max_wait"), q.MaxWait)
	positive(col, at(p, "announce_interval"), q.AnnounceInterval)
	if q.MaxLength < 0 {
		col.addf(at(p, "max_length"), "must not be negative (0 is no limit)")
	}
	if d := q.LeaveDigit; d != "" && (len(d) != 1 || !strings.Contains("0123456789*#", d)) {
		col.addf(at(p, "leave_digit"), "%s must be one of 0-9, * or #", quoteShort(d))
	}
	o := q.Overflow
	op := at(p, "overflow")
	set := 0
	for _, v := range []bool{o.Group != "", o.Number != "", o.Group == "" && o.Number == "" && o.Status != 0} {
		if v {
			set++
		}
	}
	if o.Group != "" && o.Number != "" {
		col.addf(op, "give one of group, number or status, not several")
	}
	switch {
	case o.Group != "" && !groups[o.Group]:
		col.addf(at(op, "group"), "no group %s in this tenant", quoteShort(o.Group))
	case o.Group != "" && o.Group == self:
		col.addf(at(op, "group"), "a group cannot overflow to itself")
	case o.Number != "" && !businessNumber(o.Number):
		col.addf(at(op, "number"), "%s must be digits, optionally after a leading +", quoteShort(o.Number))
	}
	if (o.Group != "" || o.Number != "") && o.Status != 0 {
		col.addf(at(op, "status"), "a status goes alone: the overflow is group %q, number %q", o.Group, o.Number)
	}
	if o.Status != 0 && (o.Status < 300 || o.Status > 699) {
		col.addf(at(op, "status"), "%d is not a final failure status (300-699)", o.Status)
	}
	if q.Music != "" {
		if err := col.checkSound(q.Music); err != nil {
			col.addf(at(p, "music"), "%v", err)
		}
	}
	if q.Prompts != "" {
		c.validatePrompts(col, q.Prompts, at(p, "prompts"))
	}
}

// validatePrompts checks a directory of replacement prompts: it exists and
// every WAV file in it is one earshot can play.
func (c *Config) validatePrompts(col *collector, dir, p string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		col.addf(p, "%v", err)
		return
	}
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".wav") {
			continue
		}
		if err := col.checkSound(filepath.Join(dir, e.Name())); err != nil {
			col.addf(p, "%v", err)
		}
	}
}
