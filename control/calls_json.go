package control

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/earshot/earshot/b2bua"
)

// The call list is the largest answer the API gives (thousands of calls
// per request), so it is encoded by hand into one reused buffer instead
// of through encoding/json's reflection: the bytes are exactly those
// json.Encoder writes for a CallList (TestAppendCallListMatchesEncoder
// and FuzzAppendCallView hold the two together). Any field added to
// b2bua.CallSnapshot or CallView must be added here too; the test fails
// until it is.

// appendCallView appends the JSON object of one CallView. ok is false
// when a value cannot be encoded (a time outside the years 0–9999, which
// encoding/json refuses); the caller then falls back to encoding/json.
func appendCallView(b []byte, v *CallView) (_ []byte, ok bool) {
	if b, ok = appendCallFields(b, &v.CallSnapshot); !ok {
		return b, false
	}
	return appendViewFields(b, v.DurationSeconds, v.HelpRequested)
}

// appendCallFields appends the opening of a CallView's object: the
// snapshot's fields, which change only when the call does.
func appendCallFields(b []byte, c *b2bua.CallSnapshot) (_ []byte, ok bool) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"tenant":`...)
	b = appendJSONString(b, c.Tenant)
	b = append(b, `,"direction":`...)
	b = appendJSONString(b, string(c.Direction))
	if c.Group != "" {
		b = append(b, `,"group":`...)
		b = appendJSONString(b, c.Group)
	}
	if c.Number != "" {
		b = append(b, `,"number":`...)
		b = appendJSONString(b, c.Number)
	}
	if c.Label != "" {
		b = append(b, `,"label":`...)
		b = appendJSONString(b, c.Label)
	}
	b = append(b, `,"caller":`...)
	b = appendParty(b, c.Caller)
	b = append(b, `,"callee":`...)
	b = appendParty(b, c.Callee)
	if len(c.Agents) > 0 {
		b = append(b, `,"agents":[`...)
		for i, a := range c.Agents {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(c.State))
	b = append(b, `,"started_at":`...)
	if b, ok = appendJSONTime(b, c.StartedAt); !ok {
		return b, false
	}
	for _, f := range [...]struct {
		key string
		t   time.Time
	}{{`,"queued_at":`, c.QueuedAt}, {`,"answered_at":`, c.AnsweredAt}, {`,"ended_at":`, c.EndedAt}} {
		if f.t.IsZero() {
			continue
		}
		b = append(b, f.key...)
		if b, ok = appendJSONTime(b, f.t); !ok {
			return b, false
		}
	}
	if c.EndReason != "" {
		b = append(b, `,"end_reason":`...)
		b = appendJSONString(b, c.EndReason)
	}
	b = append(b, `,"session_id":`...)
	b = appendJSONString(b, c.SessionID)
	b = append(b, `,"caller_sip_call_id":`...)
	b = appendJSONString(b, c.CallerCallID)
	if c.CalleeCallID != "" {
		b = append(b, `,"callee_sip_call_id":`...)
		b = appendJSONString(b, c.CalleeCallID)
	}
	return b, true
}

// appendViewFields appends the rest of a CallView's object: the fields
// that change with every request.
func appendViewFields(b []byte, duration float64, help bool) (_ []byte, ok bool) {
	b = append(b, `,"duration_seconds":`...)
	if b, ok = appendJSONMillis(b, duration); !ok {
		if b, ok = appendJSONFloat(b, duration); !ok {
			return b, false
		}
	}
	b = append(b, `,"help_requested":`...)
	b = strconv.AppendBool(b, help)
	return append(b, '}'), true
}

func appendParty(b []byte, p b2bua.Party) []byte {
	b = append(b, `{"number":`...)
	b = appendJSONString(b, p.Number)
	if p.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, p.Name)
	}
	return append(b, '}')
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339
// with nanoseconds, quoted); like it, it refuses years outside 0–9999.
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// appendJSONMillis appends f as appendJSONFloat does when f is a whole
// number of milliseconds (a call's duration is), without the general
// shortest-digits search, which was a tenth of a large list's time. ok
// is false for any other f.
//
// Why the digits are the same: float64(m)/1000 is the double nearest to
// the decimal m/1000, and below 2^40 the doubles are far closer together
// than 0.001, so no other decimal of as few digits rounds to it; m/1000
// with its trailing zeros trimmed is then the shortest representation.
func appendJSONMillis(b []byte, f float64) (_ []byte, ok bool) {
	m := math.Round(f * 1000)
	if !(m >= 0 && m < 1<<40) || m/1000 != f || math.Signbit(f) { // -0 is written "-0"
		return b, false
	}
	ms := int64(m)
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	if frac == 0 {
		return b, true
	}
	digits := [3]byte{byte('0' + frac/100), byte('0' + frac/10%10), byte('0' + frac%10)}
	n := 3
	for digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...), true
}

// appendJSONFloat appends f as encoding/json writes a float64: the
// shortest representation, in exponent form only below 1e-6 or from
// 1e21, with a one-digit negative exponent not zero-padded.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as json.Encoder does with its default
// HTML escaping: <, > and & as \u003c, \u003e, \u0026; control characters
// escaped; invalid UTF-8 replaced by U+FFFD; U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
