// Package countries holds the canonical SMS-Activate country table and a
// resolver that turns the legacy "country" parameter into one row of it.
//
// The table follows SMS-Activate's own numbering, which every public table
// shows: Russia is 0, Turkey is 62, 187 is the USA and 12 is the USA
// (virtual). The SMSBulk product page says "TR=187"; that is an error and this
// package does not follow it. Several IDs may share one ISO code (US: 12 and
// 187); answers that start from the native side, which knows only the ISO
// code, use the ISO code's primary ID (the lowest ID with that code unless the
// table marks another one), so "US" becomes 12.
//
// The built-in table (Builtin) is embedded from countries.csv. A deployment
// can replace it with its own file of the same shape (LoadFile, wired to
// SHIM_COUNTRIES_FILE by cmd); Load documents the format.
//
// A Resolver accepts an integer ID ("187"), an ISO alpha-2 code in any case
// ("tr") or a slug, alias or English name in any case with spaces, hyphens and
// underscores treated alike ("South Africa", "south_africa"). It keeps a
// fixed-size LRU cache of raw inputs and refuses over-long or binary input
// outright, so hostile input cannot grow memory.
//
// The package does no I/O except LoadFile, knows nothing about services, HTTP
// or the native API, and a Table never changes after it is loaded.
package countries
