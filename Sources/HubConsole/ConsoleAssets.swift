/// The console's page, style and script: served by the hub itself, no external asset. The
/// script carries ``ConsoleCatalogue`` (English and Korean) as JSON.
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
      <h1 data-t="title">ParkGuard control room</h1>
      <span id="clock" class="quiet"></span>
      <span id="link" class="link down" data-t="connecting">connecting…</span>
      <span id="who" hidden><strong id="who-name"></strong> <span id="who-role" class="badge"></span> <button id="logout" type="button" data-t="logOut">Log out</button></span>
    </header>
    <section id="login" hidden>
      <h2 data-t="logIn">Log in</h2>
      <form id="login-form">
        <label><span data-t="name">Name</span> <input id="login-name" name="username" autocomplete="username" maxlength="32" required></label>
        <label><span data-t="password">Password</span> <input id="login-password" name="password" type="password" autocomplete="current-password" maxlength="72" required></label>
        <button type="submit" id="login-submit" data-t="logIn">Log in</button>
        <span class="languages"><button type="button" class="lang" data-lang="ko">한국어</button> <button type="button" class="lang" data-lang="en">English</button></span>
      </form>
      <p id="login-error" class="error" role="alert"></p>
    </section>
    <main id="console" hidden>
    <section id="incidents-section">
      <h2><span data-t="openIncidents">Open incidents</span> <span id="incident-count" class="count">0</span> <span id="unacknowledged" class="quiet"></span></h2>
      <p id="no-incidents" class="quiet" data-t="noIncidents">No open incidents.</p>
      <ul id="incidents"></ul>
      <nav id="pager" hidden><button id="previous" type="button" data-t="previous">Newer</button> <span id="page-info" class="quiet"></span> <button id="next" type="button" data-t="next">Older</button></nav>
    </section>
    <section id="detail" hidden>
      <h2><span data-t="timeline">Timeline</span> <span id="detail-title"></span> <button id="detail-close" type="button" data-t="close">Close</button></h2>
      <p id="detail-outcome" class="quiet"></p>
      <table id="timeline"><thead><tr><th data-t="colWhen">When</th><th data-t="colWhat">What</th><th data-t="colWho">Who</th><th data-t="colDetail">Detail</th></tr></thead><tbody></tbody></table>
    </section>
    <section id="checks-section" hidden>
      <h2><span data-t="checks">Self-tests and certificates</span> <span id="check-count" class="count">0</span></h2>
      <table id="checks"><thead><tr><th data-t="colUnit">Unit</th><th data-t="colCheck">Check</th><th data-t="colDetail">Detail</th><th data-t="colWhen">When</th></tr></thead><tbody></tbody></table>
    </section>
    <section id="units-section">
      <h2><span data-t="units">Units</span> <span id="unit-summary" class="quiet"></span></h2>
      <div class="unit-filter">
        <input id="unit-search" type="search" maxlength="100" autocomplete="off" data-placeholder="searchUnits">
        <select id="unit-status">
          <option value="all" data-t="filterAll">all units</option><option value="attention" data-t="filterAttention">needing attention</option>
          <option value="offline" data-t="filterOffline">offline</option><option value="alarm" data-t="filterAlarm">bell in alarm</option>
          <option value="fault" data-t="filterFault">bell fault</option><option value="camera" data-t="filterCamera">camera trouble</option>
          <option value="awaiting" data-t="filterAwaiting">awaiting receipt</option>
        </select>
      </div>
      <div id="unit-scroll">
      <table id="units"><thead><tr><th data-t="colUnit">Unit</th><th data-t="colStatus">Status</th><th data-t="colBells">Bells</th><th data-t="colCameras">Cameras</th><th data-t="colOutbox">Outbox</th><th data-t="colAwaiting">Awaiting receipt</th><th data-t="colLastSeen">Last seen</th><th id="actions-head" data-t="colActions" hidden>Actions</th></tr></thead><tbody></tbody></table>
      </div>
      <p id="no-units" class="quiet" data-t="noUnits" hidden>No unit matches.</p>
    </section>
    <section id="audit-section" hidden>
      <h2><span data-t="audit">Audit trail</span> <span class="quiet" data-t="newestFirst">(newest first)</span></h2>
      <table id="audit"><thead><tr><th data-t="colWhen">When</th><th data-t="colWho">Who</th><th data-t="colAction">Action</th><th data-t="colOn">On</th><th data-t="colDetail">Detail</th><th data-t="colFrom">From</th></tr></thead><tbody></tbody></table>
    </section>
    <footer id="counts" class="quiet"></footer>
    </main>
    <script src="/console.js"></script>
    </body>
    </html>
    """

    static let css = """
    :root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f4f5f7; }
    [hidden] { display: none !important; }
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
    #incidents { list-style: none; padding: 0; margin: 0; }
    .incident { display: flex; align-items: center; gap: 1rem; background: #fff; border-left: 0.5rem solid #c62828;
             padding: 0.7rem 1rem; margin-bottom: 0.5rem; box-shadow: 0 1px 2px #0002; }
    .incident.new { animation: flash 1s ease-in-out 0s 6; }
    .incident.newest { border-left-width: 1rem; }
    .incident.newest .what strong { font-size: 1.3rem; }
    .incident.taken { border-left-color: #e0a800; }
    @keyframes flash { 50% { background: #ffd6d4; } }
    .incident .what { flex: 1; }
    .incident .what strong { font-size: 1.1rem; }
    .incident .cams { display: flex; gap: 0.4rem; flex-wrap: wrap; }
    .incident .pictures { display: flex; gap: 0.5rem; flex-wrap: wrap; margin-top: 0.4rem; }
    .incident .pictures a { display: flex; flex-direction: column; font-size: 0.8rem; color: inherit; text-decoration: none; }
    .incident .pictures img { border-radius: 0.2rem; background: #222; object-fit: cover; }
    .incident .where { font-size: 0.95rem; margin: 0.15rem 0; }
    .map { position: relative; width: 240px; height: 150px; overflow: hidden; border-radius: 0.3rem; background: #dde3ea; flex: none; }
    .map img { position: absolute; width: 256px; height: 256px; }
    .map .pin { position: absolute; left: 114px; top: 69px; width: 12px; height: 12px; border-radius: 50%; background: #c62828; border: 2px solid #fff; box-shadow: 0 0 3px #000a; }
    .unit-where { display: block; font-size: 0.8rem; }
    .incident button.ack { font-size: 1rem; padding: 0.5rem 1rem; background: #c62828; color: white; border: 0; border-radius: 0.3rem; cursor: pointer; }
    .incident button:disabled { background: #9aa0a6; cursor: default; }
    .incident .resolve { display: flex; flex-direction: column; gap: 0.3rem; min-width: 14rem; }
    .incident .resolve textarea { font: inherit; font-size: 0.9rem; height: 2.6rem; }
    .incident .result { min-width: 10rem; font-size: 0.9rem; }
    .unit-filter { display: flex; gap: 0.6rem; margin-bottom: 0.4rem; }
    .unit-filter input { flex: 1; max-width: 24rem; font-size: 0.95rem; padding: 0.3rem; }
    #unit-scroll { max-height: 60vh; overflow-y: auto; box-shadow: 0 1px 2px #0002; }
    #units { table-layout: fixed; box-shadow: none; }
    #units thead th { position: sticky; top: 0; background: #fff; z-index: 1; }
    #units tr.unit { height: 48px; }
    #units th:nth-child(1) { width: 22%; } #units th:nth-child(2) { width: 10%; } #units th:nth-child(3) { width: 20%; }
    #units th:nth-child(4) { width: 16%; } #units th:nth-child(5) { width: 6%; } #units th:nth-child(6) { width: 10%; }
    #units th:nth-child(7) { width: 7%; } #units th:nth-child(8) { width: 16%; }
    #units tr.unit td { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    #units td.unit-actions button { font-size: 0.8rem; padding: 0.15rem 0.5rem; }
    #units td.unit-actions .result { display: block; font-size: 0.75rem; overflow: hidden; text-overflow: ellipsis; }
    #units tr.spacer td, #units tr.spacer { padding: 0; border: 0; }
    #pager { margin-top: 0.5rem; display: flex; gap: 1rem; align-items: center; }
    #detail-title { font-weight: normal; }
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

    // Every string of the page, in each language the console speaks: the hub's one catalogue
    // (ConsoleCatalogue, which the CLI reads too). `{name}` is replaced by the argument of that
    // name. The hub's own refusals arrive in English.
    const catalogue = \(ConsoleCatalogue.json);

    // Before login: the browser's language; after: the operator's. Times in the control room's zone.
    let language = (navigator.language || 'en').toLowerCase().startsWith('ko') ? 'ko' : 'en';
    let timeZone;
    // The district's map tile template, when it has a tile server.
    let mapTiles = null;

    function t(key, args = {}) {
      const text = (catalogue[language] && catalogue[language][key]) || catalogue.en[key] || key;
      return text.replace(/{([A-Za-z]+)}/g, (whole, name) => (name in args ? String(args[name]) : whole));
    }

    function applyLanguage() {
      document.documentElement.lang = language;
      for (const element of document.querySelectorAll('[data-t]')) element.textContent = t(element.dataset.t);
      for (const element of document.querySelectorAll('[data-placeholder]')) element.placeholder = t(element.dataset.placeholder);
    }

    // A time as the control room reads it: its own zone, a 24-hour clock, in the page's language.
    function formatTime(iso, withDate = true) {
      const options = {timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit'};
      if (withDate) Object.assign(options, {year: 'numeric', month: '2-digit', day: '2-digit'});
      try { return new Intl.DateTimeFormat(language, options).format(new Date(iso)); } catch (e) { return iso; }
    }

    function formatAge(iso) {
      const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
      const format = new Intl.RelativeTimeFormat(language, {numeric: 'auto'});
      const abs = Math.abs(seconds);
      if (abs < 60) return format.format(seconds, 'second');
      if (abs < 3600) return format.format(Math.round(seconds / 60), 'minute');
      if (abs < 86400) return format.format(Math.round(seconds / 3600), 'hour');
      return format.format(Math.round(seconds / 86400), 'day');
    }

    const seen = new Set();
    let first = true;
    let audio;
    // The logged-in operator ({name, role, csrfToken}), or null on the login screen.
    let me = null;
    let events = null;
    let lastPage = {incidents: [], offset: 0, total: 0, unacknowledged: 0};

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
        showLogin(body.error || t('loggedOut'));
        throw new Error('logged out');
      }
      return {status: response.status, body};
    }

    function setLink(key, up) {
      $('link').dataset.t = key;
      $('link').textContent = t(key);
      $('link').className = 'link ' + (up ? 'up' : 'down');
    }

    function showLogin(message) {
      me = null;
      if (events) { events.close(); events = null; }
      tone(false);
      $('console').hidden = true;
      $('who').hidden = true;
      $('login').hidden = false;
      $('login-error').textContent = message || '';
      setLink('loggedOut', false);
      applyLanguage();
      document.title = t('title');
      $('login-name').focus();
    }

    function showConsole(session) {
      me = {name: session.name, role: session.role, csrfToken: session.csrfToken};
      language = catalogue[session.language] ? session.language : 'en';
      timeZone = session.timeZone;
      mapTiles = session.mapTiles || null;
      applyLanguage();
      tick();
      $('login').hidden = true;
      $('console').hidden = false;
      $('who').hidden = false;
      $('who-name').textContent = me.name;
      $('who-role').textContent = t('role.' + me.role);
      $('who-role').className = 'badge ' + me.role;
      $('audit-section').hidden = me.role !== 'supervisor';
      $('incidents').replaceChildren();
      fleet.clear();
      fleetOrder = null;
      $('detail').hidden = true;
      offset = 0;
      first = true;
      connect();
      refresh();
    }

    for (const button of document.querySelectorAll('button.lang')) {
      button.addEventListener('click', () => { language = button.dataset.lang; applyLanguage(); document.title = t('title'); });
    }

    $('login-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('login-submit').disabled = true;
      $('login-error').textContent = t('checking');
      try {
        const answer = await api('/api/login', 'POST', {name: $('login-name').value, password: $('login-password').value});
        $('login-password').value = '';
        if (answer.status === 200) showConsole(answer.body);
        else $('login-error').textContent = answer.body.error || t('refusedStatus', {status: answer.status});
      } catch (e) {
        $('login-error').textContent = t('unreachable', {error: e.message});
      } finally {
        $('login-submit').disabled = false;
      }
    });

    $('logout').addEventListener('click', async () => {
      try { await api('/api/logout', 'POST', {}); } catch (e) { /* already logged out */ }
      showLogin(t('loggedOut'));
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

    // The tone: every 5 s while on.
    let toneTimer = null;
    function tone(on) {
      if (on && !toneTimer) { beep(); toneTimer = setInterval(beep, 5000); }
      if (!on && toneTimer) { clearInterval(toneTimer); toneTimer = null; }
    }

    // The newest unacknowledged incident is the loudest on the page; the tone repeats while any
    // incident is unacknowledged (on any page) and stops when the last one is acknowledged.
    function renderIncidents(page, pageSize, pictures, cameraEvents) {
      lastPage = page;
      const list = $('incidents');
      const keep = new Map([...list.children].map((li) => [li.dataset.key, li]));
      list.replaceChildren();
      let loudest = true;
      for (const incident of page.incidents) {
        // A card is rebuilt when its incident is acknowledged (its actions change); otherwise kept,
        // with whatever the operator was typing into it.
        const key = incident.id + '|' + (incident.acknowledgedAt || '');
        const li = keep.get(key) || incidentCard(incident, key);
        showPictures(li, pictures[incident.id] || []);
        showCameraEvents(li, cameraEvents[incident.id] || []);
        li.querySelector('.when').dataset.events = incident.events;
        li.classList.toggle('newest', loudest && !incident.acknowledgedAt);
        if (!incident.acknowledgedAt) loudest = false;
        list.append(li);
      }
      renderAges();
      $('no-incidents').hidden = page.total > 0;
      $('incident-count').textContent = page.total;
      $('incident-count').classList.toggle('hot', page.unacknowledged > 0);
      $('unacknowledged').textContent = page.unacknowledged ? t('unacknowledgedCount', {count: page.unacknowledged}) : '';
      // Every open incident is reachable: newest first, a page at a time.
      $('pager').hidden = page.total <= pageSize && page.offset === 0;
      $('page-info').textContent = t('pageInfo', {from: Math.min(page.offset + 1, page.total), to: page.offset + page.incidents.length, total: page.total});
      $('previous').disabled = page.offset === 0;
      $('next').disabled = page.offset + page.incidents.length >= page.total;
      document.title = (page.unacknowledged ? '(' + page.unacknowledged + ') ' : '') + t('title');
      tone(page.unacknowledged > 0);
    }

    // The cameras' pictures of the incident's alarms, as they arrive: right after the press, and
    // once a camera has turned to the bell. Each opens full size in a new tab.
    function showPictures(li, pictures) {
      const strip = li.querySelector('.pictures');
      const ids = pictures.map((p) => String(p.id)).join(',');
      if (strip.dataset.ids === ids) return;
      strip.dataset.ids = ids;
      strip.replaceChildren();
      for (const p of pictures) {
        const link = document.createElement('a');
        link.href = '/api/snapshots/' + p.id;
        link.target = '_blank';
        link.rel = 'noopener';
        const img = document.createElement('img');
        img.src = link.href;
        img.loading = 'lazy';
        img.width = 160;
        img.height = Math.max(1, Math.round(160 * p.height / p.width));
        img.alt = t('pictureAlt', {camera: p.camera, stage: t('stage.' + p.stage), time: formatTime(p.takenAt, false)});
        img.title = img.alt;
        const caption = document.createElement('span');
        caption.textContent = p.camera + ' · ' + t('stage.' + p.stage);
        link.append(img, caption);
        strip.append(link);
      }
      strip.hidden = pictures.length === 0;
    }

    // What the linked cameras did: each move to the bell's preset, each picture that could not be taken.
    function cameraEventText(e) {
      return t('cameraEvent.' + e.kind + '.' + (e.outcome === 'moved' ? 'moved' : 'failed'),
               {camera: e.camera, target: e.kind === 'ptz' ? e.target : t('stage.' + e.target), outcome: t('outcome.camera.' + e.outcome),
                detail: e.detail || ''});
    }
    function showCameraEvents(li, events) {
      const line = li.querySelector('.camera-events');
      line.replaceChildren(...events.map((e) => badge(cameraEventText(e), e.outcome === 'moved' ? 'ok' : 'degraded')));
      line.hidden = events.length === 0;
    }

    function incidentCard(incident, key) {
      const li = document.createElement('li');
      li.className = 'incident' + (incident.acknowledgedAt ? ' taken' : '');
      li.dataset.key = key;
      li.dataset.id = incident.id;
      if (!seen.has(incident.id) && !first) li.classList.add('new');
      seen.add(incident.id);
      const what = document.createElement('div');
      what.className = 'what';
      const title = document.createElement('strong');
      title.textContent = t('incidentTitle', {site: incident.unit.site, unit: incident.unit.unit, bell: incident.bell, kind: t('incident.' + incident.kind)});
      const when = document.createElement('div');
      when.className = 'quiet when';
      when.dataset.at = incident.raisedAt;
      const state = document.createElement('div');
      state.className = 'state';
      state.append(incident.acknowledgedAt ? badge(t('acknowledgedBy', {who: incident.acknowledgedBy || '?', time: formatTime(incident.acknowledgedAt, false)}), 'acknowledged')
                                           : badge(t('notAcknowledged'), 'alarm-state'));
      const where = document.createElement('div');
      where.className = 'where';
      where.textContent = placeText(incident.location);
      const cams = document.createElement('div');
      cams.className = 'cams';
      for (const c of incident.cameras) {
        const health = c.health || 'unknown';
        cams.append(badge((c.preset ? c.id + ' @ ' + c.preset : c.id) + ': ' + t('camera.' + health), health));
      }
      if (!incident.cameras.length) cams.append(badge(t('noCamera'), 'unknown'));
      const cameraEvents = document.createElement('div');
      cameraEvents.className = 'cams camera-events';
      cameraEvents.hidden = true;
      const pictures = document.createElement('div');
      pictures.className = 'pictures';
      pictures.hidden = true;
      what.append(title, when, where, state, cams, cameraEvents, pictures);
      const result = document.createElement('span');
      result.className = 'result quiet';
      const details = document.createElement('button');
      details.type = 'button';
      details.className = 'details';
      details.textContent = t('showTimeline');
      details.onclick = () => showTimeline(incident.id);
      li.append(what);
      const map = mapOf(incident.location);
      if (map) li.append(map);
      // A viewer sees the incident but has nothing to press (the hub refuses it too).
      if (me && me.role !== 'viewer') {
        if (!incident.acknowledgedAt) {
          const button = document.createElement('button');
          button.type = 'button';
          button.textContent = t('acknowledge');
          button.className = 'ack';
          button.onclick = () => acknowledge(incident, button, result);
          li.append(button);
        } else {
          const form = document.createElement('form');
          form.className = 'resolve';
          const outcome = document.createElement('select');
          outcome.className = 'outcome';
          for (const value of outcomes) {
            const option = document.createElement('option');
            option.value = value;
            option.textContent = t('outcome.' + value);
            outcome.append(option);
          }
          const note = document.createElement('textarea');
          note.className = 'note';
          note.maxLength = 1000;
          note.placeholder = t('notePlaceholder');
          const button = document.createElement('button');
          button.type = 'submit';
          button.className = 'resolve-button';
          button.textContent = t('resolve');
          // A note on its own keeps the incident open; it goes on the timeline.
          const noteButton = document.createElement('button');
          noteButton.type = 'button';
          noteButton.className = 'note-button';
          noteButton.textContent = t('addNote');
          noteButton.onclick = () => addNote(incident, note, noteButton, result);
          const buttons = document.createElement('span');
          buttons.className = 'buttons';
          buttons.append(button, ' ', noteButton);
          form.append(outcome, note, buttons);
          form.addEventListener('submit', (event) => { event.preventDefault(); resolve(incident, outcome.value, note.value, button, result); });
          li.append(form);
        }
      }
      li.append(details, result);
      return li;
    }

    // "north gate, beside the toilets · 37.56650, 126.97800", or that the bell's place is unknown.
    function placeText(location) {
      if (!location) return t('noLocation');
      const parts = [];
      if (location.description) parts.push(location.description);
      if (location.latitude != null) parts.push(location.latitude.toFixed(5) + ', ' + location.longitude.toFixed(5));
      return parts.join(' · ');
    }

    // A small map of the district's own tiles (Web Mercator, 256-pixel tiles), centred on the
    // place, with a pin; nothing without coordinates or without a tile server.
    function mapOf(location) {
      if (!mapTiles || !location || location.latitude == null) return null;
      const zoom = 17;
      const scale = 256 * Math.pow(2, zoom);
      const lat = Math.max(-85.05112878, Math.min(85.05112878, location.latitude)) * Math.PI / 180;
      const px = (location.longitude + 180) / 360 * scale;
      const py = (1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2 * scale;
      const box = document.createElement('div');
      box.className = 'map';
      const cx = Math.floor(px / 256), cy = Math.floor(py / 256);
      for (let dx = -1; dx <= 1; dx++) {
        for (let dy = -1; dy <= 1; dy++) {
          const x = cx + dx, y = cy + dy;
          if (y < 0 || y >= Math.pow(2, zoom)) continue;
          const img = document.createElement('img');
          img.alt = '';
          img.src = mapTiles.replace('{z}', zoom).replace('{x}', (x + Math.pow(2, zoom)) % Math.pow(2, zoom)).replace('{y}', y);
          img.style.left = Math.round(x * 256 - px + 120) + 'px';
          img.style.top = Math.round(y * 256 - py + 75) + 'px';
          box.append(img);
        }
      }
      const pin = document.createElement('span');
      pin.className = 'pin';
      box.append(pin);
      return box;
    }

    const outcomes = ['assistanceGiven', 'policeDispatched', 'falseAlarm', 'test', 'other'];

    // "raised 14:03:07 (2 minutes ago) · 3 events": the ages move on without a fetch.
    function renderAges() {
      for (const when of document.querySelectorAll('#incidents .when')) {
        when.textContent = t('incidentRaised', {time: formatTime(when.dataset.at), age: formatAge(when.dataset.at), events: when.dataset.events});
      }
    }
    setInterval(renderAges, 10000);

    // One incident's story: its alarms as the unit sent them and what operators did, oldest first.
    async function showTimeline(id) {
      const answer = await api('/api/incidents/' + encodeURIComponent(id));
      if (answer.status !== 200) return;
      const {incident, alarms, actions, cameraEvents} = answer.body;
      $('detail').hidden = false;
      $('detail').dataset.id = id;
      $('detail-title').textContent = t('incidentTitle', {site: incident.unit.site, unit: incident.unit.unit, bell: incident.bell, kind: t('incident.' + incident.kind)});
      $('detail-outcome').textContent = incident.resolvedAt
        ? t('resolvedBy', {who: incident.resolvedBy || '?', time: formatTime(incident.resolvedAt), outcome: t('outcome.' + incident.outcome)}) + (incident.note ? ' — ' + incident.note : '')
        : '';
      const rows = [];
      for (const a of alarms) {
        const cameras = a.cameras.map((c) => c.id + ' ' + t('camera.' + (c.health || 'unknown'))).join(', ') || t('noCamera');
        rows.push([a.deliveredAt, t('kind.' + a.kind), '', t('alarmAtUnit', {kind: t('kind.' + a.kind), time: formatTime(a.raisedAt), seq: a.seq, cameras})]);
      }
      for (const e of actions) rows.push([e.at, t('action.' + e.action), e.address ? e.actor + ' (' + e.address + ')' : e.actor, e.detail]);
      for (const e of cameraEvents || []) rows.push([e.receivedAt, t('camera'), e.camera, cameraEventText(e)]);
      rows.sort((x, y) => new Date(x[0]) - new Date(y[0]));
      const body = $('timeline').tBodies[0];
      body.replaceChildren();
      for (const [at, ...cells] of rows) {
        const tr = document.createElement('tr');
        for (const text of [formatTime(at), ...cells]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        body.append(tr);
      }
      $('detail').scrollIntoView({block: 'nearest'});
    }
    $('detail-close').addEventListener('click', () => { $('detail').hidden = true; });

    // Every unit the hub knows, by "site/unit": a snapshot when the stream opens, then the
    // units that changed, a batch every 250 ms. The table draws only the rows in view.
    const fleet = new Map();
    let fleetOrder = null;  // the keys sorted, until a unit is added
    const rowHeight = 48;
    let unitsQueued = false;
    function scheduleUnits() {
      if (unitsQueued) return;
      unitsQueued = true;
      requestAnimationFrame(() => { unitsQueued = false; renderUnits(); });
    }

    // Whether a unit passes the filter: the search words in its site, unit or place; the status.
    function unitMatches(u, words, status) {
      if (words.length) {
        const text = (u.key.site + ' ' + u.key.unit + ' ' + ((u.location && u.location.description) || '')).toLowerCase();
        if (!words.every((w) => text.includes(w))) return false;
      }
      const bells = Object.values(u.bells), cameras = Object.values(u.cameras);
      switch (status) {
        case 'offline': return !u.online;
        case 'alarm': return bells.includes('alarm') || bells.includes('acknowledged');
        case 'fault': return bells.includes('fault');
        case 'camera': return cameras.some((c) => c.status !== 'ok');
        case 'awaiting': return u.awaitingReceipt > 0;
        case 'attention': return !u.online || bells.some((b) => b === 'alarm' || b === 'fault') || cameras.some((c) => c.status !== 'ok') || u.awaitingReceipt > 0;
        default: return true;
      }
    }

    let shownUnits = [];
    function renderUnits() {
      $('actions-head').hidden = !(me && me.role === 'supervisor');
      if (!fleetOrder) fleetOrder = [...fleet.keys()].sort();
      const words = $('unit-search').value.toLowerCase().split(/ +/).filter((w) => w);
      const status = $('unit-status').value;
      let online = 0;
      shownUnits = [];
      for (const key of fleetOrder) {
        const u = fleet.get(key);
        if (u.online) online++;
        if (unitMatches(u, words, status)) shownUnits.push(u);
      }
      const filtered = words.length > 0 || status !== 'all';
      $('unit-summary').textContent = t('unitSummary', {online, total: fleet.size}) + (filtered ? ' · ' + t('unitsShown', {shown: shownUnits.length}) : '');
      $('no-units').hidden = shownUnits.length > 0 || fleet.size === 0;
      drawRows();
    }

    // The rows in view (and a few around), between two spacers that keep the scroll height.
    function drawRows() {
      const scroller = $('unit-scroll');
      const first = Math.max(0, Math.floor(scroller.scrollTop / rowHeight) - 10);
      const last = Math.min(shownUnits.length, first + Math.ceil((scroller.clientHeight || 600) / rowHeight) + 20);
      const body = $('units').tBodies[0];
      const spacer = (height) => { const tr = document.createElement('tr'); tr.className = 'spacer'; tr.style.height = height + 'px'; return tr; };
      const rows = [spacer(first * rowHeight)];
      for (let i = first; i < last; i++) rows.push(unitRow(shownUnits[i]));
      rows.push(spacer((shownUnits.length - last) * rowHeight));
      body.replaceChildren(...rows);
    }

    function unitRow(u) {
        const tr = document.createElement('tr');
        tr.className = 'unit';
        tr.dataset.unit = u.key.site + '/' + u.key.unit;
        const name = document.createElement('td');
        name.textContent = u.key.site + ' / ' + u.key.unit;
        if (u.location) {
          const where = document.createElement('span');
          where.className = 'unit-where quiet';
          where.textContent = placeText(u.location);
          name.append(where);
        }
        const status = document.createElement('td');
        status.append(badge(u.online ? t('online') : (u.offlineReason ? t('offlineWhy', {reason: u.offlineReason}) : t('offline')),
                            u.online ? 'online' : 'offline'));
        const bells = document.createElement('td');
        for (const [id, state] of Object.entries(u.bells).sort()) bells.append(badge(id + ': ' + t('bell.' + state), state === 'alarm' ? 'alarm-state' : state));
        const cams = document.createElement('td');
        for (const [id, c] of Object.entries(u.cameras).sort()) {
          cams.append(badge(id + ': ' + t('camera.' + c.status) + (c.reasons.length ? ' (' + c.reasons.join(', ') + ')' : ''), c.status));
        }
        // A narrow cell cuts its badges short: the whole list is its tooltip.
        bells.title = bells.textContent;
        cams.title = cams.textContent;
        const outbox = document.createElement('td');
        outbox.textContent = u.outboxDepth ?? '';
        // Alarms the unit holds until this hub's receipt says they are in the log.
        const awaiting = document.createElement('td');
        if (u.awaitingReceipt) {
          awaiting.append(badge(u.oldestAwaitingSeconds != null ? t('oldest', {count: u.awaitingReceipt, seconds: Math.round(u.oldestAwaitingSeconds)})
                                                                 : String(u.awaitingReceipt),
                                u.oldestAwaitingSeconds > 60 ? 'alarm-state' : 'degraded'));
        } else {
          awaiting.textContent = u.awaitingReceipt === 0 ? '0' : '';
        }
        const seenAt = document.createElement('td');
        seenAt.textContent = formatTime(u.lastSeen, false);
        tr.append(name, status, bells, cams, outbox, awaiting, seenAt);
        // A supervisor commands the unit: its sirens silenced, its self-test run (signed by the hub).
        if (me && me.role === 'supervisor') {
          const actions = document.createElement('td');
          actions.className = 'unit-actions';
          const key = u.key.site + '/' + u.key.unit;
          for (const [command, label] of [['silence', 'silence'], ['test', 'selfTest']]) {
            const button = document.createElement('button');
            button.type = 'button';
            button.className = command;
            button.textContent = t(label);
            button.onclick = () => unitCommand(u.key, command, button);
            actions.append(button, ' ');
            button.title = t(label);
          }
          const result = document.createElement('span');
          result.className = 'result quiet';
          result.textContent = unitResults.get(key) || '';
          result.title = result.textContent;
          actions.append(result);
          tr.append(actions);
        }
        return tr;
    }
    $('unit-scroll').addEventListener('scroll', () => requestAnimationFrame(drawRows));
    $('unit-search').addEventListener('input', scheduleUnits);
    $('unit-status').addEventListener('change', scheduleUnits);

    // A snapshot replaces the fleet; a batch updates the units in it.
    function applyUnits(data, replace) {
      const message = JSON.parse(data);
      if (replace) { fleet.clear(); fleetOrder = null; }
      for (const u of message.units) {
        const key = u.key.site + '/' + u.key.unit;
        if (!fleet.has(key)) fleetOrder = null;
        fleet.set(key, u);
      }
      $('counts').textContent = t('counts', message.counts);
      scheduleUnits();
      scheduleChecks();
    }

    // The last answer to a supervisor's command per unit, kept across re-renders of the table.
    const unitResults = new Map();
    async function unitCommand(unit, command, button) {
      const key = unit.site + '/' + unit.unit;
      button.disabled = true;
      unitResults.set(key, t('sending'));
      renderUnits();
      try {
        const answer = (await api('/api/units/' + encodeURIComponent(unit.site) + '/' + encodeURIComponent(unit.unit) + '/' + command, 'POST', {})).body;
        unitResults.set(key, answer.detail || (answer.ok ? t('commandDone') : t('refused', {error: answer.error})));
      } catch (e) {
        unitResults.set(key, t('failed', {error: e.message}));
      }
      renderUnits();
    }

    // Units whose self-test failed, is overdue or never came, and certificates about to expire.
    function renderChecks(answer) {
      const body = $('checks').tBodies[0];
      body.replaceChildren();
      for (const item of answer.items) {
        const tr = document.createElement('tr');
        tr.className = 'check ' + item.kind;
        const when = item.time ? formatTime(item.time) : '';
        for (const text of [item.site + ' / ' + item.unit, t('check.' + item.kind, {days: answer.maxAgeDays}), item.detail, when]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        body.append(tr);
      }
      $('check-count').textContent = answer.items.length;
      $('checks-section').hidden = answer.items.length === 0;
    }
    let checksTimer;
    function scheduleChecks() {
      if (checksTimer) return;
      checksTimer = setTimeout(() => {
        checksTimer = null;
        if (me) api('/api/checks').then((a) => { if (a.status === 200) renderChecks(a.body); }).catch(() => {});
      }, 1000);
    }
    setInterval(scheduleChecks, 60000);

    function renderAudit(entries) {
      const body = $('audit').tBodies[0];
      body.replaceChildren();
      for (const e of entries) {
        const tr = document.createElement('tr');
        for (const text of [formatTime(e.at), e.actor, t('action.' + e.action), e.target, e.detail, e.address]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        body.append(tr);
      }
    }

    async function acknowledge(incident, button, result) {
      button.disabled = true;
      result.textContent = t('sending');
      try {
        const answer = (await api('/api/incidents/' + encodeURIComponent(incident.id) + '/ack', 'POST', {})).body;
        if (!answer.ok) { result.textContent = t('refused', {error: answer.error}); button.disabled = false; }
        else result.textContent = answer.unitAccepted ? t('acknowledgedByUnit') : t('unitDidNotConfirm', {error: answer.error || ''});
      } catch (e) {
        result.textContent = t('failed', {error: e.message});
        button.disabled = false;
      }
    }

    async function addNote(incident, note, button, result) {
      const sent = note.value;
      if (!sent.trim()) return;
      button.disabled = true;
      result.textContent = t('sending');
      try {
        const answer = (await api('/api/incidents/' + encodeURIComponent(incident.id) + '/note', 'POST', {note: sent})).body;
        result.textContent = answer.ok ? t('noteAdded') : t('refused', {error: answer.error});
        // Emptied only if it still holds what was sent: what the operator typed since stays.
        if (answer.ok && note.value === sent) note.value = '';
      } catch (e) {
        result.textContent = t('failed', {error: e.message});
      }
      button.disabled = false;
    }

    async function resolve(incident, outcome, note, button, result) {
      button.disabled = true;
      result.textContent = t('sending');
      try {
        const answer = (await api('/api/incidents/' + encodeURIComponent(incident.id) + '/resolve', 'POST', {outcome, note})).body;
        result.textContent = answer.ok ? t('resolved') : t('refused', {error: answer.error});
        if (!answer.ok) button.disabled = false;
      } catch (e) {
        result.textContent = t('failed', {error: e.message});
        button.disabled = false;
      }
    }

    function tick() { $('clock').textContent = me && timeZone ? formatTime(new Date().toISOString()) + ' ' + timeZone : ''; }
    setInterval(tick, 1000);

    let pending = false;
    let offset = 0;
    let pageSize = 50;
    $('previous').addEventListener('click', () => { offset = Math.max(0, lastPage.offset - pageSize); refresh(); });
    $('next').addEventListener('click', () => { offset = lastPage.offset + lastPage.incidents.length; refresh(); });
    // One fetch at a time; a change that arrives meanwhile is fetched right after, never dropped.
    let again = false;
    async function refresh() {
      if (!me) return;
      if (pending) { again = true; return; }
      pending = true;
      try {
        const state = (await api('/api/state?offset=' + offset)).body;
        if (me && me.role === 'supervisor') renderAudit((await api('/api/audit?limit=50')).body);
        // The page emptied under us (incidents resolved elsewhere): back to the newest.
        if (offset > 0 && !state.incidents.incidents.length) { offset = 0; again = true; return; }
        pageSize = state.pageSize;
        renderIncidents(state.incidents, state.pageSize, state.snapshots || {}, state.cameraEvents || {});
        if (!$('detail').hidden) showTimeline($('detail').dataset.id).catch(() => {});
        $('counts').textContent = t('counts', state.counts);
        first = false;
      } catch (e) {
        /* logged out (the login screen shows why) or the hub is restarting: the next update retries */
      } finally {
        pending = false;
        if (again && me) { again = false; refresh(); }
      }
    }

    let timer;
    function connect() {
      if (events) events.close();
      events = new EventSource('/api/events');
      events.addEventListener('snapshot', (e) => applyUnits(e.data, true));
      events.addEventListener('units', (e) => applyUnits(e.data, false));
      events.addEventListener('incidents', () => { clearTimeout(timer); timer = setTimeout(refresh, 50); });
      // The hub ends the stream when the session ends (logout elsewhere, idle, a disabled account).
      events.addEventListener('ended', (e) => { let why = ''; try { why = JSON.parse(e.data); } catch (x) {} showLogin(why); });
      // A new stream starts with a snapshot; the incidents may have changed while it was down.
      events.onopen = () => { setLink('live', true); refresh(); };
      events.onerror = () => {
        setLink('reconnecting', false);
        // The browser gives up on a refused stream (401): ask whether the session still holds.
        if (events && events.readyState === EventSource.CLOSED) {
          setTimeout(() => api('/api/session').then((a) => { if (a.status === 200 && me) connect(); }).catch(() => {}), 2000);
        }
      };
    }

    applyLanguage();
    api('/api/session').then((answer) => { if (answer.status === 200) showConsole(answer.body); else showLogin(''); })
      .catch(() => { if ($('login').hidden) showLogin(t('reloadToRetry')); });
    """
}
