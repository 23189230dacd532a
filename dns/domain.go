package dns

import (
	"context"
	"time"

	"github.com/bluegreen/bluegreen"
)

// Domain is a Switcher as the controller sees it (controller.DNSSwitcher):
// the same operations, reported in the domain's terms. It is safe for
// concurrent use as the Switcher is.
type Domain struct{ sw *Switcher }

// Domain returns s as the controller's DNS switcher.
func (s *Switcher) Domain() Domain { return Domain{s} }

// Name is the record's name and type, for messages.
func (a Domain) Name() string { r := a.sw.Record(); return r.Name + " " + r.Type }

// Switch is Switcher.Switch; applied reports whether the record now holds
// to's values (even when err is a propagation timeout).
func (a Domain) Switch(ctx context.Context, from, to bluegreen.Color) (bluegreen.DNSReport, bool, error) {
	rep, err := a.sw.Switch(ctx, from, to)
	out := bluegreen.DNSReport{Name: rep.Name, Type: rep.Type, Old: rep.Old, New: rep.New, Changed: rep.Changed,
		OldTTLSeconds: rep.OldTTL.Seconds(), TTLSeconds: rep.TTL.Seconds(), DrainUntil: rep.DrainUntil,
		Propagated: !rep.Propagation.Done.IsZero(), PropagationMS: bluegreen.Milliseconds(rep.Propagation.Took),
		Servers: answers(rep.Propagation.Servers)}
	return out, rep.Applied, err
}

// Prepare is Switcher.Prepare: it lowers the TTL ahead of a planned switch.
func (a Domain) Prepare(ctx context.Context, ttl time.Duration) (bluegreen.DNSPrepareReport, error) {
	rep, err := a.sw.Prepare(ctx, ttl)
	return bluegreen.DNSPrepareReport{Name: rep.Name, Color: rep.Color, OldTTLSeconds: rep.OldTTL.Seconds(),
		TTLSeconds: rep.TTL.Seconds(), Changed: rep.Changed, Servers: answers(rep.Propagation.Servers), ReadyAt: rep.ReadyAt}, err
}

// Answers returns what each authoritative server answers now; when they
// cannot be asked, one answer carries the error.
func (a Domain) Answers(ctx context.Context) []bluegreen.DNSAnswer {
	as, err := a.sw.Answers(ctx)
	if err != nil {
		return []bluegreen.DNSAnswer{{Server: "(authoritative servers)", Error: err.Error()}}
	}
	return answers(as)
}

// answers converts server answers into the domain's.
func answers(as []ServerAnswer) []bluegreen.DNSAnswer {
	out := make([]bluegreen.DNSAnswer, len(as))
	for i, a := range as {
		out[i] = bluegreen.DNSAnswer{Server: a.Server, Values: a.Values, Color: a.Color, TTLSeconds: a.TTL.Seconds(),
			AfterMS: bluegreen.Milliseconds(a.After), Error: a.Error}
	}
	return out
}
