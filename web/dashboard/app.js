// The instance dashboard. It talks only to this instance's admin API
// (/api/admin/v1/...) with the admin token the user signs in with; the token
// is kept in sessionStorage for this tab only.
'use strict';

(function () {
  const TOKEN_KEY = 'powersync-admin-token';
  const DIAGNOSTICS_APP = 'https://diagnostics-app.powersync.com/';
  const REFRESH_MS = 5000;

  const $ = (id) => document.getElementById(id);
  let refreshTimer = null;
  let savedDevTokens = null;

  class APIError extends Error {
    constructor(status, body) {
      const e = body && body.error;
      super(e ? `${e.code}: ${e.description}` : `HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY) || '';
    const res = await fetch('/api/admin/v1/' + path, {
      method,
      headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    try { json = await res.json(); } catch (_) { /* not JSON */ }
    if (!res.ok) throw new APIError(res.status, json);
    return json ? json.data : null;
  }

  function text(id, value) { $(id).textContent = value == null ? '' : String(value); }

  function showSignIn(message) {
    stopRefresh();
    $('app').hidden = true;
    $('topbar-actions').hidden = true;
    $('signin').hidden = false;
    text('signin-error', message || '');
    $('admin-token').focus();
  }

  async function signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    try {
      await loadSettings();
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(e.status === 401 ? 'That is not an admin API token of this instance (' + e.message + ').' : e.message);
      return;
    }
    $('signin').hidden = true;
    $('app').hidden = false;
    $('topbar-actions').hidden = false;
    await refresh();
    stopRefresh();
    refreshTimer = setInterval(refresh, REFRESH_MS);
  }

  function stopRefresh() {
    if (refreshTimer) clearInterval(refreshTimer);
    refreshTimer = null;
  }

  // ---- settings ----

  async function loadSettings() {
    const s = await api('GET', 'settings');
    savedDevTokens = !!s.development_tokens;
    $('dev-tokens').checked = savedDevTokens;
    $('save-settings').disabled = true;
    text('settings-status', savedDevTokens ? 'Development tokens are on.' : 'Development tokens are off.');
    $('connect-button').title = savedDevTokens ? '' : 'Turn on Development tokens and save first';
  }

  async function saveSettings() {
    const on = $('dev-tokens').checked;
    $('save-settings').disabled = true;
    text('settings-status', 'Saving…');
    try {
      await api('POST', 'settings', { development_tokens: on });
      await loadSettings();
      text('settings-status', 'Saved. Development tokens are ' + (on ? 'on.' : 'off: existing tokens are rejected and their streams ended.'));
    } catch (e) {
      $('save-settings').disabled = false;
      text('settings-status', 'Not saved: ' + e.message);
    }
  }

  // ---- overview ----

  function fmtTime(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    return isNaN(d) ? ts : d.toLocaleString();
  }

  function ago(ts) {
    if (!ts) return '';
    const s = Math.max(0, Math.round((Date.now() - new Date(ts).getTime()) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }

  function renderIssues(list, errors) {
    list.replaceChildren();
    for (const e of errors || []) {
      const li = document.createElement('li');
      li.className = e.level === 'fatal' ? 'fatal' : 'warning';
      li.textContent = (e.level === 'fatal' ? 'Error: ' : 'Warning: ') + e.message;
      list.appendChild(li);
    }
  }

  async function refresh() {
    let d;
    try {
      d = await api('POST', 'diagnostics', { sync_rules_content: true });
    } catch (e) {
      if (e.status === 401) { showSignIn('Signed out: ' + e.message); return; }
      text('refreshed', 'Could not refresh: ' + e.message);
      return;
    }
    const rules = d.active_sync_rules || d.deploying_sync_rules;
    const conn = rules && rules.connections && rules.connections[0];
    if (!rules) {
      text('stat-state', 'No sync config');
      text('stat-state-sub', 'nothing deployed yet');
    } else if (d.active_sync_rules) {
      text('stat-state', d.active_sync_rules.state === 'ERRORED' ? 'Errored' : 'Active');
      text('stat-state-sub', 'version ' + rules.version_id + (d.deploying_sync_rules ? ', a new version is replicating' : ''));
    } else {
      text('stat-state', 'Initial replication');
      text('stat-state-sub', 'version ' + rules.version_id + ' is being snapshotted');
    }
    const sub = [];
    if (conn && conn.replication_lag_ms != null) {
      text('stat-lag', conn.replication_lag_ms + ' ms');
      sub.push('to reach the source\'s current position');
    } else if (conn && conn.replication_lag_bytes != null) {
      text('stat-lag', conn.replication_lag_bytes + ' bytes behind');
    } else if (conn && conn.replication_lag_changes != null) {
      text('stat-lag', conn.replication_lag_changes + (conn.replication_lag_changes === 1 ? ' change' : ' changes') + ' behind');
    } else {
      text('stat-lag', '—');
    }
    if (conn && conn.last_checkpoint_ts) sub.push('last checkpoint ' + ago(conn.last_checkpoint_ts));
    text('stat-lag-sub', sub.join('; '));
    text('stat-clients', d.api ? d.api.connected_clients : '—');
    const src = d.connections && d.connections[0];
    text('stat-source', src ? (src.connected ? 'Connected' : 'Disconnected') : '—');
    text('stat-source-sub', src ? src.type + (src.uri ? ' · ' + src.uri : '') : '');
    $('stat-source').className = 'value ' + (src && !src.connected ? 'bad' : '');

    const errors = [];
    for (const c of d.connections || []) for (const e of c.errors || []) errors.push(e);
    if (rules) for (const e of rules.errors || []) errors.push(e);
    renderIssues($('sync-errors'), errors);
    const body = $('tables').tBodies[0];
    body.replaceChildren();
    for (const t of (conn && conn.tables) || []) {
      const tr = document.createElement('tr');
      const used = [t.data_queries ? 'data' : '', t.parameter_queries ? 'parameters' : ''].filter(Boolean).join(', ');
      for (const v of [(t.schema ? t.schema + '.' : '') + t.name, (t.replication_id || []).join(', '), used,
        (t.errors || []).map((e) => e.message).join('; ')]) {
        const td = document.createElement('td');
        td.textContent = v;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    text('sync-content', rules && rules.content != null ? rules.content : '');
    text('refreshed', 'Updated ' + new Date().toLocaleTimeString());
  }

  // ---- connect: development tokens ----

  function openConnect() {
    text('connect-error', savedDevTokens ? '' : 'Development tokens are off: tick "Development tokens" and Save first.');
    $('token-result').hidden = true;
    $('connect-dialog').showModal();
    $('user-id').focus();
  }

  async function generate() {
    const user = $('user-id').value.trim();
    text('connect-error', '');
    if (!user) { text('connect-error', 'Enter a user ID.'); return; }
    $('generate-button').disabled = true;
    try {
      const t = await api('POST', 'dev-token', { user_id: user });
      $('token-output').value = t.token;
      text('token-expiry', fmtTime(t.expires_at));
      text('token-endpoint', t.endpoint);
      const link = new URL(DIAGNOSTICS_APP);
      link.searchParams.set('token', t.token);
      link.searchParams.set('endpoint', t.endpoint);
      $('diagnostics-link').href = link.toString();
      text('diagnose-command', 'powersync diagnose --endpoint ' + t.endpoint + ' --token <token>');
      text('copy-status', '');
      $('token-result').hidden = false;
    } catch (e) {
      text('connect-error', e.message);
    } finally {
      $('generate-button').disabled = false;
    }
  }

  async function copyToken() {
    const area = $('token-output');
    try {
      await navigator.clipboard.writeText(area.value);
    } catch (_) {
      area.focus();
      area.select();
      if (!document.execCommand('copy')) { text('copy-status', 'Select the token and copy it.'); return; }
    }
    text('copy-status', 'Copied.');
  }

  document.addEventListener('DOMContentLoaded', () => {
    text('instance-url', location.origin);
    $('signin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      signIn($('admin-token').value.trim());
    });
    $('signout-button').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn('');
    });
    $('dev-tokens').addEventListener('change', () => {
      $('save-settings').disabled = $('dev-tokens').checked === savedDevTokens;
    });
    $('save-settings').addEventListener('click', saveSettings);
    $('connect-button').addEventListener('click', openConnect);
    $('generate-button').addEventListener('click', (ev) => { ev.preventDefault(); generate(); });
    $('user-id').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); generate(); }
    });
    $('copy-button').addEventListener('click', (ev) => { ev.preventDefault(); copyToken(); });
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) signIn(token); else showSignIn('');
  });
})();
