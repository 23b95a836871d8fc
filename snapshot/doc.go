// Package snapshot is fleetgate's config model: it parses the APISIX resource model from
// files, validates it by APISIX's schema rules, canonicalizes every resource (RFC 8785 JSON),
// and computes the content-addressed digest that identifies a snapshot everywhere.
//
// The package is pure: no network, no disk beyond the bytes it is handed.
//
// A Snapshot is immutable once built. Resources are held by pointer and shared: a delta
// applied to a snapshot copies pointers, never bodies.
package snapshot
