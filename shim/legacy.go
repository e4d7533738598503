package shim

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/smsbulk/smsbulk-shim/translate"
)

// action runs one legacy action for owner, the fingerprint of the request's
// API key, and returns the exact answer body, or an error that the writer
// turns into the legacy code.
type action func(ctx context.Context, req translate.Request, owner string) ([]byte, error)

// handleLegacy serves the legacy endpoint: the method gate, then the
// instrumentation layer around the protocol core.
func (s *Server) handleLegacy() http.Handler {
	return getOrPost(s.instrument(s.serveLegacy()))
}

// getOrPost lets GET and POST through, as the original. HEAD is refused
// too: it must not have effects, and a HEAD getNumber would buy a number.
func getOrPost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// coreHandler is the protocol core as the instrumentation layer calls it:
// an http.Handler that is given its context (the request's, with the
// record and the deadline) instead of reading r.Context(), so that the
// layer need not copy every request with r.WithContext.
type coreHandler func(ctx context.Context, w http.ResponseWriter, r *http.Request)

// serveLegacy is the protocol core: it reads the request, checks the key
// and the action, runs the action and writes the answer, and tells the
// request's record what it did.
func (s *Server) serveLegacy() coreHandler {
	actions := s.actions()
	return func(ctx context.Context, w http.ResponseWriter, r *http.Request) {
		rec := recordFrom(ctx)
		body, err := s.answer(ctx, r, rec, actions)
		code, status := s.write(ctx, w, rec.name(), body, err)
		rec.setResult(code, status, err)
	}
}

// answer runs the action a request asks for.
func (s *Server) answer(ctx context.Context, r *http.Request, rec *record, actions map[translate.Action]action) ([]byte, error) {
	req, err := s.readRequest(r)
	if err != nil {
		return nil, err
	}
	rec.setAction(req.Action)
	rec.setSandbox(s.sandboxKey(req.APIKey))
	if err := translate.CheckAction(req, s.opt.Profile); err != nil {
		return nil, err
	}
	owner := s.opt.Keys.Owner(req.APIKey)
	rec.setOwner(owner)
	if req.Action != translate.GetBalance && req.Action != translate.GetBalanceAndCashBack {
		if err := s.checkKey(ctx, req.APIKey, owner); err != nil {
			return nil, err
		}
	}
	return actions[req.Action](ctx, req, owner)
}

// actions is the table of the legacy actions the shim serves.
func (s *Server) actions() map[translate.Action]action {
	status := s.getActivation(translate.StatusBody, true)
	active := s.getActiveActivations
	top := s.getTopCountries
	return map[translate.Action]action{
		translate.GetBalance:                     s.getBalance,
		translate.GetNumber:                      s.getNumber,
		translate.GetStatus:                      status,
		translate.SetStatus:                      s.setStatus,
		translate.GetNumbersStatus:               s.getNumbersStatus,
		translate.GetPrices:                      s.getPrices,
		translate.GetCountries:                   s.getCountries,
		translate.GetNumberV2:                    s.getNumberV2,
		translate.GetBalanceAndCashBack:          s.getBalance,
		translate.GetActiveActivations:           active,
		translate.GetCurrentActivations:          active,
		translate.GetListOfActiveActivations:     s.getListOfActiveActivations,
		translate.GetTopCountriesByService:       top,
		translate.GetTopCountriesByServiceRank:   top,
		translate.GetListOfTopCountriesByService: top,
		translate.GetOperators:                   s.getOperators,
		translate.GetFullSMS:                     s.getActivation(translate.FullSMSBody, false),
		translate.GetStatusV2:                    s.getActivation(translate.StatusV2Body, true),
		translate.GetServicesList:                s.getServicesList,
		translate.GetPricesExtended:              s.getPricesExtended,
		translate.GetPricesVerification:          s.getPricesVerification,
		translate.GetAvailableServicesByCountry:  s.getAvailableServicesByCountry,
		translate.FinishActivation:               s.setOp(translate.OpComplete),
		translate.CancelActivation:               s.setOp(translate.OpCancel),
	}
}

