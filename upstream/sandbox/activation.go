package sandbox

import (
	"bytes"
	"container/heap"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

// activation is one bought number. Its fields change only under s.mu.
type activation struct {
	id       string
	key      string
	idem     string // Idempotency-Key of the purchase
	phone    string
	offer    pair
	cost     decimal.Decimal
	costText string
	created  time.Time
	expires  time.Time
	status   upstream.Status
	due      time.Time // when the pending SMS arrives; zero when none is pending
	codes    int       // SMS received so far
	code     string
	text     string
}

// buyBody is the body of POST /activations. MaxPrice is raw so that null
// means absent and a number is read without float64.
type buyBody struct {
	ServiceCode string          `json:"serviceCode"`
	CountryISO  string          `json:"countryIso"`
	MaxPrice    json.RawMessage `json:"maxPrice"`
	Operator    *string         `json:"operator"`
}

// buy serves POST /activations.
func (s *Sandbox) buy(c *call) result {
	var req buyBody
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return errResult(http.StatusBadRequest, upstream.CodeValidation, "bad JSON body: "+err.Error())
	}
	if dec.More() {
		return errResult(http.StatusBadRequest, upstream.CodeValidation, "bad JSON body: data after the object")
	}
	var missing []string
	if req.ServiceCode == "" {
		missing = append(missing, "serviceCode")
	}
	if req.CountryISO == "" {
		missing = append(missing, "countryIso")
	}
	if len(missing) > 0 {
		return errResult(http.StatusBadRequest, upstream.CodeValidation, fmt.Sprintf("missing %v", missing))
	}
	if req.Operator != nil && (len(*req.Operator) == 0 || len(*req.Operator) > 64) {
		return errResult(http.StatusBadRequest, upstream.CodeValidation, "operator must have 1 to 64 characters")
	}
	var maxPrice *decimal.Decimal
	if len(req.MaxPrice) > 0 && string(req.MaxPrice) != "null" {
		var d upstream.Decimal
		if err := d.UnmarshalJSON(req.MaxPrice); err != nil {
			return errResult(http.StatusBadRequest, upstream.CodeValidation, "maxPrice is not a plain decimal")
		}
		v, err := decimal.NewFromString(string(d))
		if err != nil || v.IsNegative() {
			return errResult(http.StatusBadRequest, upstream.CodeValidation, "maxPrice is not a non-negative decimal")
		}
		maxPrice = &v
	}
	si, ok := s.cat.service(req.ServiceCode)
	if !ok {
		return errResult(http.StatusUnprocessableEntity, upstream.CodeUnknownService, fmt.Sprintf("unknown service %q", req.ServiceCode))
	}
	ci, ok := s.cat.country(req.CountryISO)
	if !ok {
		return errResult(http.StatusUnprocessableEntity, upstream.CodeUnknownCountry, fmt.Sprintf("unknown country %q", req.CountryISO))
	}
	p := pair{ci, si}
	cents, stock := s.cat.base(p)
	if stock+s.stockDelta[p] <= 0 {
		return errResult(http.StatusConflict, upstream.CodeOutOfStock, "no numbers left for this service and country")
	}
	price := decimal.New(cents, -2)
	if maxPrice != nil && price.GreaterThan(*maxPrice) {
		return errResult(http.StatusUnprocessableEntity, upstream.CodePriceAboveMax, "cheapest offer is "+formatCents(cents))
	}
	if s.balances[c.key].LessThan(price) {
		return errResult(http.StatusPaymentRequired, upstream.CodeInsufficient, "balance too low for price "+formatCents(cents))
	}
	created := c.now.UTC().Truncate(time.Millisecond)
	a := &activation{
		id:       s.newID(),
		key:      c.key,
		idem:     c.idem,
		phone:    s.newPhone(ci),
		offer:    p,
		cost:     price,
		costText: formatCents(cents),
		created:  created,
		expires:  created.Add(s.ttl),
		status:   upstream.StatusWaiting,
		due:      created.Add(s.smsDelay),
	}
	s.balances[c.key] = s.balances[c.key].Sub(price)
	s.stockDelta[p]--
	s.acts[a.id] = a
	s.byKey[c.key] = append(s.byKey[c.key], a)
	heap.Push(&s.expiries, a)
	s.ledger = append(s.ledger, Entry{Time: c.now, Key: c.key, Kind: KindPurchase, ActivationID: a.id, Amount: a.costText, IdempotencyKey: c.idem})
	return jsonResult(http.StatusCreated, s.view(a))
}

