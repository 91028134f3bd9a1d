// A page of the official @powersync/web SDK for the Go tests in compat/web.
//
// The URL's query says what to do:
//   endpoint  the sync service (no trailing slash)
//   token     the JWT the connector hands the SDK
//   method    "web-socket" or "http" (SyncStreamConnectionMethod)
//   db        the database file name (one per test, so runs never share data)
//
// The page connects at once and exposes, for the test to call through the
// DevTools protocol:
//   window.ps.waitFor(sql, params, want)  resolves with the rows once the query's
//                                         rows equal want (JSON; key order aside);
//                                         re-checked whenever its tables change
//   window.ps.last                        the rows each waitFor saw last, by query
//   window.ps.query(sql, params)          the rows of one query
//   window.ps.status()                    connected, hasSynced, errors, connectionMethod
//   window.ps.error                       the first error the page hit, or ""
import { PowerSyncDatabase, Schema, Table, column, SyncStreamConnectionMethod } from '@powersync/web';

const q = new URLSearchParams(location.search);
const endpoint = q.get('endpoint');
const token = q.get('token');
const method = q.get('method') === 'http' ? SyncStreamConnectionMethod.HTTP : SyncStreamConnectionMethod.WEB_SOCKET;

const schema = new Schema({
  lists: new Table({ name: column.text, owner_id: column.text, created_at: column.text }),
  todos: new Table({
    list_id: column.text, description: column.text, completed: column.integer,
    owner_id: column.text, created_at: column.text,
  }),
  announcements: new Table({ message: column.text, created_at: column.text }),
});

const state = document.getElementById('state');
const ps = { error: '', last: {} };
window.ps = ps;

function fail(err) {
  if (!ps.error) ps.error = String(err?.stack ?? err);
  state.textContent = 'error: ' + ps.error;
}

const db = new PowerSyncDatabase({ schema, database: { dbFilename: q.get('db') || 'test.db' } });

const connector = {
  async fetchCredentials() {
    return { endpoint, token };
  },
  async uploadData() {},
};

ps.query = (sql, params) => db.getAll(sql, params ?? []);

ps.status = () => {
  const s = db.currentStatus;
  return {
    connected: s.connected,
    hasSynced: s.hasSynced ?? false,
    downloadError: s.dataFlowStatus?.downloadError ? String(s.dataFlowStatus.downloadError) : '',
    method,
  };
};

// canonical writes rows as JSON with each row's keys sorted.
const canonical = (rows) => JSON.stringify(rows.map((r) => Object.fromEntries(Object.entries(r).sort())));

ps.waitFor = (sql, params, want) =>
  new Promise((resolve, reject) => {
    want = canonical(JSON.parse(want));
    const abort = new AbortController();
    let done = false;
    const check = async () => {
      if (done) return;
      const rows = await db.getAll(sql, params ?? []);
      ps.last[sql] = canonical(rows);
      if (!done && ps.last[sql] === want) {
        done = true;
        abort.abort();
        resolve(rows);
      }
    };
    // watch finds the tables the query reads and calls onResult whenever
    // one of them changes (and once at the start).
    db.watchWithCallback(sql, params ?? [], { onResult: () => check().catch(reject), onError: reject },
      { signal: abort.signal, throttleMs: 50 });
  });

try {
  await db.init();
  await db.connect(connector, { connectionMethod: method, retryDelayMs: 500 });
  state.textContent = 'connecting';
} catch (err) {
  fail(err);
}
