// The diagnostics page: polls /api/status and renders it; the table
// browser, SQL console and re-download call the other /api endpoints.
'use strict';

const $ = (id) => document.getElementById(id);
let selectedTable = null;

// The per-run secret comes in the fragment of the address powersync
// diagnose printed (#secret=…; a fragment is never sent to a server). It
// is kept in sessionStorage for reloads, taken out of the address bar, and
// sent with every API request in a header (never a cookie, which other
// sites' pages could make the browser send).
const secret = (() => {
  const m = /(?:^#|&)secret=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('diagnose-secret', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('diagnose-secret') || '';
})();

async function api(path, body) {
  const headers = { 'x-diagnose-secret': secret };
  const opts = body === undefined ? { headers } : {
    method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body),
  };
  const res = await fetch(path, opts);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function text(v) {
  if (v === null || v === undefined) return '';
  return String(v);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : text(c));
  return e;
}

function fillDL(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function ago(iso) {
  if (!iso) return 'never';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return `${new Date(iso).toLocaleTimeString()} (${s}s ago)`;
}

function duration(sec) {
  const neg = sec < 0; sec = Math.abs(Math.round(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const t = (h ? `${h}h ` : '') + (h || m ? `${m}m ` : '') + `${s}s`;
  return neg ? `expired ${t} ago` : `in ${t}`;
}

function bytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' kB';
  return n + ' B';
}

function renderResult(target, res) {
  const head = el('tr', {}, ...res.columns.map((c) => el('th', {}, c)));
  const rows = res.rows.map((r) => el('tr', {}, ...r.map((v) => el('td', {}, text(v)))));
  target.replaceChildren(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
}

function render(st) {
  $('login').hidden = st.configured;
  $('app').hidden = !st.configured;
  const conn = $('conn');
  const s = st.sync;
  conn.textContent = s.connected ? (s.downloading ? 'Syncing' : 'Connected') : (s.connecting ? 'Connecting' : 'Disconnected');
  conn.className = 'pill ' + (s.connected ? 'ok' : s.download_error ? 'bad' : '');
  $('endpoint').textContent = st.endpoint;
  if (!st.configured) return;

  const sync = [
    ['Status', conn.textContent],
    ['Has synced', s.has_synced ? 'yes' : 'no'],
    ['Last synced', ago(s.last_synced_at)],
    ['Checkpoint', s.checkpoint],
    ['Download', s.total_ops ? `${s.downloaded_ops} / ${s.total_ops} ops` : 'idle'],
    ['Reconnects', s.reconnects],
    ['Checksum failures', s.checksum_failures],
    ['Streams', s.streams.map((x) => x.name + (x.errors.length ? ` (${x.errors.join('; ')})` : '')).join(', ') || '—'],
  ];
  if (s.download_error) sync.push(['Last error', s.download_error]);
  fillDL($('sync'), sync);

  const t = st.token;
  if (t) {
    fillDL($('token'), [
      ['User', t.subject],
      ['Expires', t.expires_at ? `${new Date(t.expires_at).toLocaleString()} (${duration(t.expires_in_seconds)})` : 'no exp claim'],
    ]);
    $('claims').textContent = JSON.stringify({ header: t.header, claims: t.claims }, null, 2);
  }
  fillDL($('totals'), [
    ['Buckets', st.totals.buckets],
    ['Rows', st.totals.rows],
    ['Stored ops', st.totals.stored_ops],
    ['Downloaded', bytes(st.totals.downloaded_bytes)],
    ['Database', st.db_path],
  ]);

  $('buckets').tBodies[0].replaceChildren(...st.buckets.map((b) => {
    const bad = b.checksum !== b.expected_checksum;
    const prog = b.total_ops ? el('progress', { max: b.total_ops, value: b.downloaded_ops }) : 'done';
    return el('tr', { 'data-bucket': b.name },
      el('td', {}, b.name), el('td', {}, b.priority), el('td', {}, b.ops), el('td', {}, b.expected_count),
      el('td', { class: bad ? 'mismatch' : '' }, b.checksum), el('td', {}, b.expected_checksum),
      el('td', {}, b.last_op), el('td', {}, bytes(b.downloaded_bytes)), el('td', {}, prog));
  }));

  const subRows = [];
  for (const x of s.streams) {
    subRows.push(el('tr', {}, el('td', {}, x.name), el('td', {}, x.is_default ? 'default' : 'explicit'),
      el('td', {}, x.errors.length ? 'errors: ' + x.errors.join('; ') : ''), el('td', {}), el('td', {})));
  }
  for (const sub of st.subscriptions) {
    const b = el('button', { class: 'danger' }, 'Unsubscribe');
    b.onclick = async () => {
      await api('/api/unsubscribe', { stream: sub.stream, parameters: sub.parameters });
      refresh();
    };
    subRows.push(el('tr', { 'data-subscription': sub.stream }, el('td', {}, sub.stream), el('td', {}, 'subscribed here'),
      el('td', {}, JSON.stringify(sub.parameters)), el('td', {}, sub.priority ?? ''), el('td', {}, b)));
  }
  $('subscriptions').tBodies[0].replaceChildren(...subRows);

  const tabs = st.tables.map((tb) => {
    const b = el('button', { 'data-table': tb.name, class: tb.name === selectedTable ? 'active' : '' }, `${tb.name} (${tb.rows})`);
    b.onclick = () => { selectedTable = tb.name; showTable(); refresh(); };
    return b;
  });
  $('tables').replaceChildren(...tabs);
}

async function showTable() {
  if (!selectedTable) return;
  try {
    renderResult($('table-view'), await api('/api/table?name=' + encodeURIComponent(selectedTable)));
  } catch (e) {
    $('table-view').replaceChildren(el('p', { class: 'error' }, e.message));
  }
}

async function refresh() {
  try {
    render(await api('/api/status'));
  } catch (e) {
    $('conn').textContent = secret ? 'diagnostics server unreachable: ' + e.message
      : 'no secret: open the address powersync diagnose printed (it ends with #secret=…)';
    $('conn').className = 'pill bad';
  }
}

$('login-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    await api('/api/connect', { token: $('login-token').value.trim(), endpoint: $('login-endpoint').value.trim() });
    await refresh();
  } catch (e) {
    $('login-error').textContent = e.message;
  }
};

$('subscribe-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('sub-error').textContent = '';
  try {
    const params = $('sub-params').value.trim();
    const prio = $('sub-priority').value.trim();
    await api('/api/subscribe', {
      stream: $('sub-stream').value.trim(),
      parameters: params ? JSON.parse(params) : null,
      priority: prio === '' ? null : Number(prio),
    });
    await refresh();
  } catch (e) {
    $('sub-error').textContent = e.message;
  }
};

$('run-sql').onclick = async () => {
  $('sql-info').textContent = 'running…';
  try {
    const res = await api('/api/sql', { sql: $('sql').value });
    renderResult($('sql-result'), res);
    $('sql-info').textContent = `${res.rows.length} row(s) in ${res.elapsed_ms} ms` + (res.limited ? ' (first 10000 shown)' : '');
  } catch (e) {
    $('sql-result').replaceChildren();
    $('sql-info').textContent = e.message;
  }
};

$('redownload').onclick = async () => {
  if (!confirm('Delete the local copy of this user\'s data and download it again?')) return;
  await api('/api/redownload', {});
  $('table-view').replaceChildren();
  await refresh();
};

// ?token=…[&endpoint=…] pre-fills the login and connects.
const params = new URLSearchParams(location.search);
if (params.get('token')) {
  $('login-token').value = params.get('token');
  $('login-endpoint').value = params.get('endpoint') || '';
  // Connecting again with the token the server already uses changes nothing.
  $('login-form').requestSubmit();
}

refresh();
setInterval(() => { refresh(); if (selectedTable) showTable(); }, 1000);
