package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/bluegreen/bluegreen"
)

// ForwardedHeader marks a call one instance passed on to the leader, with
// the forwarding instance's ID; an instance that does not lead refuses
// such a call instead of passing it on again.
const ForwardedHeader = "X-Bluegreen-Forwarded-By"

// LeaderFunc says where the call's instance stands among the instances
// that share the state: self when it leads, else the leader's API base
// URL (e.g. "http://10.0.0.1:9001") and this instance's ID. An error (no
// leader, the state store unreachable) refuses the call with it.
type LeaderFunc func(ctx context.Context) (leaderURL, selfID string, self bool, err error)

// leaderOnly wraps a route that only the leader serves: the calls that
// change the state or run on the leader's machine. Without Options.Leader,
// or on the leader, h serves the call; on a follower the call, already
// authenticated here, is passed to the leader unchanged (its token
// included, which the leader checks again) and the leader's answer,
// streams included, is passed back.
func (s *server) leaderOnly(h handlerFunc) handlerFunc {
	if s.leader == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		leaderURL, selfID, self, err := s.leader(r.Context())
		switch {
		case err != nil:
			return err
		case self:
			return h(w, r)
		case r.Header.Get(ForwardedHeader) != "":
			return bluegreen.Errorf(bluegreen.EUNAVAILABLE, "instance %s, which %s forwarded this call to as the leader, no longer leads; try again",
				selfID, r.Header.Get(ForwardedHeader))
		}
		target, err := url.Parse(leaderURL)
		if err != nil {
			return bluegreen.Errorf(bluegreen.EINTERNAL, "the leader's address %q: %v", leaderURL, err)
		}
		var failed error
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = target.Host
				pr.Out.Header.Set(ForwardedHeader, selfID)
				if CleanActor(pr.In.Header.Get(ActorHeader)) == "" {
					// The leader would record the follower as the caller.
					pr.Out.Header.Set(ActorHeader, actorOf(pr.In))
				}
				pr.SetXForwarded()
			},
			Transport:     s.leaderTransport,
			FlushInterval: -1, // progress streams as they come
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				failed = bluegreen.Errorf(bluegreen.EUNAVAILABLE, "passing the call to the leader at %s: %v%s", target.Host, err, lockNote(s.svc.Lock()))
			},
		}
		// The leader's answer carries its own API header.
		w.Header().Del(APIHeader)
		proxy.ServeHTTP(w, r)
		if failed != nil {
			w.Header().Set(APIHeader, "1")
		}
		return failed
	}
}

// lockNote names the operation lock, if one is held, for the refusal of a
// call the leader could not be reached for: a leader killed while it
// held the lock keeps it until its lease expires and another instance
// takes over (which releases it), so the caller learns why to wait.
func lockNote(l *bluegreen.Lock) string {
	if l == nil {
		return ""
	}
	return fmt.Sprintf("; the operation lock is held by %s since %s (%s) on %s: if that instance is gone, the lock is released once its lease expires and another instance leads; try again then",
		l.Owner, l.Since.UTC().Format("2006-01-02 15:04:05Z"), l.What, l.Holder)
}
