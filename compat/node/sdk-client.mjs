// A client of the official @powersync/node SDK, driven by the Go tests in
// this folder (sdk_test.go) through JSON lines on stdin/stdout.
//
// Environment: ENDPOINT (the sync service), TOKEN_URL (the test's token
// server: GET returns {"token": "..."}), DB_DIR (where the SDK's SQLite file
// lives), METHOD (the SyncStreamConnectionMethod: "http", the default, or
// "web-socket"). Commands, one JSON object per line on stdin, each answered by one
// line on stdout with the same id:
//   {"id":1,"cmd":"query","sql":"SELECT ...","params":[]}   -> {"id":1,"rows":[...]}
//   {"id":2,"cmd":"execute","sql":"INSERT ...","params":[]} -> {"id":2,"ok":true}
//   {"id":3,"cmd":"status"}  -> {"id":3,"status":{connected, hasSynced, downloadError, uploadError}}
//   {"id":4,"cmd":"close"}   -> {"id":4,"ok":true}, then the process exits
//   {"id":5,"cmd":"changes"} -> {"id":5,"changes":N}
//   {"id":6,"cmd":"wait","after":N,"timeout_ms":T} -> {"id":6,"changes":M}
// "changes" counts events: sync status changes, changes to the synced
// tables and credential fetches; "wait" answers once the count passes
// after (or after T ms), so a test waits on events instead of polling.
import readline from 'node:readline';
import { PowerSyncDatabase, Schema, Table, column, SyncStreamConnectionMethod } from '@powersync/node';

const { ENDPOINT, TOKEN_URL, DB_DIR, METHOD } = process.env;

const schema = new Schema({
  lists: new Table({ name: column.text, owner_id: column.text, created_at: column.text }),
  todos: new Table({
    list_id: column.text, description: column.text, completed: column.integer,
    owner_id: column.text, created_at: column.text,
  }),
  announcements: new Table({ message: column.text, created_at: column.text }),
});

async function token(purpose) {
  const res = await fetch(`${TOKEN_URL}?purpose=${purpose}`);
  if (!res.ok) throw new Error(`token server: ${res.status}`);
  return (await res.json()).token;
}

// The event counter behind "changes" and "wait".
let changes = 0;
const waiters = [];
function changed() {
  changes++;
  for (const wake of waiters.splice(0)) wake();
}

const connector = {
  async fetchCredentials() {
    const t = await token('sync');
    changed();
    return { endpoint: ENDPOINT, token: t };
  },
  // Uploads go to the service's development write endpoint, which applies
  // them to the source database (an app backend would do this normally).
  async uploadData(db) {
    const batch = await db.getCrudBatch(200);
    if (!batch) return;
    const body = {
      batch: batch.crud.map((e) => ({ op: e.op, type: e.table, id: e.id, data: e.opData })),
    };
    const res = await fetch(`${ENDPOINT}/api/dev/crud`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${await token('upload')}` },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    await batch.complete();
  },
};

const db = new PowerSyncDatabase({
  schema,
  database: { dbFilename: 'client.db', dbLocation: DB_DIR },
});
await db.init();
db.registerListener({ statusChanged: changed });
db.onChange({ onChange: changed }, { tables: ['lists', 'todos', 'announcements'] });
await db.connect(connector, {
  connectionMethod: METHOD === 'web-socket' ? SyncStreamConnectionMethod.WEB_SOCKET : SyncStreamConnectionMethod.HTTP,
  retryDelayMs: 300,
  crudUploadThrottleMs: 50,
});

function statusOf(s) {
  return {
    connected: s.connected,
    hasSynced: s.hasSynced ?? false,
    downloadError: s.dataFlowStatus?.downloadError ? String(s.dataFlowStatus.downloadError) : '',
    uploadError: s.dataFlowStatus?.uploadError ? String(s.dataFlowStatus.uploadError) : '',
  };
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line);
  const reply = { id: msg.id };
  try {
    switch (msg.cmd) {
      case 'query':
        reply.rows = await db.getAll(msg.sql, msg.params ?? []);
        break;
      case 'execute':
        await db.execute(msg.sql, msg.params ?? []);
        reply.ok = true;
        break;
      case 'status':
        reply.status = statusOf(db.currentStatus);
        break;
      case 'changes':
        reply.changes = changes;
        break;
      case 'wait':
        if (changes <= msg.after) {
          await new Promise((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, msg.timeout_ms ?? 10000);
          });
        }
        reply.changes = changes;
        break;
      case 'close':
        await db.disconnect();
        await db.close();
        reply.ok = true;
        process.stdout.write(JSON.stringify(reply) + '\n');
        process.exit(0);
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
  } catch (err) {
    reply.error = String(err?.stack ?? err);
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
await db.close();
