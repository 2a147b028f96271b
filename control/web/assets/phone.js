// earshot webphone: a small SIP user agent over WebSocket (RFC 7118) with
// the browser's own WebRTC for media. It registers the signed-in user
// over the page's session (earshot trusts a WebSocket flow opened by a
// signed-in page of its own origin, so no SIP password is asked) and
// takes the calls earshot sends it: a supervision the supervisor started
// from the page, or a customer's call to an agent. Only what those need
// is here: REGISTER, incoming INVITE (and re-INVITE), ACK, BYE both ways,
// CANCEL, OPTIONS and MESSAGE.
//
// The microphone is asked for only when a call needs the user's voice: a
// supervision in listen mode answers with an audio transceiver that sends
// nothing, and switching to coach, barge or intercept puts the microphone
// on that sender (no renegotiation).
'use strict';

(() => {
  const CRLF = '\r\n';
  const COMPACT = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type', k: 'supported' };
  const rand = (n) => {
    const a = new Uint8Array(n);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
  };

  // parse reads one SIP message; null if it is not one.
  function parse(text) {
    const end = text.indexOf(CRLF + CRLF);
    if (end < 0) return null;
    const lines = text.slice(0, end).split(CRLF);
    const first = lines.shift();
    const m = {
      headers: [],
      body: text.slice(end + 4),
      get(name) {
        const h = this.headers.find((x) => x[0] === name);
        return h ? h[1] : '';
      },
      all(name) {
        return this.headers.filter((x) => x[0] === name).map((x) => x[1]);
      },
    };
    let r = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(first);
    if (r) {
      m.status = Number(r[1]);
      m.reason = r[2];
    } else {
      r = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(first);
      if (!r) return null;
      m.method = r[1];
      m.uri = r[2];
    }
    for (const line of lines) {
      if (/^[ \t]/.test(line) && m.headers.length) {
        m.headers[m.headers.length - 1][1] += ' ' + line.trim(); // folded
        continue;
      }
      const i = line.indexOf(':');
      if (i <= 0) continue;
      let name = line.slice(0, i).trim().toLowerCase();
      name = COMPACT[name] || name;
      const value = line.slice(i + 1).trim();
      // Via may carry several values on one line.
      if (name === 'via') for (const v of value.split(/,(?=\s*SIP\/)/)) m.headers.push([name, v.trim()]);
      else m.headers.push([name, value]);
    }
    return m;
  }

  const param = (v, name) => {
    const r = new RegExp(';\\s*' + name + '=([^;>\\s]+)', 'i').exec(v);
    return r ? r[1] : '';
  };
  const uriOf = (v) => {
    const r = /<([^>]+)>/.exec(v);
    return r ? r[1] : v.split(';')[0].trim();
  };
  const userOf = (v) => {
    const r = /sips?:([^@;>]+)@/.exec(v);
    return r ? decodeURIComponent(r[1]) : '';
  };
  const nameOf = (v) => {
    const r = /^\s*"([^"]*)"/.exec(v) || /^\s*([^<"]+?)\s*</.exec(v);
    return r ? r[1] : '';
  };

  class Call {
    constructor(phone, invite) {
      this.phone = phone;
      this.invite = invite;
      this.id = invite.get('call-id');
      this.localTag = rand(10);
      this.remoteURI = uriOf(invite.get('contact')) || uriOf(invite.get('from'));
      this.from = invite.get('from');
      this.to = invite.get('to');
      this.routes = invite.all('record-route');
      this.cseq = 1;
      this.state = 'ringing';
      this.caller = { number: userOf(this.from), name: nameOf(this.from) };
      this.pc = null;
      this.mic = null;
      this.stream = null;
      this.onended = null;
    }

    // answer takes the call; withMic asks for the microphone now.
    async answer(withMic) {
      if (this.state !== 'ringing') return;
      this.state = 'answering';
      try {
        this.pc = new RTCPeerConnection();
        this.pc.ontrack = (ev) => this.phone.play(ev.streams[0] || new MediaStream([ev.track]));
        this.pc.onconnectionstatechange = () => {
          if (this.pc && this.pc.connectionState === 'failed') this.hangup('media failed');
        };
        await this.pc.setRemoteDescription({ type: 'offer', sdp: this.invite.body });
        const tr = this.pc.getTransceivers()[0];
        if (tr) tr.direction = 'sendrecv';
        if (withMic) await this.useMic(true);
        const sdp = await this.localAnswer();
        if (this.state !== 'answering') return; // cancelled meanwhile
        this.phone.respond(this.invite, 200, 'OK', sdp, this);
        this.state = 'active';
      } catch (e) {
        if (this.state === 'answering') {
          this.phone.respond(this.invite, 488, 'Not Acceptable Here', '', this);
          this.end('could not answer: ' + e.message);
        }
      }
    }

    decline() {
      if (this.state !== 'ringing') return;
      this.phone.respond(this.invite, 486, 'Busy Here', '', this);
      this.end('declined');
    }

    // useMic puts the microphone on the call (on) or takes it off.
    async useMic(on) {
      if (!this.pc) return;
      const tr = this.pc.getTransceivers()[0];
      if (!tr) return;
      if (on && !this.mic) {
        const s = await navigator.mediaDevices.getUserMedia({ audio: true });
        this.mic = s.getAudioTracks()[0];
      }
      await tr.sender.replaceTrack(on ? this.mic : null);
    }

    async localAnswer() {
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      await new Promise((done) => {
        if (this.pc.iceGatheringState === 'complete') return done();
        this.pc.addEventListener('icegatheringstatechange', () => this.pc.iceGatheringState === 'complete' && done());
        setTimeout(done, 2000); // host candidates are enough on a LAN
      });
      return this.pc.localDescription.sdp;
    }

    // reinvite answers an offer inside the call (hold, resume, a new
    // party after a transfer).
    async reinvite(req) {
      try {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: req.body });
        const tr = this.pc.getTransceivers()[0];
        if (tr && tr.direction === 'recvonly') tr.direction = 'sendrecv';
        this.phone.respond(req, 200, 'OK', await this.localAnswer(), this);
      } catch {
        this.phone.respond(req, 488, 'Not Acceptable Here', '', this);
      }
    }

    hangup(why) {
      if (this.state === 'active') this.phone.request('BYE', this);
      else if (this.state === 'ringing' || this.state === 'answering') this.phone.respond(this.invite, 486, 'Busy Here', '', this);
      this.end(why || 'hung up');
    }

    end(why) {
      if (this.state === 'ended') return;
      this.state = 'ended';
      if (this.pc) this.pc.close();
      if (this.mic) this.mic.stop();
      this.phone.calls.delete(this.id);
      this.phone.play(null);
      if (this.onended) this.onended(why);
    }
  }

  class Phone {
    // opts: { user, domain, name, onstate(state, detail), onincoming(call), onmessage(from, text) }
    constructor(opts) {
      this.o = opts;
      this.calls = new Map();
      this.pending = new Map(); // client transactions by branch
      this.cseq = 1;
      this.callID = rand(16);
      this.tag = rand(10);
      this.host = rand(12) + '.invalid';
      this.contactUser = rand(8);
      this.expires = 600;
      this.state = 'off';
      this.audio = new Audio();
      this.audio.autoplay = true;
      this.ctx = null;
      this.analyser = null;
      this.timer = 0;
    }

    get aor() {
      return 'sip:' + this.o.user + '@' + this.o.domain;
    }
    get contact() {
      return '<sip:' + this.contactUser + '@' + this.host + ';transport=ws>;+sip.ice';
    }

    setState(s, detail) {
      this.state = s;
      if (this.o.onstate) this.o.onstate(s, detail || '');
    }

    start() {
      if (this.ws) return;
      const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/sip';
      this.setState('connecting');
      const ws = new WebSocket(url, 'sip');
      this.ws = ws;
      ws.onopen = () => this.register(this.expires);
      ws.onmessage = (ev) => typeof ev.data === 'string' && this.receive(ev.data);
      ws.onclose = () => {
        this.ws = null;
        clearTimeout(this.timer);
        for (const c of [...this.calls.values()]) c.end('connection lost');
        if (this.state !== 'off') {
          this.setState('offline', 'connection lost');
          this.timer = setTimeout(() => this.start(), 5000);
        }
      };
    }

    stop() {
      clearTimeout(this.timer);
      const ws = this.ws;
      for (const c of [...this.calls.values()]) c.hangup('signed out');
      this.setState('off');
      if (ws && ws.readyState === WebSocket.OPEN) {
        this.register(0).finally(() => ws.close());
      } else if (ws) ws.close();
    }

    send(text) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    }

    // register sends REGISTER and refreshes it before it expires.
    register(expires) {
      clearTimeout(this.timer);
      const res = this.request('REGISTER', null, { expires });
      res.then((r) => {
        if (expires === 0) return;
        if (r.status >= 200 && r.status < 300) {
          const got = Number(param(r.all('contact').find((c) => c.includes(this.contactUser)) || '', 'expires')) || expires;
          this.setState('registered');
          this.timer = setTimeout(() => this.register(this.expires), Math.max(got * 800, 30000));
        } else {
          this.setState('offline', r.status + ' ' + r.reason);
        }
      });
      return res;
    }

    // request sends REGISTER (call null) or an in-dialog request of call.
    request(method, call, extra) {
      const branch = 'z9hG4bK' + rand(16);
      let h;
      if (call) {
        // earshot called us: From/To swap, our tag is on its To.
        h = [
          method + ' ' + call.remoteURI + ' SIP/2.0',
          'Via: SIP/2.0/WSS ' + this.host + ';branch=' + branch,
          'Max-Forwards: 70',
          ...call.routes.slice().reverse().map((r) => 'Route: ' + r),
          'From: ' + call.to + (param(call.to, 'tag') ? '' : ';tag=' + call.localTag),
          'To: ' + call.from,
          'Call-ID: ' + call.id,
          'CSeq: ' + ++call.cseq + ' ' + method,
        ];
      } else {
        h = [
          'REGISTER sip:' + this.o.domain + ' SIP/2.0',
          'Via: SIP/2.0/WSS ' + this.host + ';branch=' + branch,
          'Max-Forwards: 70',
          'From: <' + this.aor + '>;tag=' + this.tag,
          'To: <' + this.aor + '>',
          'Call-ID: ' + this.callID,
          'CSeq: ' + this.cseq++ + ' REGISTER',
          'Contact: ' + this.contact,
          'Expires: ' + extra.expires,
        ];
      }
      h.push('User-Agent: earshot-webphone', 'Content-Length: 0', '', '');
      const p = new Promise((resolve) => {
        const t = setTimeout(() => {
          this.pending.delete(branch);
          resolve({ status: 408, reason: 'Request Timeout', all: () => [] });
        }, 32000);
        this.pending.set(branch, (r) => {
          clearTimeout(t);
          resolve(r);
        });
      });
      this.send(h.join(CRLF));
      return p;
    }

    // respond answers req; call gives the To tag and, for 2xx, a Contact.
    respond(req, status, reason, body, call) {
      let to = req.get('to');
      if (call && status > 100 && !param(to, 'tag')) to += ';tag=' + call.localTag;
      const h = ['SIP/2.0 ' + status + ' ' + reason];
      for (const v of req.all('via')) h.push('Via: ' + v);
      for (const r of req.all('record-route')) h.push('Record-Route: ' + r);
      h.push('From: ' + req.get('from'), 'To: ' + to, 'Call-ID: ' + req.get('call-id'), 'CSeq: ' + req.get('cseq'));
      if (req.method === 'INVITE' && status >= 200 && status < 300) h.push('Contact: ' + this.contact);
      if (req.method === 'INVITE' || req.method === 'OPTIONS') h.push('Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, MESSAGE');
      if (body) h.push('Content-Type: application/sdp');
      h.push('User-Agent: earshot-webphone', 'Content-Length: ' + new TextEncoder().encode(body || '').length, '', '');
      this.send(h.join(CRLF) + (body || ''));
    }

    receive(text) {
      const m = parse(text);
      if (!m) return;
      if (m.status) {
        const done = this.pending.get(param(m.get('via'), 'branch'));
        if (done && m.status >= 200) {
          this.pending.delete(param(m.get('via'), 'branch'));
          done(m);
        }
        return;
      }
      const call = this.calls.get(m.get('call-id'));
      switch (m.method) {
        case 'INVITE':
          if (call && param(m.get('to'), 'tag')) {
            call.reinvite(m);
          } else if (this.calls.size > 0 || !m.body) {
            this.respond(m, 486, 'Busy Here', '', null);
          } else {
            const c = new Call(this, m);
            this.calls.set(c.id, c);
            this.respond(m, 180, 'Ringing', '', c);
            if (this.o.onincoming) this.o.onincoming(c);
          }
          return;
        case 'ACK':
          return;
        case 'BYE':
          this.respond(m, call ? 200 : 481, call ? 'OK' : 'Call/Transaction Does Not Exist', '', call);
          if (call) call.end('hung up by the other side');
          return;
        case 'CANCEL':
          this.respond(m, call ? 200 : 481, call ? 'OK' : 'Call/Transaction Does Not Exist', '', call);
          if (call && call.state !== 'active') {
            this.respond(call.invite, 487, 'Request Terminated', '', call);
            call.end('cancelled');
          }
          return;
        case 'MESSAGE':
          this.respond(m, 200, 'OK', '', null);
          if (this.o.onmessage) this.o.onmessage(userOf(m.get('from')), m.body);
          return;
        case 'OPTIONS':
          this.respond(m, 200, 'OK', '', null);
          return;
        default:
          this.respond(m, 501, 'Not Implemented', '', null);
      }
    }

    // play sends what the call says to the speaker and the level meter.
    play(stream) {
      this.audio.srcObject = stream;
      if (!stream) return;
      this.audio.play().catch(() => {});
      if (!this.ctx) this.ctx = new AudioContext();
      this.ctx.resume().catch(() => {});
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = 8192;
      this.analyser.smoothingTimeConstant = 0;
      this.ctx.createMediaStreamSource(stream).connect(this.analyser);
    }

    // levels returns what the page hears at each frequency (Hz), in dB:
    // the level meter of the phone panel, and a way to check by ear.
    levels(freqs) {
      if (!this.analyser) return freqs.map(() => -Infinity);
      const bins = new Float32Array(this.analyser.frequencyBinCount);
      this.analyser.getFloatFrequencyData(bins);
      const hz = this.ctx.sampleRate / this.analyser.fftSize;
      return freqs.map((f) => {
        const i = Math.round(f / hz);
        return Math.max(bins[i - 1] ?? -Infinity, bins[i], bins[i + 1] ?? -Infinity);
      });
    }
  }

  window.EarshotPhone = Phone;
})();
