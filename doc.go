// Package bluegreen is the domain of the bluegreen deployment system: the two
// colors, the committed state that says which one is live, the append-only
// event history, the domain error type and the small interfaces (Store) that
// adapters implement.
//
// This package imports only the standard library. Adapters (store/sqlite,
// router, api, ...) import it; it imports none of them.
package bluegreen
