package shim

import (
	"context"
	"slices"
	"time"

	"github.com/smsbulk/smsbulk-shim/idmap"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// getActivation polls the activation a request names and answers it with
// render (getStatus, getStatusV2, getFullSms). With waits (getStatus,
// getStatusV2), a request with wait=<seconds> is a long-poll: a malformed
// wait is BAD_ACTION before anything is looked up, and a wait (up to
// Options.LongPollMax) waits in the hub for the answer to stop waiting.
func (s *Server) getActivation(render func(upstream.Activation) ([]byte, error), waits bool) action {
	return func(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
		var wait time.Duration
		if waits {
			var err error
			if wait, err = translate.ParseWait(req.Wait, s.opt.LongPollMax); err != nil {
				return nil, err
			}
		}
		if wait > 0 {
			var cancel context.CancelFunc
			ctx, cancel = s.withWait(ctx, wait)
			defer cancel()
		}
		nativeID, err := s.activation(ctx, req, owner)
		if err != nil {
			return nil, err
		}
		act, err := s.poll(ctx, req.APIKey, owner, nativeID, wait)
		if err != nil {
			return nil, err
		}
		return render(act)
	}
}

// poll reads an activation: at once without a wait, or through the
// long-poll hub with one. A waiter the hub keeps out polls at once.
func (s *Server) poll(ctx context.Context, key, owner, nativeID string, wait time.Duration) (upstream.Activation, error) {
	if wait <= 0 {
		return s.api.Activation(ctx, key, nativeID)
	}
	act, outcome, err := s.polls.wait(ctx, key, owner, nativeID, wait)
	recordFrom(ctx).setWait(wait, outcome)
	if outcome == waitOver {
		return s.api.Activation(ctx, key, nativeID)
	}
	return act, err
}

// setOp is finishActivation (op complete) and cancelActivation (op
// cancel): setStatus 6 and 8 by the names newer clients use.
func (s *Server) setOp(op translate.SetOp) action {
	return func(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
		id, err := translate.ParseID(req.ID)
		if err != nil {
			return nil, err
		}
		return s.set(ctx, req.APIKey, owner, id, op)
	}
}

// Bounds of the active-activation list: pages of the native list (each
// mapped to legacy IDs with one ID-map query), and how many pages.
const (
	activePage  = idmap.MaxNativeIDs
	activePages = 10
)

// activeActivations lists the key's active activations that the shim sold
// under this key, by legacy ID. Native activations the ID map does not
// map for owner (bought elsewhere, or under another key) are left out.
func (s *Server) activeActivations(ctx context.Context, key, owner string) ([]translate.ActiveActivation, error) {
	table := s.cc.Table()
	var out []translate.ActiveActivation
	cursor := ""
	for range activePages {
		page, err := s.api.ListActive(ctx, key, cursor, activePage)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(page.Activations))
		for i, a := range page.Activations {
			ids[i] = a.ID
		}
		legacy, err := s.ids.LegacyIDs(ctx, owner, ids)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Activations {
			id, ok := legacy[a.ID]
			if !ok {
				continue
			}
			c, _ := table.PrimaryByISO(a.CountryISO)
			out = append(out, translate.ActiveActivation{LegacyID: id, CountryID: c.ID, CountryName: c.Eng, Activation: a})
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
	}
	slices.SortFunc(out, func(a, b translate.ActiveActivation) int { return compareInt64(a.LegacyID, b.LegacyID) })
	return out, nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *Server) getActiveActivations(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	list, err := s.activeActivations(ctx, req.APIKey, owner)
	if err != nil {
		return nil, err
	}
	return translate.ActiveActivationsBody(list)
}

func (s *Server) getListOfActiveActivations(ctx context.Context, req translate.Request, owner string) ([]byte, error) {
	start, length, err := translate.ParsePage(req.Start, req.Length)
	if err != nil {
		return nil, err
	}
	list, err := s.activeActivations(ctx, req.APIKey, owner)
	if err != nil {
		return nil, err
	}
	return translate.ActivationListBody(list, start, length)
}
