package b2bua

import "bytes"

// A CANCEL carries the INVITE's To header, without a tag. sipgo's
// transaction layer answers it with 200 itself, built from the CANCEL, so
// that 200 would carry no tag, or a tag of its own — while RFC 3261 §9.2
// wants the To tag of the response to the CANCEL to be the one earshot put
// on its responses to the INVITE. Over UDP the guard's read filter, which
// sees every datagram before sipgo parses it, adds that tag to the
// CANCEL's To header first (tagCancel); the INVITE's own 487 carries it
// because earshot tagged the INVITE it is built from (invite.go).

// uasTag returns the To tag earshot gave the INVITE with this Call-ID and
// From tag, "" if it serves none.
func (s *Server) uasTag(callID, fromTag string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uasTags[callID+"|"+fromTag].tag
}

// uasTag is the To tag earshot gave a caller's INVITE, and its call.
type uasTag struct {
	tag  string
	call *Call
}

// tagCancel returns the CANCEL datagram data with the To tag lookup gives
// for its Call-ID and From tag added to its To header, or data unchanged
// when the header already has a tag, a header is missing, or lookup knows
// no such INVITE.
func tagCancel(data []byte, lookup func(callID, fromTag string) string) []byte {
	head, _, found := bytes.Cut(data, []byte("\r\n\r\n"))
	if !found {
		return data
	}
	var callID, fromTag []byte
	toStart, toEnd := -1, -1
	pos := 0
	for _, line := range bytes.Split(head, []byte("\r\n")) {
		start := pos
		pos += len(line) + 2
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "call-id", "i":
			callID = value
		case "from", "f":
			fromTag = tagParam(value)
		case "to", "t":
			if tagParam(value) != nil {
				return data // tagged already
			}
			toStart, toEnd = start, start+len(line)
		}
	}
	if toStart < 0 || len(callID) == 0 || len(fromTag) == 0 {
		return data
	}
	tag := lookup(string(callID), string(fromTag))
	if tag == "" {
		return data
	}
	out := make([]byte, 0, len(data)+len(tag)+5)
	out = append(out, data[:toEnd]...)
	out = append(out, ";tag="...)
	out = append(out, tag...)
	return append(out, data[toEnd:]...)
}

// tagParam returns the value of the tag parameter of a From or To header
// value, nil if it has none. Parameters follow the address (after '>' when
// the URI is bracketed, so a URI's own parameters are not mistaken).
func tagParam(value []byte) []byte {
	if i := bytes.LastIndexByte(value, '>'); i >= 0 {
		value = value[i+1:]
	}
	for _, p := range bytes.Split(value, []byte(";"))[1:] {
		k, v, _ := bytes.Cut(bytes.TrimSpace(p), []byte("="))
		if bytes.EqualFold(bytes.TrimSpace(k), []byte("tag")) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}
