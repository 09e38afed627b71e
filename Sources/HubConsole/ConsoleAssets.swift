/// The console's page, style and script: served by the hub itself, no external asset.
enum ConsoleAssets {
    static let page = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>ParkGuard control room</title>
    <link rel="stylesheet" href="/console.css">
    </head>
    <body>
    <header>
      <h1>ParkGuard control room</h1>
      <span id="link" class="link down">connecting…</span>
      <span id="who" hidden><strong id="who-name"></strong> <span id="who-role" class="badge"></span> <button id="logout" type="button">Log out</button></span>
    </header>
    <section id="login" hidden>
      <h2>Log in</h2>
      <form id="login-form">
        <label>Name <input id="login-name" name="username" autocomplete="username" maxlength="32" required></label>
        <label>Password <input id="login-password" name="password" type="password" autocomplete="current-password" maxlength="72" required></label>
        <button type="submit" id="login-submit">Log in</button>
      </form>
      <p id="login-error" class="error" role="alert"></p>
    </section>
    <main id="console" hidden>
    <section id="alarms-section">
      <h2>Open alarms <span id="alarm-count" class="count">0</span></h2>
      <p id="no-alarms" class="quiet">No open alarms.</p>
      <ul id="alarms"></ul>
    </section>
    <section>
      <h2>Units <span id="unit-summary" class="quiet"></span></h2>
      <table id="units"><thead><tr><th>Unit</th><th>Status</th><th>Bells</th><th>Cameras</th><th>Outbox</th><th>Awaiting receipt</th><th>Last seen</th></tr></thead><tbody></tbody></table>
    </section>
    <section id="audit-section" hidden>
      <h2>Audit trail <span class="quiet">(newest first)</span></h2>
      <table id="audit"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>On</th><th>Detail</th><th>From</th></tr></thead><tbody></tbody></table>
    </section>
    </main>
    <footer id="counts" class="quiet"></footer>
    <script src="/console.js"></script>
    </body>
    </html>
    """

    static let css = """
    :root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f4f5f7; }
    body { margin: 0 auto; max-width: 1200px; padding: 1rem 1.5rem; }
    header { display: flex; align-items: center; gap: 1.5rem; }
    h1 { font-size: 1.4rem; margin: 0.5rem 0; flex: 1; }
    h2 { font-size: 1.1rem; margin: 1.2rem 0 0.5rem; }
    .quiet { color: #69707a; font-weight: normal; }
    .count { background: #69707a; color: white; border-radius: 1rem; padding: 0 0.6rem; }
    .count.hot { background: #c62828; }
    .link { padding: 0.2rem 0.6rem; border-radius: 0.3rem; font-size: 0.9rem; }
    .link.up { background: #e3f4e4; color: #1e6b24; }
    .link.down { background: #fde2e1; color: #a11b16; }
    #alarms { list-style: none; padding: 0; margin: 0; }
    .alarm { display: flex; align-items: center; gap: 1rem; background: #fff; border-left: 0.5rem solid #c62828;
             padding: 0.7rem 1rem; margin-bottom: 0.5rem; box-shadow: 0 1px 2px #0002; }
    .alarm.new { animation: flash 1s ease-in-out 0s 6; }
    @keyframes flash { 50% { background: #ffd6d4; } }
    .alarm .what { flex: 1; }
    .alarm .what strong { font-size: 1.1rem; }
    .alarm .cams { display: flex; gap: 0.4rem; flex-wrap: wrap; }
    .alarm button { font-size: 1rem; padding: 0.5rem 1rem; background: #c62828; color: white; border: 0; border-radius: 0.3rem; cursor: pointer; }
    .alarm button:disabled { background: #9aa0a6; cursor: default; }
    .alarm .result { min-width: 12rem; font-size: 0.9rem; }
    table { width: 100%; border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px #0002; }
    th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #e5e7eb; font-size: 0.92rem; }
    .badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 0.7rem; font-size: 0.85rem; margin: 0.1rem; }
    .ok, .online, .idle { background: #e3f4e4; color: #1e6b24; }
    .degraded, .acknowledged { background: #fff2cc; color: #7a5a00; }
    .offline, .alarm-state, .fault { background: #fde2e1; color: #a11b16; }
    .disabled, .unknown, .viewer, .operator, .supervisor { background: #eceff1; color: #555; }
    #who { display: flex; align-items: center; gap: 0.5rem; }
    #login form { display: flex; flex-wrap: wrap; gap: 1rem; align-items: end; background: #fff; padding: 1rem; box-shadow: 0 1px 2px #0002; }
    #login label { display: flex; flex-direction: column; font-size: 0.9rem; gap: 0.2rem; }
    #login input { font-size: 1rem; padding: 0.4rem; }
    button { font-size: 0.95rem; padding: 0.4rem 0.9rem; border-radius: 0.3rem; border: 1px solid #9aa0a6; background: #fff; cursor: pointer; }
    .error { color: #a11b16; min-height: 1.2rem; }
    """

    static let script = """
    'use strict';
    const $ = (id) => document.getElementById(id);
    const seen = new Set();
    let first = true;
    let audio;
    // The logged-in operator ({name, role, csrfToken}), or null on the login screen.
    let me = null;
    let events = null;

    // Every API call: JSON, the session's CSRF token on a state change, and back to the login
    // screen when the session has ended.
    async function api(path, method = 'GET', payload) {
      const headers = {};
      if (method !== 'GET') {
        headers['Content-Type'] = 'application/json';
        if (me) headers['X-ParkGuard-CSRF'] = me.csrfToken;
      }
      const response = await fetch(path, {method, headers, credentials: 'same-origin',
                                           body: payload === undefined ? undefined : JSON.stringify(payload)});
      let body = {};
      try { body = await response.json(); } catch (e) { /* not JSON */ }
      if (response.status === 401 && path !== '/api/login') {
        showLogin(body.error || 'log in again');
        throw new Error('logged out');
      }
      return {status: response.status, body};
    }

    function showLogin(message) {
      me = null;
      if (events) { events.close(); events = null; }
      $('console').hidden = true;
      $('who').hidden = true;
      $('login').hidden = false;
      $('login-error').textContent = message || '';
      $('link').textContent = 'logged out';
      $('link').className = 'link down';
      document.title = 'ParkGuard control room';
      $('login-name').focus();
    }

    function showConsole(session) {
      me = {name: session.name, role: session.role, csrfToken: session.csrfToken};
      $('login').hidden = true;
      $('console').hidden = false;
      $('who').hidden = false;
      $('who-name').textContent = me.name;
      $('who-role').textContent = me.role;
      $('who-role').className = 'badge ' + me.role;
      $('audit-section').hidden = me.role !== 'supervisor';
      $('alarms').replaceChildren();
      first = true;
      connect();
      refresh();
    }

    $('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('login-submit').disabled = true;
      $('login-error').textContent = 'checking…';
      try {
        const answer = await api('/api/login', 'POST', {name: $('login-name').value, password: $('login-password').value});
        $('login-password').value = '';
        if (answer.status === 200) showConsole(answer.body);
        else $('login-error').textContent = answer.body.error || ('refused (' + answer.status + ')');
      } catch (e) {
        $('login-error').textContent = 'the hub cannot be reached: ' + e.message;
      } finally {
        $('login-submit').disabled = false;
      }
    });

    $('logout').addEventListener('click', async () => {
      try { await api('/api/logout', 'POST', {}); } catch (e) { /* already logged out */ }
      showLogin('logged out');
    });

    function badge(text, cls) {
      const span = document.createElement('span');
      span.className = 'badge ' + cls;
      span.textContent = text;
      return span;
    }

    function beep() {
      try {
        audio = audio || new AudioContext();
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.15;
        osc.connect(gain).connect(audio.destination);
        osc.start();
        osc.stop(audio.currentTime + 0.4);
      } catch (e) { /* no audio device: the visual emphasis remains */ }
    }

    function renderAlarms(alarms) {
      const list = $('alarms');
      const keep = new Map([...list.children].map((li) => [li.dataset.id, li]));
      list.replaceChildren();
      let fresh = false;
      for (const a of alarms) {
        let li = keep.get(a.id);
        if (!li) {
          li = document.createElement('li');
          li.className = 'alarm';
          li.dataset.id = a.id;
          if (!seen.has(a.id) && !first) { li.classList.add('new'); fresh = true; }
          seen.add(a.id);
          const what = document.createElement('div');
          what.className = 'what';
          const title = document.createElement('strong');
          title.textContent = a.unit.site + ' / ' + a.unit.unit + ' — bell ' + a.bell + ' (' + a.kind + ')';
          const when = document.createElement('div');
          when.className = 'quiet';
          when.textContent = 'raised ' + a.raisedAt + ', seq ' + a.seq;
          const cams = document.createElement('div');
          cams.className = 'cams';
          for (const c of a.cameras) cams.append(badge((c.preset ? c.id + ' @ ' + c.preset : c.id) + ': ' + (c.health || 'unknown'), c.health || 'unknown'));
          if (!a.cameras.length) cams.append(badge('no camera linked', 'unknown'));
          what.append(title, when, cams);
          const result = document.createElement('span');
          result.className = 'result quiet';
          li.append(what);
          // A viewer sees the alarm but has nothing to press (the hub refuses it too).
          if (me && me.role !== 'viewer') {
            const button = document.createElement('button');
            button.textContent = 'Acknowledge';
            button.className = 'ack';
            button.onclick = () => acknowledge(a, button, result);
            li.append(button);
          }
          li.append(result);
        }
        list.append(li);
      }
      $('no-alarms').hidden = alarms.length > 0;
      // The hub sends the newest 500 open alarms; more are in the log (parkguard-hub alarms --open).
      $('alarm-count').textContent = alarms.length >= 500 ? '500+' : alarms.length;
      $('alarm-count').classList.toggle('hot', alarms.length > 0);
      document.title = (alarms.length ? '(' + alarms.length + ') ' : '') + 'ParkGuard control room';
      if (fresh) beep();
    }

    function renderUnits(units) {
      const body = $('units').tBodies[0];
      body.replaceChildren();
      let online = 0;
      for (const u of units) {
        if (u.online) online++;
        const tr = document.createElement('tr');
        tr.dataset.unit = u.key.site + '/' + u.key.unit;
        const name = document.createElement('td');
        name.textContent = u.key.site + ' / ' + u.key.unit;
        const status = document.createElement('td');
        status.append(badge(u.online ? 'online' : 'offline' + (u.offlineReason ? ' (' + u.offlineReason + ')' : ''), u.online ? 'online' : 'offline'));
        const bells = document.createElement('td');
        for (const [id, state] of Object.entries(u.bells).sort()) bells.append(badge(id + ': ' + state, state === 'alarm' ? 'alarm-state' : state));
        const cams = document.createElement('td');
        for (const [id, c] of Object.entries(u.cameras).sort()) cams.append(badge(id + ': ' + c.status + (c.reasons.length ? ' (' + c.reasons.join(', ') + ')' : ''), c.status));
        const outbox = document.createElement('td');
        outbox.textContent = u.outboxDepth ?? '';
        // Alarms the unit holds until this hub's receipt says they are in the log.
        const awaiting = document.createElement('td');
        if (u.awaitingReceipt) {
          awaiting.append(badge(u.awaitingReceipt + (u.oldestAwaitingSeconds != null ? ' (oldest ' + Math.round(u.oldestAwaitingSeconds) + ' s)' : ''),
                                u.oldestAwaitingSeconds > 60 ? 'alarm-state' : 'degraded'));
        } else {
          awaiting.textContent = u.awaitingReceipt === 0 ? '0' : '';
        }
        const seenAt = document.createElement('td');
        seenAt.textContent = new Date(u.lastSeen).toLocaleTimeString();
        tr.append(name, status, bells, cams, outbox, awaiting, seenAt);
        body.append(tr);
      }
      $('unit-summary').textContent = online + ' of ' + units.length + ' online';
    }

    async function acknowledge(alarm, button, result) {
      button.disabled = true;
      result.textContent = 'sending…';
      try {
        const answer = (await api('/api/ack', 'POST', {site: alarm.unit.site, unit: alarm.unit.unit, bell: alarm.bell})).body;
        result.textContent = answer.ok ? 'acknowledged by the unit' : 'refused: ' + answer.error;
        if (!answer.ok) button.disabled = false;
      } catch (e) {
        result.textContent = 'failed: ' + e;
        button.disabled = false;
      }
    }

    function renderAudit(entries) {
      const body = $('audit').tBodies[0];
      body.replaceChildren();
      for (const e of entries) {
        const tr = document.createElement('tr');
        for (const text of [new Date(e.at).toLocaleString(), e.actor, e.action, e.target, e.detail, e.address]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        body.append(tr);
      }
    }

    let pending = false;
    async function refresh() {
      if (pending || !me) return;
      pending = true;
      try {
        const state = (await api('/api/state')).body;
        if (me && me.role === 'supervisor') renderAudit((await api('/api/audit?limit=50')).body);
        renderAlarms(state.openAlarms);
        renderUnits(state.units);
        const c = state.counts;
        $('counts').textContent = c.messages + ' messages, ' + c.alarms + ' alarms, ' + c.duplicates + ' duplicates dropped, ' +
          c.refused + ' refused, ' + c.seqGaps + ' seq gaps, ' + c.rebirths + ' rebirths asked';
        first = false;
      } catch (e) {
        /* logged out (the login screen shows why) or the hub is restarting: the next update retries */
      } finally {
        pending = false;
      }
    }

    let timer;
    function connect() {
      if (events) events.close();
      events = new EventSource('/api/events');
      events.addEventListener('update', () => { clearTimeout(timer); timer = setTimeout(refresh, 100); });
      // The hub ends the stream when the session ends (logout elsewhere, idle, a disabled account).
      events.addEventListener('ended', (e) => { let why = ''; try { why = JSON.parse(e.data); } catch (x) {} showLogin(why); });
      events.onopen = () => { $('link').textContent = 'live'; $('link').className = 'link up'; };
      events.onerror = () => {
        $('link').textContent = 'reconnecting…';
        $('link').className = 'link down';
        // The browser gives up on a refused stream (401): ask whether the session still holds.
        if (events && events.readyState === EventSource.CLOSED) {
          setTimeout(() => api('/api/session').then((a) => { if (a.status === 200 && me) connect(); }).catch(() => {}), 2000);
        }
      };
    }

    api('/api/session').then((answer) => { if (answer.status === 200) showConsole(answer.body); })
      .catch(() => { if ($('login').hidden) showLogin('the hub cannot be reached: reload the page to try again'); });
    """
}
