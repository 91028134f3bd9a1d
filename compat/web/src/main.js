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
//                                         rows, as JSON, equal want (a JSON string);
//                                         re-checked whenever its tables change
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
const ps = { error: '' };
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

ps.waitFor = (sql, params, want) =>
  new Promise((resolve, reject) => {
    const abort = new AbortController();
    let done = false;
    const check = async () => {
      if (done) return;
      const rows = await db.getAll(sql, params ?? []);
      if (!done && JSON.stringify(rows) === want) {
        done = true;
        abort.abort();
        resolve(rows);
      }
    };
    db.onChangeWithCallback(
      { onChange: () => check().catch(reject), onError: reject },
      { tables: ['todos', 'lists', 'announcements'], signal: abort.signal, throttleMs: 50 },
    );
    check().catch(reject);
  });

try {
  await db.init();
  await db.connect(connector, { connectionMethod: method, retryDelayMs: 500 });
  state.textContent = 'connecting';
} catch (err) {
  fail(err);
}
