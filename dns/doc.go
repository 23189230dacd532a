// Package dns switches live traffic between the colors by changing a DNS
// record, safely.
//
// A Switcher holds one Record (a CNAME, or A/AAAA records, with the values
// for blue and for green) and a Provider that reads and changes it. Switch
// changes the record only if it still holds the color believed live: the
// RFC2136 provider makes that a single conditional update on the primary
// server (an RFC 2136 prerequisite); providers whose API has no conditional
// write (the libdns ones in dns/cloud) read, compare, then write. A record
// changed by hand is refused with a *MismatchError saying what it holds.
//
// After the update, Switch asks each authoritative server of the zone
// directly (never a recursive resolver) until all answer the new values, and
// reports when each did. The servers are configured, or found from the
// zone's NS records.
//
// TTL plan: resolvers and clients may keep the old answer for up to the old
// TTL after the last authoritative server changed, so the old color must keep
// serving until then, plus a margin (Report.DrainUntil, DefaultDrainMargin).
// Prepare lowers the TTL ahead of a planned switch to shorten that wait.
//
// Errors are *bluegreen.Error values (or unwrap to one): EINVALID for bad
// configuration, EREFUSED when the record does not hold what was expected or
// the server refuses the key or the change, EUNAVAILABLE when a server cannot
// be reached or does not answer in time. Secrets (TSIG keys) never appear in
// errors, logs or String output: see bluegreen.Secret. This package logs nothing.
package dns