// readRequest reads the legacy parameters: the query string first, then a
// form body (urlencoded or multipart) on POST, within s.opt.Limits. A
// request over a limit is BAD_ACTION.
func (s *Server) readRequest(r *http.Request) (translate.Request, error) {
	if len(r.URL.RawQuery) > s.opt.Limits.MaxQueryBytes {
		return translate.Request{}, &translate.Error{Code: translate.BadAction}
	}
	var form url.Values
	if r.Method == http.MethodPost && r.Body != nil {
		var err error
		if form, err = s.readForm(r); err != nil {
			return translate.Request{}, &translate.Error{Code: translate.BadAction}
		}
	}
	if form == nil {
		// The poll's path: the query alone, read without a url.Values.
		return translate.ParseQuery(r.URL.RawQuery, s.opt.Limits)
	}
	sources := []url.Values{translate.ParseParams(r.URL.RawQuery), form}
	if err := s.opt.Limits.Check(sources...); err != nil {
		return translate.Request{}, err
	}
	return translate.ParseRequest(sources...), nil
}

// readForm reads a POST body as a form: urlencoded or multipart, bounded by
// Limits.MaxBodyBytes. Other content types are not read (nil, nil).
func (s *Server) readForm(r *http.Request) (url.Values, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, nil
	}
	body := http.MaxBytesReader(nil, r.Body, s.opt.Limits.MaxBodyBytes)
	switch ct {
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		return translate.ParseParams(string(b)), nil
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, errors.New("multipart without boundary")
		}
		r.Body = body
		if err := r.ParseMultipartForm(s.opt.Limits.MaxBodyBytes); err != nil {
			return nil, err
		}
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
			return url.Values(r.MultipartForm.Value), nil
		}
	}
	return nil, nil
}

// write is the one writer: it sends the body of an action, or the legacy
// code of its error. It is the one place where errors become legacy codes
// (translate.Classify's table); an error outside the table is ERROR_SQL and
// is logged here, once. It returns the legacy result code and the HTTP
// status sent.
func (s *Server) write(ctx context.Context, w http.ResponseWriter, action string, body []byte, err error) (string, int) {
	h := w.Header()
	status := http.StatusOK
	if err != nil {
		e, known := translate.Classify(err)
		if !known || e.Code == translate.ErrorSQL {
			level := slog.LevelWarn
			if !known {
				level = slog.LevelError
			}
			s.log.LogAttrs(ctx, level, "legacy request failed",
				slog.String("action", action), slog.String("code", string(e.Code)), slog.String("err", err.Error()))
		}
		if e.Code == translate.RateLimited {
			secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
			if secs <= 0 {
				secs = 60
			}
			h.Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		body, status = e.Body(), e.Code.Status(s.opt.Profile)
	}
	// The header values are shared, read-only slices: setting them
	// allocates nothing.
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		h["Content-Type"] = contentJSON
	} else {
		h["Content-Type"] = contentText
	}
	h["Content-Length"] = contentLength(len(body))
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return resultCode(body), status
}

// contentLength is the Content-Length header value of n bytes: a shared,
// read-only slice for the short answers of polls, a new one otherwise.
func contentLength(n int) []string {
	if n < len(shortLengths) {
		return shortLengths[n]
	}
	return []string{strconv.Itoa(n)}
}

// shortLengths are the Content-Length values of answers shorter than 256
// bytes.
var shortLengths = func() (l [256][]string) {
	for n := range l {
		l[n] = []string{strconv.Itoa(n)}
	}
	return l
}()

var (
	contentJSON = []string{"application/json"}
	contentText = []string{"text/plain; charset=utf-8"}
	noStore     = []string{"no-store"}
)
