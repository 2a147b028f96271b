// earshot workspace: plain JavaScript, no framework, no build step.
//
// The page signs in (POST /auth/login), learns who it is and its CSRF
// token (GET /auth/me), loads its lists once from the API and then applies
// the API's event stream (GET /api/v1/events, authenticated by the session
// cookie) one event at a time: no polling. A one-second timer only redraws
// running durations. Every text from the server goes in with textContent.
'use strict';
(() => {
  const API = '/api/v1';
  const $ = (id) => document.getElementById(id);
  const MODE_LABEL = { listen: 'Listen', whisper: 'Coach', barge: 'Barge', intercept: 'Intercept' };
  const MODES = ['listen', 'whisper', 'barge', 'intercept'];

  let me = null;
  let stream = null;
  let clockSkew = 0; // server time − browser time, ms
  const S = {
    calls: new Map(), // id → call (supervisor: the tenant's; agent: its own)
    rows: new Map(), // id → <tr>
    ended: new Set(), // ids seen ending, so a late list load does not revive them
    help: new Map(), // id → help request
    team: new Map(), // extension → agent status
    queue: new Map(), // call id → queued call
    stats: null,
    sup: null, // my supervision in the panel
    notes: [],
    myNotes: [],
  };

  // ---- helpers ----------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }

  const now = () => Date.now() + clockSkew;

  // Times show in the browser's zone and locale. The formatters are made
  // once and used once at sign-in: the first use loads the locale's and
  // zone's data, tens of milliseconds that must not delay the first call
  // event shown.
  const TIME_FMT = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const DATE_FMT = new Intl.DateTimeFormat([], { dateStyle: 'short', timeStyle: 'short' });
  const clock = (iso) => TIME_FMT.format(new Date(iso));
  const dateTime = (iso) => DATE_FMT.format(new Date(iso));
  function dur(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const mm = h ? String(m).padStart(2, '0') : String(m);
    return (h ? h + ':' : '') + mm + ':' + String(s).padStart(2, '0');
  }
  const since = (iso) => (now() - Date.parse(iso)) / 1000;
  const party = (p) => (p && (p.name ? p.name + ' (' + p.number + ')' : p.number)) || '';
  const ext = (x) => {
    const t = S.team.get(x);
    return t && t.name ? t.name + ' (' + x + ')' : x;
  };

  function status(msg) {
    $('status').textContent = msg;
  }

  class HTTPError extends Error {
    constructor(code, msg) {
      super(msg);
      this.code = code;
    }
  }

  // call makes an API request. bg marks requests the page makes on its
  // own (loads after events, reconnections): they do not count as the
  // user's activity for the session's idle expiry.
  async function call(method, path, body, bg) {
    const opts = { method, headers: {}, credentials: 'same-origin' };
    if (bg) opts.headers['X-Earshot-Background'] = '1';
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method !== 'GET' && me) opts.headers['X-CSRF-Token'] = me.csrf_token;
    const res = await fetch(path.startsWith('/auth/') ? path : API + path, opts);
    const ct = res.headers.get('Content-Type') || '';
    const data = ct.includes('json') ? await res.json() : null;
    if (res.status === 401 && me) signedOut('Your session has ended. Sign in again.');
    if (!res.ok) throw new HTTPError(res.status, (data && data.detail) || res.statusText);
    return data;
  }

  // act runs a user's action and reports its failure where it is heard.
  async function act(what, fn) {
    try {
      return await fn();
    } catch (e) {
      status(what + ' failed: ' + e.message);
      return undefined;
    }
  }

  // ---- sign-in ----------------------------------------------------------

  async function boot() {
    $('login-form').addEventListener('submit', login);
    $('signout').addEventListener('click', logout);
    try {
      me = await call('GET', '/auth/me');
    } catch {
      showLogin();
      return;
    }
    start();
  }

  function showLogin() {
    for (const id of ['supervisor', 'agent', 'whoami', 'signout']) $(id).hidden = true;
    $('login').hidden = false;
    $('login-user').focus();
  }

  async function login(ev) {
    ev.preventDefault();
    $('login-error').textContent = '';
    const user = $('login-user').value.trim(), password = $('login-password').value;
    if (!user || !password) {
      $('login-error').textContent = 'Enter your extension and password.';
      return;
    }
    try {
      me = await call('POST', '/auth/login', { user, password });
    } catch (e) {
      $('login-error').textContent = e.message;
      return;
    }
    $('login-password').value = '';
    start();
  }

  async function logout() {
    await act('Sign-out', () => call('POST', '/auth/logout'));
    signedOut('Signed out.');
  }

  function signedOut(msg) {
    stopPhone();
    me = null;
    if (stream) stream.close();
    stream = null;
    status(msg);
    showLogin();
  }

  function start() {
    $('login').hidden = true;
    $('whoami').hidden = false;
    $('signout').hidden = false;
    $('whoami').textContent = (me.name || me.user) + ' · ' + me.user + ' · ' + me.role;
    clock(0);
    dateTime(0);
    const sup = me.role !== 'agent';
    $('supervisor').hidden = !sup;
    $('agent').hidden = sup;
    document.title = (sup ? 'Supervisor' : 'Agent') + ' · earshot';
    if (sup) initSupervisor();
    else initAgent();
    startPhone();
    connect();
    $('main').focus();
  }

  // ---- event stream -----------------------------------------------------

  // held collects the events that arrive while the lists (re)load; null
  // when events apply at once.
  let held = null;

  function connect() {
    stream = new EventSource(API + '/events');
    // (Re)opened: there is no replay, so reload the lists. Events that
    // arrive while the lists load are held and applied after them: a
    // list fetched before such an event would otherwise overwrite it
    // (a call that started meanwhile would vanish until its next event).
    stream.addEventListener('open', async () => {
      status('Live.');
      if (!me) return;
      held = [];
      try {
        if (me.role === 'agent') await loadAgent();
        else await loadSupervisor();
      } finally {
        const pending = held;
        held = null;
        for (const [fn, data, ev] of pending) fn(data, ev);
      }
    });
    stream.addEventListener('error', async () => {
      if (!me) return;
      status('Reconnecting…');
      if (stream.readyState === EventSource.CLOSED) {
        // A refused stream (signed out, expired) is not retried by the
        // browser: find out which.
        try {
          me = await call('GET', '/auth/me', undefined, true);
          stream.close();
          connect();
        } catch {
          /* signedOut has run */
        }
      }
    });
    // Each event type's latest arrival is a User Timing mark (shown in
    // the browser's performance tools; the end-to-end test reads it to
    // split an event's delay between the wire and the page).
    const on = (type, fn) =>
      stream.addEventListener(type, (m) => {
        performance.clearMarks('earshot:' + type);
        performance.mark('earshot:' + type);
        const ev = JSON.parse(m.data);
        if (held) held.push([fn, ev.data, ev]);
        else fn(ev.data, ev);
      });
    for (const t of ['call.started', 'call.ringing', 'call.answered', 'call.queued', 'call.rerouted', 'call.agent_changed']) {
      on(t, (c, ev) => {
        callChanged(c);
        if (t === 'call.answered') statsSoon();
      });
    }
    on('call.ended', (c) => callEnded(c));
    for (const t of ['supervision.started', 'supervision.mode_changed', 'supervision.ended', 'supervision.refused']) {
      on(t, (d) => supervisionChanged(t, d.supervision));
    }
    for (const t of ['help_request.assigned', 'help_request.accepted', 'help_request.closed', 'help_request.canceled']) {
      on(t, (h) => helpChanged(t, h));
    }
    on('note.created', (n) => noteCreated(n));
    on('agent.state_changed', (d) => agentChanged(d.agent));
    on('queue.joined', (d) => queueChanged(d.call, true));
    on('queue.position_changed', (d) => queueChanged(d.call, true));
    on('queue.left', (d) => {
      queueChanged(d.call, false);
      statsSoon();
    });
  }

  // ---- supervisor -------------------------------------------------------

  let supInit = false;
  function initSupervisor() {
    if (supInit) return;
    supInit = true;
    $('sla-window').addEventListener('change', renderStats);
    $('f-group').addEventListener('change', () => {
      renderCalls();
      loadStats();
    });
    $('f-number').addEventListener('change', renderCalls);
    $('disconnect').addEventListener('click', disconnect);
    for (const b of document.querySelectorAll('.modes [data-mode]')) b.addEventListener('click', () => switchMode(b.dataset.mode));
    $('note-form').addEventListener('submit', sendNote);
    setInterval(tick, 1000);
  }

  async function loadSupervisor() {
    const [calls, help, open] = await Promise.all([
      call('GET', '/calls', undefined, true),
      call('GET', '/help-requests?status=in_progress', undefined, true),
      call('GET', '/help-requests?status=open', undefined, true),
    ]);
    S.calls.clear();
    for (const c of calls.calls) {
      if (S.ended.has(c.id)) continue;
      clockSkew = Date.parse(c.started_at) + c.duration_seconds * 1000 - Date.now();
      S.calls.set(c.id, c);
      addFilterOption(c);
    }
    S.help.clear();
    for (const h of [...open.help_requests, ...help.help_requests]) S.help.set(h.id, h);
    renderCalls();
    renderHelp();
    await Promise.all([loadTeam(), loadQueues(), loadStats()]);
  }

  async function loadTeam() {
    try {
      const t = await call('GET', '/team', undefined, true);
      S.team.clear();
      for (const a of t.team) S.team.set(a.extension, a);
    } catch (e) {
      if (e.code !== 404) throw e;
    }
    if (me.role === 'agent') return;
    renderTeam();
  }

  async function loadQueues() {
    try {
      const q = await call('GET', '/queues', undefined, true);
      S.queue.clear();
      for (const c of q.waiting || []) S.queue.set(c.call_id, c);
    } catch (e) {
      if (e.code !== 404) throw e;
    }
    renderQueues();
  }

  function addFilterOption(c) {
    for (const [sel, v, label] of [
      ['f-group', c.group, c.group],
      ['f-number', c.number, c.label ? c.label + ' ' + c.number : c.number],
    ]) {
      if (!v) continue;
      const s = $(sel);
      if ([...s.options].some((o) => o.value === v)) continue;
      s.append(el('option', { value: v, text: label }));
    }
  }

  let statsTimer = 0;
  // statsSoon refreshes the past-hour figures after an event that changes
  // them, at most once per burst of events.
  function statsSoon() {
    if (statsTimer) return;
    statsTimer = setTimeout(() => {
      statsTimer = 0;
      loadStats();
    }, 150);
  }

  async function loadStats() {
    if (!me || me.role === 'agent') return;
    const g = $('f-group').value;
    try {
      S.stats = await call('GET', '/stats' + (g ? '?group=' + encodeURIComponent(g) : ''), undefined, true);
    } catch {
      return;
    }
    for (const grp of S.stats.groups || []) addFilterOption({ group: grp.group });
    renderStats();
  }

  function renderStats() {
    const st = S.stats;
    if (!st) return;
    $('c-missed').textContent = st.last_hour.missed;
    $('c-avgwait').textContent = dur(st.last_hour.average_wait_seconds);
    const sla = st.sla[$('sla-window').value];
    $('c-sla').textContent = sla === null || sla === undefined ? '–' : Math.round(sla) + ' %';
  }

  function visible(c) {
    const g = $('f-group').value, n = $('f-number').value;
    return (!g || c.group === g) && (!n || c.number === n);
  }

  // renderLive computes the live counters from the calls on the page, the
  // same way GET /stats does on the server.
  function renderLive() {
    const g = $('f-group').value;
    let online = 0, waiting = 0, longest = 0;
    for (const c of S.calls.values()) {
      if (g && c.group !== g) continue;
      if (c.state === 'answered') online++;
      else if (c.state === 'ringing' || c.state === 'queued') {
        waiting++;
        longest = Math.max(longest, since(c.started_at));
      }
    }
    $('c-online').textContent = online;
    $('c-waiting').textContent = waiting;
    $('c-longest').textContent = dur(longest);
  }

  function tick() {
    for (const [id, tr] of S.rows) {
      const c = S.calls.get(id);
      if (c) tr.querySelector('.dur').textContent = dur(since(c.started_at));
    }
    for (const tr of $('queues').tBodies[0].rows) {
      const q = S.queue.get(tr.dataset.id);
      if (q) tr.cells[3].textContent = dur(since(q.since));
    }
    if (me && me.role !== 'agent') renderLive();
    if (me && me.role === 'agent') renderMyCallDuration();
  }

  function callChanged(c) {
    if (S.ended.has(c.id)) return;
    S.calls.set(c.id, Object.assign(S.calls.get(c.id) || {}, c));
    if (me.role === 'agent') {
      renderMyCall();
      return;
    }
    addFilterOption(c);
    renderRow(c);
    renderLive();
    if (S.sup && S.sup.call_id === c.id) renderPanel();
  }

  // The page runs all day: what it remembers of the past is bounded.
  const MAX_ENDED = 1000, MAX_HELP = 100;

  function callEnded(c) {
    S.ended.add(c.id);
    if (S.ended.size > MAX_ENDED) S.ended.delete(S.ended.values().next().value);
    S.calls.delete(c.id);
    const tr = S.rows.get(c.id);
    if (tr) tr.remove();
    S.rows.delete(c.id);
    $('calls-empty').hidden = S.rows.size > 0;
    renderLive();
    statsSoon();
  }

  function renderCalls() {
    const tb = $('calls').tBodies[0];
    tb.replaceChildren();
    S.rows.clear();
    const list = [...S.calls.values()].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
    for (const c of list) renderRow(c);
    $('calls-empty').hidden = S.rows.size > 0;
    renderLive();
  }

  // renderRow draws one call's row, adding or replacing it in place.
  function renderRow(c) {
    const old = S.rows.get(c.id);
    if (!visible(c)) {
      if (old) old.remove();
      S.rows.delete(c.id);
      $('calls-empty').hidden = S.rows.size > 0;
      return;
    }
    const caller = party(c.caller);
    const connect = el('div', { class: 'connect', role: 'group', 'aria-label': 'Connect to the call from ' + caller });
    for (const m of MODES) {
      if (!me.modes.includes(m)) continue;
      connect.append(
        el('button', {
          type: 'button',
          text: MODE_LABEL[m],
          'data-mode': m,
          disabled: c.state !== 'answered' || !!S.sup,
          'aria-label': MODE_LABEL[m] + ': call from ' + caller,
          onclick: () => supervise(c.id, m),
        }),
      );
    }
    const tr = el(
      'tr',
      { 'data-id': c.id, class: S.sup && S.sup.call_id === c.id ? 'mine' : '' },
      el('td', {}, el('time', { datetime: c.started_at, text: clock(c.started_at) })),
      el('td', { class: 'agents', text: (c.agents || []).map(ext).join(', ') || '—' }),
      el('td', { class: 'caller', text: caller }),
      el('td', { class: 'dir-' + c.direction, text: c.direction === 'outbound' ? 'Outbound' : 'Incoming' }),
      el('td', { text: c.group || '—' }),
      el('td', { text: [c.label, c.number].filter(Boolean).join(' · ') || '—' }),
      el('td', { class: 'dur', text: dur(since(c.started_at)) }),
      el('td', {}, connect),
    );
    if (old) old.replaceWith(tr);
    else {
      // Keep start order: a new call goes last, an update stays put.
      $('calls').tBodies[0].append(tr);
    }
    S.rows.set(c.id, tr);
    $('calls-empty').hidden = true;
  }

  function renderTeam() {
    const tb = $('team').tBodies[0];
    tb.replaceChildren();
    for (const a of [...S.team.values()].sort((x, y) => x.extension.localeCompare(y.extension))) {
      const state = a.state === 'paused' && a.reason ? 'paused (' + a.reason + ')' : a.state.replace('_', ' ');
      tb.append(
        el(
          'tr',
          { 'data-ext': a.extension },
          el('td', { text: ext(a.extension) }),
          el('td', { text: a.role }),
          el('td', { text: a.registered ? 'registered' : 'not registered' }),
          el('td', { class: 'state-' + a.state, text: state }),
        ),
      );
    }
  }

  function renderQueues() {
    const tb = $('queues').tBodies[0];
    tb.replaceChildren();
    const list = [...S.queue.values()].sort((a, b) => a.group.localeCompare(b.group) || a.position - b.position);
    for (const q of list) {
      tb.append(
        el(
          'tr',
          { 'data-id': q.call_id },
          el('td', { text: q.group }),
          el('td', { text: q.position }),
          el('td', { text: party(q.caller) }),
          el('td', { text: dur(since(q.since)) }),
        ),
      );
    }
    if (!list.length) tb.append(el('tr', {}, el('td', { colspan: 4, class: 'muted', text: 'Nobody is waiting.' })));
  }

  function queueChanged(q, present) {
    if (present) S.queue.set(q.call_id, q);
    else S.queue.delete(q.call_id);
    renderQueues();
  }

  function agentChanged(a) {
    S.team.set(a.extension, a);
    if (me.role === 'agent') {
      if (a.extension === me.user) {
        renderMyState();
        loadMyCall();
      }
      return;
    }
    renderTeam();
  }

  // Help requests.

  const HELP_STATUS = { open: 'Waiting', in_progress: 'In Progress', closed: 'Closed', canceled: 'Canceled' };

  function helpChanged(type, h) {
    S.help.set(h.id, h);
    if (S.help.size > MAX_HELP) {
      for (const [id, x] of S.help) {
        if (S.help.size <= MAX_HELP) break;
        if (x.status === 'closed' || x.status === 'canceled') S.help.delete(id);
      }
    }
    if (me.role === 'agent') {
      renderMyHelp();
      return;
    }
    if (type === 'help_request.assigned') status('Help requested by ' + ext(h.agent) + '.');
    if (type === 'help_request.canceled') status(ext(h.agent) + ' canceled a help request.');
    renderHelp();
  }

  function renderHelp() {
    const ul = $('help-list');
    ul.replaceChildren();
    const list = [...S.help.values()].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
    for (const h of list.slice(0, 20)) {
      const c = S.calls.get(h.call_id);
      const li = el(
        'li',
        { 'data-id': h.id, 'data-status': h.status },
        el('span', { class: 'badge ' + h.status, text: HELP_STATUS[h.status] || h.status }),
        el('time', { datetime: h.created_at, text: clock(h.created_at) }),
        el('span', {
          text: ext(h.agent) + ' asks for help' + (c ? ' on the call from ' + party(c.caller) : '') + (h.reason ? ': ' + h.reason : ''),
        }),
      );
      if (h.help_provided_by) li.append(el('span', { class: 'provided', text: 'HelpProvidedBy: ' + ext(h.help_provided_by) }));
      if (h.status === 'open') {
        li.append(
          el('button', {
            type: 'button',
            text: 'Confirm',
            'aria-label': 'Confirm help request from ' + ext(h.agent),
            onclick: () => act('Confirm', async () => helpChanged('', (await call('POST', '/help-requests/' + h.id + '/accept')).help_request)),
          }),
        );
      }
      if (h.status === 'in_progress') {
        li.append(
          el('button', {
            type: 'button',
            class: 'secondary',
            text: 'Close',
            'aria-label': 'Close help request from ' + ext(h.agent),
            onclick: () => act('Close', async () => helpChanged('', (await call('POST', '/help-requests/' + h.id + '/close')).help_request)),
          }),
        );
      }
      ul.append(li);
    }
    $('help-empty').hidden = list.length > 0;
  }

  // Supervision panel.

  async function supervise(callID, mode) {
    const inBrowser = phoneReady();
    const body = inBrowser ? { mode, device: 'browser' } : { mode };
    // earshot's call to this page may arrive before the answer to the POST.
    S.browserMode = inBrowser ? mode : null;
    const sp = await act(MODE_LABEL[mode], () => call('POST', '/calls/' + encodeURIComponent(callID) + '/supervisions', body));
    if (!sp) {
      S.browserMode = null;
      return;
    }
    S.sup = sp;
    S.supInBrowser = inBrowser;
    status(inBrowser ? 'Connecting in the browser…' : 'Your phone is ringing: answer it to ' + MODE_LABEL[mode].toLowerCase() + '.');
    openPanel();
    // The phone may have answered (or refused) before the POST's answer
    // reached the page: that event is newer than the answer.
    const e = early.get(sp.id);
    early.delete(sp.id);
    if (e) supervisionChanged(e.type, e.sp);
  }

  async function openPanel() {
    renderCalls();
    renderPanel();
    $('panel').hidden = false;
    $('panel-h').focus();
    const c = S.calls.get(S.sup.call_id);
    const [notes, hist] = await Promise.all([
      act('Notes', () => call('GET', '/notes?call_id=' + encodeURIComponent(S.sup.call_id))),
      c && c.caller && c.caller.number
        ? act('Caller history', () => call('GET', '/calls?state=ended&limit=10&caller=' + encodeURIComponent(c.caller.number)))
        : null,
    ]);
    S.notes = notes ? notes.notes : [];
    renderNotes();
    renderHistory(hist ? hist.calls : []);
  }

  function renderPanel() {
    const sp = S.sup;
    if (!sp) return;
    const c = S.calls.get(sp.call_id);
    $('panel-call').textContent = c ? 'Call from ' + party(c.caller) + ' with ' + (c.agents || []).map(ext).join(', ') : 'Call';
    $('panel-state').textContent = (sp.state === 'active' ? MODE_LABEL[sp.mode] : 'Ringing your phone (' + MODE_LABEL[sp.mode] + ')');
    $('panel-h').textContent = 'Supervising: ' + MODE_LABEL[sp.mode];
    $('panel-h').tabIndex = -1;
    // An intercept makes the call the supervisor's own: no mode to switch
    // to any more, and leaving hangs up.
    const taken = sp.mode === 'intercept' && sp.state === 'active';
    if (taken) $('panel-state').textContent = 'Intercepted: the call is yours';
    for (const b of document.querySelectorAll('.modes [data-mode]')) {
      b.setAttribute('aria-pressed', String(b.dataset.mode === sp.mode));
      b.hidden = !me.modes.includes(b.dataset.mode);
      b.disabled = taken;
    }
    $('disconnect').textContent = taken ? 'Hang up' : 'Disconnect';
    $('card-number').textContent = c ? c.caller.number : '';
    $('card-name').textContent = c ? c.caller.name || '—' : '';
  }

  function renderHistory(calls) {
    const ol = $('card-history');
    ol.replaceChildren();
    for (const c of calls) {
      const outcome = c.answered_at ? 'answered by ' + ((c.agents || []).map(ext).join(', ') || '—') : 'missed';
      ol.append(
        el(
          'li',
          {},
          el('time', { datetime: c.started_at, text: dateTime(c.started_at) }),
          el('span', { text: outcome + ' · ' + dur(c.duration_seconds) + (c.group ? ' · ' + c.group : '') }),
        ),
      );
    }
    if (!calls.length) ol.append(el('li', { class: 'muted', text: 'No earlier calls.' }));
  }

  function renderNotes() {
    const ol = $('notes');
    ol.replaceChildren();
    for (const n of S.notes) ol.append(noteItem(n));
  }

  function noteItem(n) {
    return el('li', {}, el('time', { datetime: n.time, text: clock(n.time) }), el('span', { text: ext(n.author) + ': ' + n.text }));
  }

  async function switchMode(mode) {
    if (!S.sup || S.sup.mode === mode) return;
    const sp = await act(MODE_LABEL[mode], () => call('PATCH', '/supervisions/' + S.sup.id, { mode }));
    if (sp) {
      // Only coach, barge and intercept need the supervisor's voice.
      if (phoneCall) await act('Microphone', () => phoneCall.useMic(mode !== 'listen'));
      S.sup = sp;
      renderPanel();
      status('Mode: ' + MODE_LABEL[mode] + '.');
    }
  }

  async function disconnect() {
    if (!S.sup) return;
    await act('Disconnect', () => call('DELETE', '/supervisions/' + S.sup.id));
    closePanel('Disconnected.');
  }

  function closePanel(msg) {
    S.sup = null;
    $('panel').hidden = true;
    status(msg);
    renderCalls();
  }

  // Supervision events for a supervision the page does not know yet, by
  // id, the latest of each: the one this page's POST is creating may be
  // among them (supervise applies it). A few suffice.
  const early = new Map();

  function supervisionChanged(type, sp) {
    if (!S.sup || sp.id !== S.sup.id) {
      early.delete(sp.id);
      early.set(sp.id, { type, sp });
      if (early.size > 8) early.delete(early.keys().next().value);
      return;
    }
    if (type === 'supervision.ended' || type === 'supervision.refused') {
      closePanel(type === 'supervision.refused' ? 'Your phone did not answer.' : 'Supervision ended.');
      return;
    }
    S.sup = sp;
    renderPanel();
    if (type === 'supervision.started') status('Connected: ' + MODE_LABEL[sp.mode] + '.');
  }

  async function sendNote(ev) {
    ev.preventDefault();
    const text = $('note-text').value.trim();
    if (!S.sup || !text) return;
    const n = await act('Note', () => call('POST', '/calls/' + encodeURIComponent(S.sup.call_id) + '/notes', { text }));
    if (!n) return;
    $('note-text').value = '';
    noteCreated(n);
  }

  function noteCreated(n) {
    if (me.role === 'agent') {
      if (S.myNotes.some((x) => x.id === n.id)) return;
      S.myNotes.push(n);
      renderMyNotes();
      status('New note from ' + ext(n.author) + '.');
      return;
    }
    if (!S.sup || n.call_id !== S.sup.call_id || S.notes.some((x) => x.id === n.id)) return;
    S.notes.push(n);
    $('notes').append(noteItem(n));
  }

  // ---- agent ------------------------------------------------------------

  let agentInit = false;
  function initAgent() {
    if (agentInit) return;
    agentInit = true;
    const sel = $('pause-reason');
    sel.replaceChildren(...me.pause_reasons.map((r) => el('option', { value: r, text: r })));
    $('help-btn').addEventListener('click', helpButton);
    $('set-available').addEventListener('click', () => setState('available'));
    $('set-paused').addEventListener('click', () => setState('paused', sel.value));
    setInterval(tick, 1000);
  }

  async function loadAgent() {
    const [help, notes] = await Promise.all([call('GET', '/help-requests', undefined, true), call('GET', '/notes', undefined, true)]);
    S.help.clear();
    for (const h of help.help_requests) S.help.set(h.id, h);
    S.myNotes = notes.notes;
    renderMyNotes();
    await Promise.all([loadMyCall(), loadTeam()]);
    renderMyState();
  }

  async function loadMyCall() {
    const calls = await call('GET', '/calls', undefined, true);
    S.calls.clear();
    for (const c of calls.calls) {
      clockSkew = Date.parse(c.started_at) + c.duration_seconds * 1000 - Date.now();
      S.calls.set(c.id, c);
    }
    renderMyCall();
  }

  function myCall() {
    let best = null;
    for (const c of S.calls.values()) if (c.state === 'answered' || !best) best = c;
    return best;
  }

  function renderMyCall() {
    const c = myCall();
    const box = $('mycall');
    if (!c) {
      box.replaceChildren(el('p', { class: 'muted', text: 'No call.' }));
    } else {
      box.replaceChildren(
        el(
          'dl',
          { class: 'mycall' },
          el('dt', { text: 'Caller' }),
          el('dd', { class: 'caller', text: party(c.caller) }),
          el('dt', { text: 'Type' }),
          el('dd', { text: c.direction === 'outbound' ? 'Outbound' : 'Incoming' }),
          el('dt', { text: 'Line' }),
          el('dd', { text: [c.group, c.label, c.number].filter(Boolean).join(' · ') || '—' }),
          el('dt', { text: 'Since' }),
          el('dd', {}, el('time', { datetime: c.started_at, text: clock(c.started_at) })),
          el('dt', { text: 'Duration' }),
          el('dd', { class: 'dur', text: dur(since(c.started_at)) }),
        ),
      );
    }
    renderMyHelp();
  }

  function renderMyCallDuration() {
    const c = myCall();
    const d = $('mycall').querySelector('.dur');
    if (c && d) d.textContent = dur(since(c.started_at));
  }

  function activeHelp() {
    for (const h of S.help.values()) if (h.status === 'open' || h.status === 'in_progress') return h;
    return null;
  }

  function renderMyHelp() {
    const h = activeHelp();
    const b = $('help-btn');
    const c = myCall();
    if (h) {
      b.textContent = 'Close help request';
      b.disabled = false;
      $('help-state').textContent =
        h.status === 'open' ? 'Help requested: waiting for a supervisor.' : 'In Progress: ' + ext(h.help_provided_by) + ' is helping.';
    } else {
      b.textContent = 'Help';
      b.disabled = !c || c.state !== 'answered';
      $('help-state').textContent = '';
    }
  }

  // HELP_STAGE orders a request's states: it never goes back.
  const HELP_STAGE = { open: 0, in_progress: 1, closed: 2, canceled: 2 };

  // keepMyHelp stores the answer to the agent's own request unless the
  // event stream already told of a later state: the answer can be handled
  // after the event of a cancel or an acceptance that followed it.
  function keepMyHelp(h) {
    const known = S.help.get(h.id);
    if (!known || HELP_STAGE[h.status] >= HELP_STAGE[known.status]) S.help.set(h.id, h);
  }

  async function helpButton() {
    const h = activeHelp();
    if (h) {
      const r = await act('Close', () => call('POST', '/help-requests/' + h.id + '/close'));
      if (r) {
        keepMyHelp(r.help_request);
        renderMyHelp();
        status(r.confirmation || 'Help request closed.');
      }
      return;
    }
    const c = myCall();
    if (!c) return;
    const nh = await act('Help', () => call('POST', '/help-requests', { call_id: c.id }));
    if (nh) {
      keepMyHelp(nh);
      renderMyHelp();
    }
  }

  function renderMyNotes() {
    const ol = $('mynotes');
    ol.replaceChildren(...S.myNotes.map(noteItem));
    $('mynotes-empty').hidden = S.myNotes.length > 0;
  }

  function renderMyState() {
    const a = S.team.get(me.user);
    const st = $('mystate');
    if (!a) {
      st.textContent = '–';
      return;
    }
    st.textContent = a.state === 'paused' && a.reason ? 'paused (' + a.reason + ')' : a.state.replace('_', ' ');
    st.className = 'state-' + a.state;
  }

  async function setState(state, reason) {
    const body = state === 'paused' ? { state, reason } : { state };
    const a = await act('State', () => call('PUT', '/agents/' + encodeURIComponent(me.user) + '/state', body));
    if (a) {
      S.team.set(a.extension, a);
      renderMyState();
    }
  }

  // ---- webphone ---------------------------------------------------------

  // The page's own phone (phone.js): supervisors listen, coach, barge and
  // intercept from the browser; agents take calls in it when their calls
  // ring the browser.
  let phone = null;
  let phoneCall = null;
  let phoneInit = false;

  function wantPhone() {
    if (!window.RTCPeerConnection || !window.WebSocket || !window.EarshotPhone) return false;
    if (me.role === 'agent') return me.ring !== 'phone';
    return $('phone-device').value === 'browser';
  }

  function phoneReady() {
    return !!phone && phone.state === 'registered';
  }

  function startPhone() {
    if (!phoneInit) {
      phoneInit = true;
      const saved = localStorage.getItem('earshot.phone-device');
      if (saved) $('phone-device').value = saved;
      $('phone-device').addEventListener('change', () => {
        localStorage.setItem('earshot.phone-device', $('phone-device').value);
        stopPhone();
        startPhone();
      });
      $('answer').addEventListener('click', () => phoneCall && answerCall(phoneCall, true));
      $('decline').addEventListener('click', () => phoneCall && phoneCall.decline());
      $('hangup').addEventListener('click', () => phoneCall && phoneCall.hangup());
      window.addEventListener('pagehide', stopPhone);
    }
    $('phonebox').hidden = false;
    // An agent's calls ring where users[].ring says: the choice is the
    // administrator's, not the page's.
    $('phone-device').disabled = me.role === 'agent';
    if (me.role === 'agent') $('phone-device').value = me.ring === 'phone' ? 'phone' : 'browser';
    if (!wantPhone()) {
      $('phone-state').textContent = window.RTCPeerConnection ? '' : 'this browser cannot take calls';
      return;
    }
    phone = new window.EarshotPhone({
      user: me.user,
      domain: me.sip_domain,
      onstate: (st, detail) => {
        $('phone-state').textContent = { connecting: 'connecting…', registered: 'ready', offline: 'offline' }[st] || '';
        if (detail) $('phone-state').textContent += ' (' + detail + ')';
      },
      onincoming: incoming,
    });
    window.earshotPhone = phone;
    phone.start();
  }

  function stopPhone() {
    if (phone) phone.stop();
    phone = null;
    window.earshotPhone = null;
    phoneCall = null;
    $('phone-state').textContent = '';
  }

  function incoming(c) {
    phoneCall = c;
    c.onended = (why) => {
      if (phoneCall === c) phoneCall = null;
      $('ringing').hidden = true;
      $('hangup').hidden = true;
      status('Call ended: ' + why + '.');
    };
    // earshot calling the supervisor who just asked for it: connect.
    if (me.role !== 'agent' && S.browserMode) {
      const mode = S.browserMode;
      S.browserMode = null;
      answerCall(c, mode !== 'listen');
      return;
    }
    if (me.role !== 'agent') {
      c.decline(); // a supervisor's page takes only the calls it asked for
      return;
    }
    $('ringing-from').textContent = party(c.caller);
    $('ringing').hidden = false;
    $('answer').focus();
    status('Incoming call from ' + party(c.caller) + '.');
  }

  async function answerCall(c, withMic) {
    $('ringing').hidden = true;
    await c.answer(withMic);
    if (c.state === 'active') {
      if (me.role === 'agent') $('hangup').hidden = false;
      status('Connected in the browser.');
    }
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