// lookup returns the caller's activation c.id, brought up to date.
func (s *Sandbox) lookup(c *call) (*activation, result, bool) {
	a, ok := s.acts[c.id]
	if !ok || a.key != c.key {
		return nil, errResult(http.StatusNotFound, upstream.CodeNotFound, "no such activation"), false
	}
	s.advance(a, c.now)
	return a, result{}, true
}

// get serves GET /activations/{id}.
func (s *Sandbox) get(c *call) result {
	a, res, ok := s.lookup(c)
	if !ok {
		return res
	}
	return jsonResult(http.StatusOK, s.view(a))
}

// ready serves POST /activations/{id}/ready: allowed while the activation is
// open, it changes nothing.
func (s *Sandbox) ready(c *call) result {
	a, res, ok := s.lookup(c)
	if !ok {
		return res
	}
	switch a.status {
	case upstream.StatusWaiting, upstream.StatusReceived, upstream.StatusRetryWaiting:
		return jsonResult(http.StatusOK, s.view(a))
	}
	return invalidState("ready", a)
}

// retry serves POST /activations/{id}/retry: after a code, ask for another.
func (s *Sandbox) retry(c *call) result {
	a, res, ok := s.lookup(c)
	if !ok {
		return res
	}
	switch a.status {
	case upstream.StatusReceived:
		a.status = upstream.StatusRetryWaiting
		a.due = c.now.UTC().Add(s.smsDelay)
		return jsonResult(http.StatusOK, s.view(a))
	case upstream.StatusRetryWaiting:
		return jsonResult(http.StatusOK, s.view(a))
	}
	return invalidState("retry", a)
}

// complete serves POST /activations/{id}/complete.
func (s *Sandbox) complete(c *call) result {
	a, res, ok := s.lookup(c)
	if !ok {
		return res
	}
	switch a.status {
	case upstream.StatusReceived, upstream.StatusRetryWaiting:
		s.end(a, upstream.StatusCompleted)
		return jsonResult(http.StatusOK, s.view(a))
	}
	return invalidState("complete", a)
}

// cancel serves POST /activations/{id}/cancel: before any SMS, with a full
// refund.
func (s *Sandbox) cancel(c *call) result {
	a, res, ok := s.lookup(c)
	if !ok {
		return res
	}
	if a.status != upstream.StatusWaiting {
		return invalidState("cancel", a)
	}
	s.end(a, upstream.StatusCancelled)
	s.refund(a, c.now, c.idem)
	return jsonResult(http.StatusOK, s.view(a))
}

func invalidState(op string, a *activation) result {
	return errResult(http.StatusConflict, upstream.CodeInvalidState, fmt.Sprintf("cannot %s an activation in status %s", op, a.status))
}

// list serves GET /activations?status=ACTIVE&limit=&cursor=: the caller's
// open activations, oldest first.
func (s *Sandbox) list(c *call) result {
	if st := c.query["status"]; len(st) != 1 || st[0] != "ACTIVE" {
		return errResult(http.StatusBadRequest, upstream.CodeValidation, "status must be ACTIVE")
	}
	limit := 100
	if v := c.query["limit"]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > 1000 {
			return errResult(http.StatusBadRequest, upstream.CodeValidation, "limit must be 1..1000")
		}
		limit = n
	}
	all := s.byKey[c.key]
	start := 0
	if v := c.query["cursor"]; len(v) > 0 {
		n, ok := parseCursor(v[0])
		if !ok || n > len(all) {
			return errResult(http.StatusBadRequest, upstream.CodeValidation, "bad cursor")
		}
		start = n
	}
	page := upstream.ActivationList{Activations: []upstream.Activation{}}
	for i := start; i < len(all); i++ {
		a := all[i]
		s.advance(a, c.now)
		if !open(a.status) {
			continue
		}
		if len(page.Activations) == limit {
			next := formatCursor(i)
			page.NextCursor = &next
			break
		}
		page.Activations = append(page.Activations, s.view(a))
	}
	return jsonResult(http.StatusOK, page)
}

func open(st upstream.Status) bool {
	return st == upstream.StatusWaiting || st == upstream.StatusReceived || st == upstream.StatusRetryWaiting
}

// A cursor is the position in the key's activations where the next page
// starts, base64url-encoded so that callers treat it as opaque.
func formatCursor(i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.Itoa(i)))
}

