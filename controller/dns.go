package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bluegreen/bluegreen"
)

// DNSSwitcher moves a DNS record between the colors (switch mode dns or
// both); dns.Switcher's Domain satisfies it.
type DNSSwitcher interface {
	// Switch changes the record from `from`'s values to `to`'s, only if it
	// holds `from`'s, and waits for the authoritative servers. applied
	// reports whether the record now holds `to`'s values (even when err is
	// a propagation timeout); when false nothing changed.
	Switch(ctx context.Context, from, to bluegreen.Color) (rep bluegreen.DNSReport, applied bool, err error)
	// Prepare lowers the record's TTL ahead of a planned switch.
	Prepare(ctx context.Context, ttl time.Duration) (bluegreen.DNSPrepareReport, error)
	// Answers returns what each authoritative server answers now.
	Answers(ctx context.Context) []bluegreen.DNSAnswer
	// Name is the record's name, for messages.
	Name() string
}

// switchDNS moves the DNS record for a switch, before the state records
// it. A refused or failed update is recorded and returned: the live color
// stays as it was.
func (c *Controller) switchDNS(ctx context.Context, req bluegreen.SwitchRequest, action bluegreen.Action, from bluegreen.Color, rev int64) (*bluegreen.DNSReport, error) {
	if c.dns == nil {
		return nil, nil
	}
	rep, applied, err := c.dns.Switch(ctx, from, req.To)
	if !applied {
		outcome := bluegreen.OutcomeFailed
		if bluegreen.ErrorCode(err) == bluegreen.EREFUSED {
			outcome = bluegreen.OutcomeRefused
		}
		msg := fmt.Sprintf("%s to %s failed: the DNS record %s was not changed: %s", action, req.To, c.dns.Name(),
			bluegreen.ErrorMessage(err))
		ev := c.event(req, action, outcome, msg, map[string]any{"from": from, "to": req.To, "dns": rep})
		ev.Revision = rev
		c.record(ctx, ev)
		code := bluegreen.ErrorCode(err)
		if code == bluegreen.EINTERNAL {
			code = bluegreen.EUNAVAILABLE
		}
		return nil, bluegreen.Errorf(code, "%s; %s is still live", msg, from)
	}
	if err != nil {
		rep.Warning = bluegreen.ErrorMessage(err)
	}
	return &rep, nil
}

// describeDNS is the one-line summary of a DNS switch for messages.
func describeDNS(r *bluegreen.DNSReport) string {
	s := fmt.Sprintf("DNS %s %s → %s (TTL %gs)", r.Name, r.Type, strings.Join(r.New, ","), r.TTLSeconds)
	if r.Propagated {
		s += fmt.Sprintf("; all %d authoritative servers answer it after %.0f ms", len(r.Servers), r.PropagationMS)
	} else if r.Warning != "" {
		s += "; " + r.Warning
	}
	if !r.DrainUntil.IsZero() {
		s += fmt.Sprintf("; the old color keeps serving until %s (old TTL %gs + margin)", r.DrainUntil.Format(time.RFC3339), r.OldTTLSeconds)
	}
	return s
}

// DNSPrepare lowers the DNS record's TTL to ttl ahead of a planned switch
// and records it.
func (c *Controller) DNSPrepare(ctx context.Context, ttl time.Duration, actor string) (bluegreen.DNSPrepareReport, error) {
	if c.dns == nil {
		return bluegreen.DNSPrepareReport{}, c.refuse(ctx, bluegreen.ActionConfig, "", actor, "dns prepare",
			bluegreen.Errorf(bluegreen.EINVALID, "this bluegreen does not switch DNS (switch_mode is router)"))
	}
	// Like a switch, it runs to its end and is recorded even if the caller
	// goes away: the provider may already have changed the TTL.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	c.op.Lock()
	defer c.op.Unlock()
	rep, err := c.dns.Prepare(ctx, ttl)
	ev := bluegreen.Event{Time: c.now(), Actor: actorOr(actor), Action: bluegreen.ActionConfig, Color: rep.Color,
		Outcome: bluegreen.OutcomeOK, Details: map[string]any{"dns_prepare": rep}}
	if err != nil && !rep.Changed {
		ev.Outcome = bluegreen.OutcomeFailed
		ev.Message = fmt.Sprintf("lowering the TTL of %s to %s failed: %s", c.dns.Name(), ttl, bluegreen.ErrorMessage(err))
	} else {
		ev.Message = fmt.Sprintf("lowered the TTL of %s from %gs to %gs ahead of a switch; ready at %s", c.dns.Name(),
			rep.OldTTLSeconds, rep.TTLSeconds, rep.ReadyAt.Format(time.RFC3339))
		err = nil
	}
	if aerr := c.store.Append(ctx, ev); aerr != nil {
		c.logger.Error("recording dns prepare", "err", aerr)
	}
	return rep, err
}
