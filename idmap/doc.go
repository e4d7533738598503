// Package idmap is the shim's durable map between legacy activation IDs (the
// integers SMS-Activate bots parse) and native activation IDs (opaque
// strings). The map has no other home: it is state the shim owns, not
// translation (package translate) and not transport (package upstream).
// Losing it strands paid activations, so it is never kept in memory only: it
// lives in embedded SQLite by default and in PostgreSQL when replicas share it.
//
// The store never sees API keys. Rows are scoped by an owner, an opaque
// fingerprint the caller computes from the key (an HMAC); a row of another
// owner looks exactly like a missing one.
//
// A purchase is journaled before the native buy, so that a crash between
// buying and storing leaves a trace. A row goes through these states:
//
//	pending  Reserve: the legacy ID exists, the buy may or may not have
//	         happened; the row carries the caller's sealed intent.
//	active   Commit: the native ID is stored and Lookup (by legacy ID) and
//	         LegacyIDs (by native ID) find it; the intent is cleared.
//	void     Release: the buy did not happen or was refunded; the intent is
//	         cleared and the ID is never reused.
//
// A pending row that nobody commits or releases is found by Stale, which
// leases it to one reconciler at a time. Retention (DeleteBefore,
// RunRetention) deletes old active and void rows, never pending ones.
//
// Legacy IDs start at 100000001, increase strictly and are never reused, not
// even after deletions and restarts.
//
// This package does not decide what a pending row means for the native API,
// does not seal or open intents and does not translate IDs into legacy
// answers; those are the shim's job.
package idmap
