// Package translate turns legacy handler_api.php requests into the inputs of
// native API calls, and native answers and errors into the exact legacy
// bytes. It does no I/O: it keeps no clock, no context and no connection;
// callers pass in the native answers, the legacy IDs and the country table.
//
// It is not the HTTP front end (package shim owns routes, parameter limits
// and the writer) and not the native client (package upstream). Every legacy
// error code, its HTTP status in each answer profile, and the table from
// native errors to legacy codes live here, in codes.go, and nowhere else.
package translate
