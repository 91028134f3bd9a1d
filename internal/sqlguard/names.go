package sqlguard

import "strings"

// The functions and relations execute-sql refuses by name, wherever the
// name appears as a word or a quoted identifier (so "pg_catalog.
// \"PG_DROP_REPLICATION_SLOT\"" is caught as well). A read-only
// transaction does not stop any of them: they act outside the transaction.
// The service's own replication role usually has REPLICATION, which is
// enough to drop or advance the service's slot.

const (
	whySlots   = "it acts on replication slots (the service's own slot among them)"
	whyOrigins = "it acts on replication origins"
	whyServer  = "it signals other sessions or controls the server"
	whyWAL     = "it controls the WAL, backups or recovery"
	whyFiles   = "it reads or lists files on the database server"
	whyLO      = "it acts on large objects, which read and write server files"
	whyConfig  = "it changes settings (and could turn read-only off)"
	whyRemote  = "it connects to other databases"
	whyLocks   = "it takes advisory locks, which outlive the query"
	whySleep   = "it only waits, holding a connection"
	whyText    = "it runs SQL given as text, which the gate cannot check"
	whyReset   = "it resets statistics"
	whySeq     = "it changes a sequence"
	whyNotify  = "it sends notifications to other sessions"
	whyLoad    = "it loads code or reads and writes files"
	whyXID     = "it assigns a transaction ID"
	whyPages   = "it changes table pages or shared buffers directly"
)

// deniedExact are refused names.
var deniedExact = map[string]string{
	// Replication slots. pg_logical_slot_get_* advances the slot: the
	// service would lose the changes it consumed.
	"pg_drop_replication_slot":            whySlots,
	"pg_create_logical_replication_slot":  whySlots,
	"pg_create_physical_replication_slot": whySlots,
	"pg_copy_logical_replication_slot":    whySlots,
	"pg_copy_physical_replication_slot":   whySlots,
	"pg_replication_slot_advance":         whySlots,
	"pg_sync_replication_slots":           whySlots,
	// Backends and the server.
	"pg_terminate_backend":           whyServer,
	"pg_cancel_backend":              whyServer,
	"pg_signal_backend":              whyServer,
	"pg_reload_conf":                 whyServer,
	"pg_rotate_logfile":              whyServer,
	"pg_rotate_logfile_old":          whyServer,
	"pg_promote":                     whyServer,
	"pg_log_backend_memory_contexts": whyServer,
	"pg_import_system_collations":    whyServer,
	"pg_prewarm":                     whyServer,
	"pg_notify":                      whyNotify,
	// WAL and backups.
	"pg_switch_wal":              whyWAL,
	"pg_switch_xlog":             whyWAL,
	"pg_create_restore_point":    whyWAL,
	"pg_start_backup":            whyWAL,
	"pg_stop_backup":             whyWAL,
	"pg_backup_start":            whyWAL,
	"pg_backup_stop":             whyWAL,
	"pg_wal_replay_pause":        whyWAL,
	"pg_wal_replay_resume":       whyWAL,
	"pg_xlog_replay_pause":       whyWAL,
	"pg_xlog_replay_resume":      whyWAL,
	"pg_logical_emit_message":    whyWAL,
	"pg_log_standby_snapshot":    whyWAL,
	"pg_truncate_visibility_map": whyPages,
	"pg_current_xact_id":         whyXID,
	"txid_current":               whyXID,
	// Files on the server.
	"pg_read_file":        whyFiles,
	"pg_read_binary_file": whyFiles,
	"pg_stat_file":        whyFiles,
	"pg_file_write":       whyFiles,
	"pg_file_rename":      whyFiles,
	"pg_file_unlink":      whyFiles,
	"pg_file_sync":        whyFiles,
	"pg_logdir_ls":        whyFiles,
	// Large objects.
	"lo_import":                  whyLO,
	"lo_export":                  whyLO,
	"lo_create":                  whyLO,
	"lo_creat":                   whyLO,
	"lo_unlink":                  whyLO,
	"lo_open":                    whyLO,
	"lo_close":                   whyLO,
	"lo_put":                     whyLO,
	"lo_get":                     whyLO,
	"lo_from_bytea":              whyLO,
	"lo_truncate":                whyLO,
	"lo_truncate64":              whyLO,
	"lo_lseek":                   whyLO,
	"lo_lseek64":                 whyLO,
	"lo_tell":                    whyLO,
	"lo_tell64":                  whyLO,
	"loread":                     whyLO,
	"lowrite":                    whyLO,
	"pg_largeobject":             whyLO,
	"pg_largeobject_metadata":    whyLO,
	"set_config":                 whyConfig,
	"nextval":                    whySeq,
	"setval":                     whySeq,
	"query_to_xml":               whyText,
	"query_to_xmlschema":         whyText,
	"query_to_xml_and_xmlschema": whyText,
	"cursor_to_xml":              whyText,
	"cursor_to_xmlschema":        whyText,
	"ts_stat":                    whyText,
	"ts_rewrite":                 whyText,
	// SQLite: extensions and the file functions of the sqlite3 shell.
	"load_extension": whyLoad,
	"fts3_tokenizer": whyLoad,
	"readfile":       whyLoad,
	"writefile":      whyLoad,
	"edit":           whyLoad,
	"fsdir":          whyLoad,
	"zipfile":        whyLoad,
}

// deniedPrefixes refuse families of names; allowedExact are the views
// (read by a plain SELECT) that a prefix would otherwise catch.
var deniedPrefixes = []struct{ prefix, why string }{
	{"pg_logical_slot_", whySlots},
	{"pg_replication_origin_", whyOrigins},
	{"pg_create_", whySlots},
	{"pg_drop_", whySlots},
	{"pg_copy_", whySlots},
	{"pg_ls_", whyFiles},
	{"pg_read_", whyFiles},
	{"pg_file_", whyFiles},
	{"pg_stat_reset", whyReset},
	{"pg_advisory", whyLocks},
	{"pg_try_advisory", whyLocks},
	{"pg_sleep", whySleep},
	{"dblink", whyRemote},
	// Extensions: tablefunc's crosstab and connectby run SQL built from
	// text, pg_background runs SQL in a worker outside this transaction,
	// pg_surgery and pg_buffercache change pages and buffers directly.
	{"crosstab", whyText},
	{"connectby", whyText},
	{"pg_background_", whyText},
	{"heap_force_", whyPages},
	{"pg_buffercache_evict", whyPages},
}

var allowedExact = map[string]bool{
	"pg_replication_origin_status": true,
}

// deniedName returns why name is refused, or "".
func deniedName(name string) string {
	if why, ok := deniedExact[name]; ok {
		return why
	}
	if allowedExact[name] {
		return ""
	}
	for _, p := range deniedPrefixes {
		if strings.HasPrefix(name, p.prefix) {
			return p.why
		}
	}
	// pg_stat_statements_reset and the like.
	if strings.HasPrefix(name, "pg_") && strings.HasSuffix(name, "_reset") {
		return whyReset
	}
	return ""
}
