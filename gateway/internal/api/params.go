package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds a request body; larger bodies get 413.
const MaxBodyBytes = 1 << 20

// params are a request's parameters. The spec ("Parameters") lets POST/PUT pass
// them in the query string or as a JSON body; /auth also takes a form body. A
// field in the body wins over the same field in the query string.
type params struct {
	body  map[string]json.RawMessage // JSON body fields
	form  url.Values                 // form body fields
	query url.Values
}

// pval is one parameter value: JSON from the body, or text from a query or form.
type pval struct {
	raw  json.RawMessage // set when it came from JSON
	text string          // set when it came from a query string or form
}

func (v pval) isJSON() bool { return v.raw != nil }

// readParams reads the body (JSON object or form, at most MaxBodyBytes) and the
// query string. Unknown fields are kept and simply never asked for: the spec's
// clients send extra fields (client_id on every call, for example).
func readParams(w http.ResponseWriter, r *http.Request) (*params, error) {
	p := &params{query: r.URL.Query()}
	if r.Body == nil || r.Body == http.NoBody {
		return p, nil
	}
	data, err := readBody(http.MaxBytesReader(w, r.Body, MaxBodyBytes), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errStatus(http.StatusRequestEntityTooLarge, SubTooLarge, "Request body too large")
		}
		return nil, errBadRequest("Cannot read the request body")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return p, nil
	}
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return nil, errStatus(http.StatusUnsupportedMediaType, SubMediaType, "Unsupported Content-Type")
		}
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
	case mt == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, errBadRequest("Malformed form body")
		}
		p.form = form
		return p, nil
	case mt == "" && bytes.TrimSpace(data)[0] == '{':
		// No Content-Type but clearly JSON: be lenient with hand-written clients.
	default:
		return nil, errStatus(http.StatusUnsupportedMediaType, SubMediaType, "Request body must be JSON (Content-Type: application/json)")
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	p.body = obj
	return p, nil
}

// readBody is io.ReadAll(body) with a first buffer that fits a small body of
// the declared length (-1: unknown): ReadAll's 512 bytes are twenty times a
// command's body. Longer bodies start at 512 bytes, as with ReadAll, whatever
// length they declare.
func readBody(body io.Reader, declared int64) ([]byte, error) {
	size := 512
	if declared >= 0 && declared < int64(size) {
		size = int(declared) + 1 // room to see the end without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append grow the buffer
		}
	}
}

// decodeObject decodes a JSON object body; anything else is a 400.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	// The common case, a well-formed object, in one pass without a Decoder
	// (its buffer and token machinery). Unmarshal accepts exactly what the
	// Decoder path below accepts (one value, only spaces after it); anything
	// else goes that way for its precise message.
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err == nil && obj != nil {
		return obj, nil
	}
	obj = nil
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&obj); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, errBadRequest("Request body must be a JSON object")
		}
		return nil, errBadRequest("Malformed JSON body")
	}
	if obj == nil { // the body was "null"
		return nil, errBadRequest("Request body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errBadRequest("Malformed JSON body: trailing data")
	}
	return obj, nil
}

// get returns the value of name: body first, then form, then query.
func (p *params) get(name string) (pval, bool) {
	if raw, ok := p.body[name]; ok {
		return pval{raw: raw}, true
	}
	if vs, ok := p.form[name]; ok && len(vs) > 0 {
		return pval{text: vs[0]}, true
	}
	if vs, ok := p.query[name]; ok && len(vs) > 0 {
		return pval{text: vs[0]}, true
	}
	return pval{}, false
}

// has reports whether name was given at all.
func (p *params) has(name string) bool {
	_, ok := p.get(name)
	return ok
}

// Optional typed values: Set when the field was given, Null when it was given as
// null (JSON null, or an empty query value for nullable fields).
type (
	optStr struct {
		Set, Null bool
		V         string
	}
	optInt struct {
		Set, Null bool
		V         int64
	}
	optBool struct {
		Set, Null bool
		V         bool
	}
)

// validator reads typed fields and collects Laravel-style messages per field.
type validator struct {
	p    *params
	errs map[string][]string
}

func newValidator(p *params) *validator { return &validator{p: p} }

// attr is how Laravel names a field in messages ("mm_id" → "mm id").
func attr(field string) string { return strings.ReplaceAll(field, "_", " ") }

func (v *validator) add(field, msg string) {
	if v.errs == nil {
		v.errs = make(map[string][]string)
	}
	v.errs[field] = append(v.errs[field], msg)
}

func (v *validator) failed(field string) bool { return len(v.errs[field]) > 0 }

// err returns the 422 when any field failed.
func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return errValidation(v.errs)
}

func isJSONNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// str reads a string field. JSON must be a string or null.
func (v *validator) str(field string) optStr {
	pv, ok := v.p.get(field)
	if !ok {
		return optStr{}
	}
	if !pv.isJSON() {
		return optStr{Set: true, V: pv.text}
	}
	if isJSONNull(pv.raw) {
		return optStr{Set: true, Null: true}
	}
	var s string
	if err := json.Unmarshal(pv.raw, &s); err != nil {
		v.add(field, "The "+attr(field)+" must be a string.")
		return optStr{}
	}
	return optStr{Set: true, V: s}
}

// integer reads an integer field: a JSON integer, a string holding one (Laravel's
// integer rule accepts "12"), or null.
func (v *validator) integer(field string) optInt {
	pv, ok := v.p.get(field)
	if !ok {
		return optInt{}
	}
	text := pv.text
	if pv.isJSON() {
		if isJSONNull(pv.raw) {
			return optInt{Set: true, Null: true}
		}
		var n json.Number
		var s string
		if json.Unmarshal(pv.raw, &n) == nil {
			text = n.String()
		} else if json.Unmarshal(pv.raw, &s) == nil {
			text = s
		} else {
			v.add(field, "The "+attr(field)+" must be an integer.")
			return optInt{}
		}
	} else if text == "" {
		return optInt{Set: true, Null: true}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
	if err != nil {
		v.add(field, "The "+attr(field)+" must be an integer.")
		return optInt{}
	}
	return optInt{Set: true, V: n}
}

// boolean reads a boolean field: true/false, 0/1, "0"/"1", "true"/"false", or null.
func (v *validator) boolean(field string) optBool {
	pv, ok := v.p.get(field)
	if !ok {
		return optBool{}
	}
	text := pv.text
	if pv.isJSON() {
		if isJSONNull(pv.raw) {
			return optBool{Set: true, Null: true}
		}
		// Each decoding is tried only when the first byte allows it to
		// succeed (a failed Unmarshal costs an error): true/false as a bool,
		// a number or a numeric string as a json.Number, another string.
		var b bool
		var s string
		var n json.Number
		first := firstByte(pv.raw)
		switch {
		case (first == 't' || first == 'f') && json.Unmarshal(pv.raw, &b) == nil:
			return optBool{Set: true, V: b}
		case (first == '"' || first == '-' || ('0' <= first && first <= '9')) && json.Unmarshal(pv.raw, &n) == nil:
			text = n.String()
		case first == '"' && json.Unmarshal(pv.raw, &s) == nil:
			text = s
		default:
			text = "\x00" // not a boolean
		}
	} else if text == "" {
		return optBool{Set: true, Null: true}
	}
	if b, ok := parseBoolText(text); ok {
		return optBool{Set: true, V: b}
	}
	v.add(field, "The "+attr(field)+" field must be true or false.")
	return optBool{}
}

// firstByte is the first byte of raw after JSON whitespace (0: none).
func firstByte(raw json.RawMessage) byte {
	if raw = bytes.TrimLeft(raw, " \t\r\n"); len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func parseBoolText(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// maxLen checks a string's length in characters (Laravel max for strings).
func (v *validator) maxLen(field string, s optStr, max int) {
	if s.Set && !s.Null && len([]rune(s.V)) > max {
		v.add(field, "The "+attr(field)+" may not be greater than "+strconv.Itoa(max)+" characters.")
	}
}

// between checks lo <= n <= hi.
func (v *validator) between(field string, n optInt, lo, hi int64) {
	if n.Set && !n.Null && (n.V < lo || n.V > hi) {
		if hi == math.MaxInt64 {
			v.add(field, "The "+attr(field)+" must be at least "+strconv.FormatInt(lo, 10)+".")
			return
		}
		v.add(field, "The "+attr(field)+" must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10)+".")
	}
}

// required adds the Laravel required message when the field is absent or null.
func (v *validator) required(field string, set, null bool) {
	if (!set || null) && !v.failed(field) {
		v.add(field, "The "+attr(field)+" field is required.")
	}
}

// queryValue is url.ParseQuery(rawQuery).Get(key) without building the map
// (GET /v2/commands/{id}?wait is on every command's long poll): the first
// value of key, "" when absent. Pairs are read exactly as ParseQuery reads
// them: split at '&', a pair with ';' or a bad escape skipped, key and value
// unescaped.
func queryValue(rawQuery, key string) string {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || k != key {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		return v
	}
	return ""
}

// queryBool reads a boolean flag of the query string (local, force): absent is
// false, a bare "?local" is true.
func queryBool(r *http.Request, name string) (bool, error) {
	vs, ok := r.URL.Query()[name]
	if !ok || len(vs) == 0 {
		return false, nil
	}
	if vs[0] == "" {
		return true, nil
	}
	b, ok := parseBoolText(vs[0])
	if !ok {
		return false, errBadRequest("The " + name + " parameter must be 0 or 1.")
	}
	return b, nil
}
