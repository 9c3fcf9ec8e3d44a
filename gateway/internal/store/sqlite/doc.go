// Package sqlite is vendgate's embedded storage engine: the store.Store contract
// (gateway/internal/store) on SQLite through modernc.org/sqlite, the only package of
// the project that imports that driver. It sits in the gateway's persistence layer,
// below the MQTT ingest and the REST API, and above nothing but the driver.
//
// # Durability
//
// The database runs in WAL journal mode with synchronous=NORMAL. In that mode a
// commit appends to the write-ahead log without an fsync; the log is synced at
// checkpoints. A committed transaction therefore survives a crash of the gateway
// process (the data is in the OS page cache and the WAL file), but a power loss or
// kernel crash may roll back the last transactions committed since the previous
// checkpoint. The database itself never becomes corrupt. Telemetry is redelivered
// by modems (QoS 1, deduplicated by message id), so losing the last moments before
// a power cut is an acceptable price for avoiding one fsync per batch.
//
// Checkpoints do not run at commit (the writer has wal_autocheckpoint(0)) but on
// a connection and goroutine of their own (checkpoint.go): a PASSIVE checkpoint
// once 1000 committed pages wait in the log, as SQLite's automatic one did, and
// within a second of the last commit otherwise, so an idle database has its log
// synced within about a second. Under a writer that commits back to back the log
// is rewound by a RESTART checkpoint every 8000 pages, and a log file left over
// 64 MiB is truncated once it has been copied. Closing the database stops the
// checkpointer; closing the last connection copies what remains and removes the
// log, as before.
//
// # Connections
//
// SQLite allows one writer at a time. All writes go through a pool of exactly one
// connection, whose transactions start with BEGIN IMMEDIATE so that a
// read-then-write transaction never fails with SQLITE_BUSY on upgrade. Reads that
// need no transaction go through a separate pool of query-only connections: under
// WAL they run concurrently with the writer and see the last committed state. The
// checkpointer has one more connection (file databases only).
//
// # Encoding
//
// Times are INTEGER Unix milliseconds in UTC (0 is the zero time) and are read
// back in UTC with millisecond precision. Booleans are 0/1. Caps are a JSON array.
// Epochs are stored as the int64 bit pattern of the uint64 and compared in Go, so
// the whole uint64 range orders correctly.
//
// # Migrations
//
// Schema changes are the numbered files of migrations/, embedded in the binary and
// applied in order, each in its own transaction together with its row in
// schema_migrations. Reopening a database applies only the missing ones; a
// database newer than the binary is refused.
package sqlite