func parseCursor(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'p' {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// advance brings a to its state at now: SMS that arrived, then the expiry.
func (s *Sandbox) advance(a *activation, now time.Time) {
	for {
		switch a.status {
		case upstream.StatusWaiting, upstream.StatusRetryWaiting:
			if !a.due.IsZero() && a.due.Before(a.expires) && !now.Before(a.due) {
				a.codes++
				a.code = s.smsCode(a)
				a.text = fmt.Sprintf("Your %s verification code is %s", s.cat.services[a.offer.service].Name, a.code)
				a.status = upstream.StatusReceived
				a.due = time.Time{}
				continue
			}
			if now.Before(a.expires) {
				return
			}
			if a.status == upstream.StatusWaiting {
				s.end(a, upstream.StatusExpired)
				s.refund(a, a.expires, "")
			} else {
				s.end(a, upstream.StatusCompleted)
			}
		case upstream.StatusReceived:
			if !now.Before(a.expires) {
				s.end(a, upstream.StatusCompleted)
			}
		}
		return
	}
}

// end puts a into a final status and its number back in stock.
func (s *Sandbox) end(a *activation, st upstream.Status) {
	a.status = st
	a.due = time.Time{}
	if s.stockDelta[a.offer]++; s.stockDelta[a.offer] == 0 {
		delete(s.stockDelta, a.offer)
	}
}

// refund gives the price of a back to its key.
func (s *Sandbox) refund(a *activation, at time.Time, idem string) {
	s.balances[a.key] = s.balances[a.key].Add(a.cost)
	s.ledger = append(s.ledger, Entry{Time: at, Key: a.key, Kind: KindRefund, ActivationID: a.id, Amount: a.costText, IdempotencyKey: idem})
}

// sweep brings every activation whose expiry has come to its final state, so
// that expiry refunds show without polling them.
func (s *Sandbox) sweep(now time.Time) {
	for s.expiries.Len() > 0 && !now.Before(s.expiries[0].expires) {
		s.advance(heap.Pop(&s.expiries).(*activation), now)
	}
	s.purgeIdempotency(now)
}

// smsCode is the 6-digit code of a's latest SMS: a hash of the ID and the
// SMS count, never equal to the code before it.
func (s *Sandbox) smsCode(a *activation) string {
	n := fnv64a(a.id, "#", strconv.Itoa(a.codes)) % 1000000
	code := fmt.Sprintf("%06d", n)
	if code == a.code {
		code = fmt.Sprintf("%06d", (n+1)%1000000)
	}
	return code
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newID returns an unused cuid-like ID: "c" and 24 lower-case letters and
// digits.
func (s *Sandbox) newID() string {
	for {
		b := make([]byte, 25)
		b[0] = 'c'
		for i := 1; i < len(b); i++ {
			b[i] = idAlphabet[s.rnd.IntN(len(idAlphabet))]
		}
		if _, taken := s.acts[string(b)]; !taken {
			return string(b)
		}
	}
}

// newPhone returns a number of country ci: its calling code and a national
// number that does not start with 0 or 1, 11 to 13 digits in all.
func (s *Sandbox) newPhone(ci int) string {
	cc := s.cat.callingCodes[ci]
	n := 10
	switch len(cc) {
	case 3:
		n = 9
	case 4:
		n = 7
	}
	b := make([]byte, 0, len(cc)+n)
	b = append(b, cc...)
	b = append(b, byte('2'+s.rnd.IntN(8)))
	for i := 1; i < n; i++ {
		b = append(b, byte('0'+s.rnd.IntN(10)))
	}
	return string(b)
}

// view is the JSON form of a.
func (s *Sandbox) view(a *activation) upstream.Activation {
	v := upstream.Activation{
		ID:          a.id,
		PhoneNumber: a.phone,
		Status:      a.status,
		UserCost:    upstream.Decimal(a.costText),
		ServiceCode: s.cat.services[a.offer.service].Code,
		CountryISO:  s.cat.countries[a.offer.country].ISO,
		CreatedAt:   a.created,
		ExpiresAt:   a.expires,
	}
	if a.codes > 0 {
		code, text := a.code, a.text
		v.SMSCode, v.SMSText = &code, &text
	}
	return v
}

// expiryHeap orders activations by expiry.
type expiryHeap []*activation

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(*activation)) }
func (h *expiryHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return a
}
