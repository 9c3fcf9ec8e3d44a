package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// This file extracts the request and response examples of the Telemetron spec
// (/work/shared/specs/telemetron-api-v2.txt, an export of an API Blueprint page)
// for conformance_test.go. The export's layout per example is:
//
//	GET https://api.telemetron.net/v2/vending_machines/123/events?since=…
//	Requests<tab titles>          (only when there are request bodies)
//	Body / {request}              (optional) then Schema / {json schema} (optional)
//	Responses200422               (the statuses, run together)
//	Headers / Content-Type: … / Body / {response}   one per status, or
//	This response has no content.
//	… further Body/Responses groups for further request examples …
//	<title> / GET/v2/vending_machines/{vm_id}/events{?since,until,local}
//
// Many bodies are not JSON (PHP "=>" arrays, unquoted keys, missing or
// trailing commas, comments, '…' strings, <placeholders>), so they are read
// with the tolerant parser below.

// specPath finds the spec: ../shared/specs relative to the repository root
// (the directory holding go.mod).
func specPath(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("conformance: repository root (go.mod) not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "specs", "telemetron-api-v2.txt")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("conformance: spec not found at %s (it lives outside the repository): %v", p, err)
	}
	return p
}

// specResponse is one documented response.
type specResponse struct {
	Status int
	Body   any // nil when the spec shows no content
	Line   int // 1-based line of its "Body"
}

// specExample is one request example of the spec with its responses.
type specExample struct {
	Method   string
	URL      string // path and query of the example, e.g. /v2/modems/123
	Template string // the route as the spec titles it, e.g. /v2/modems/{id}
	Line     int    // line of the example request
	Request  any    // request body, nil when none
	Resps    []specResponse
}

var (
	exampleRe  = regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH)[\s\x{00A0}]+https://api\.telemetron\.net(/.*)$`)
	templateRe = regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH)(/\S*)$`)
	statusesRe = regexp.MustCompile(`^Responses((?:[1-5][0-9][0-9])+)$`)
)

// parseSpecExamples reads every example of the spec text.
func parseSpecExamples(text string) ([]specExample, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var (
		out      []specExample
		cur      []specExample // examples of the current block (one per request body)
		method   string
		url      string
		line     int
		statuses []int
		next     int // index into statuses of the next response
	)
	flush := func(template string) {
		for _, ex := range cur {
			ex.Template = template
			out = append(out, ex)
		}
		cur, method = nil, ""
	}
	current := func() *specExample {
		if len(cur) == 0 {
			cur = append(cur, specExample{Method: method, URL: url, Line: line})
		}
		return &cur[len(cur)-1]
	}
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if m := exampleRe.FindStringSubmatch(l); m != nil {
			cur, method, url, line, statuses, next = nil, m[1], m[2], i+1, nil, 0
			continue
		}
		if method == "" {
			continue
		}
		if m := templateRe.FindStringSubmatch(l); m != nil {
			if m[1] != method {
				return nil, fmt.Errorf("line %d: template %s after a %s example", i+1, l, method)
			}
			flush(m[2])
			continue
		}
		if m := statusesRe.FindStringSubmatch(l); m != nil {
			statuses, next = nil, 0
			for j := 0; j+3 <= len(m[1]); j += 3 {
				n, _ := strconv.Atoi(m[1][j : j+3])
				statuses = append(statuses, n)
			}
			current()
			continue
		}
		switch l {
		case "This response has no content.":
			if next < len(statuses) {
				ex := current()
				ex.Resps = append(ex.Resps, specResponse{Status: statuses[next], Line: i + 1})
				next++
			}
		case "Schema", "Body":
			block, end, err := readBlock(lines, i+1)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			bodyLine := i + 1
			i = end
			if l == "Schema" {
				continue
			}
			v, err := parseLoose(block)
			if err != nil {
				return nil, fmt.Errorf("line %d: body: %w", bodyLine, err)
			}
			if next < len(statuses) {
				ex := current()
				ex.Resps = append(ex.Resps, specResponse{Status: statuses[next], Body: v, Line: bodyLine})
				next++
				continue
			}
			// A body outside a Responses group is the request of a new example.
			if len(cur) > 0 && cur[len(cur)-1].Request == nil && len(cur[len(cur)-1].Resps) == 0 {
				cur[len(cur)-1].Request = v
			} else {
				cur = append(cur, specExample{Method: method, URL: url, Line: bodyLine, Request: v})
			}
			statuses, next = nil, 0
		}
	}
	return out, nil
}

// readBlock returns the bracket-balanced text starting at the first non-empty
// line from start, and the index of its last line. Bodies hold no blank line,
// so one ends an unbalanced body; the spec's one such body (line ~2162) closes
// with "{" for "}", which is mended.
func readBlock(lines []string, start int) (string, int, error) {
	var body []string
	depth, list := 0, false
	for i := start; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			if len(body) == 0 {
				continue
			}
			if list && depth == 0 {
				return "[" + strings.Join(body, "\n") + "]", i - 1, nil
			}
			last := len(body) - 1
			if depth == 2 && strings.TrimSpace(body[last]) == "{" {
				body[last] = "}"
				return strings.Join(body, "\n"), i - 1, nil
			}
			return "", i, errors.New("unterminated body")
		}
		if list && depth == 0 && !strings.HasPrefix(strings.TrimSpace(l), "{") {
			return "[" + strings.Join(body, "\n") + "]", i - 1, nil
		}
		if len(body) == 0 {
			if c := strings.TrimSpace(l)[0]; c != '{' && c != '[' {
				// Not JSON (the planograms example's "?full=1"): one line, a string.
				return strconv.Quote(strings.TrimSpace(l)), i, nil
			}
		}
		body = append(body, l)
		inStr := byte(0)
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case inStr != 0:
				if c == '\\' {
					j++
				} else if c == inStr {
					inStr = 0
				}
			case c == '"' || c == '\'':
				inStr = c
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
			}
		}
		// "},\n{" at depth 0: a list whose brackets the spec left out
		// (products/{id}/components); it runs to the next blank line.
		if depth <= 0 && strings.HasSuffix(strings.TrimSpace(l), ",") {
			list = true
			continue
		}
		if depth <= 0 && !list {
			return strings.Join(body, "\n"), i, nil
		}
	}
	return "", len(lines), errors.New("unterminated body")
}

// --- tolerant parser ---

type looseParser struct {
	s   string
	pos int
}

// parseLoose parses the spec's JSON-like bodies into the types encoding/json
// gives with UseNumber.
func parseLoose(s string) (any, error) {
	p := &looseParser{s: s}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("trailing text at %d: %.20q", p.pos, p.s[p.pos:])
	}
	return v, nil
}

func (p *looseParser) space() {
	for p.pos < len(p.s) {
		switch {
		case strings.HasPrefix(p.s[p.pos:], "/*"):
			end := strings.Index(p.s[p.pos+2:], "*/")
			if end < 0 {
				p.pos = len(p.s)
				return
			}
			p.pos += end + 4
		case strings.HasPrefix(p.s[p.pos:], "//"):
			end := strings.IndexByte(p.s[p.pos:], '\n')
			if end < 0 {
				p.pos = len(p.s)
				return
			}
			p.pos += end
		case strings.ContainsRune(" \t\r\n", rune(p.s[p.pos])):
			p.pos++
		default:
			return
		}
	}
}

func (p *looseParser) peek() byte {
	p.space()
	if p.pos >= len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

// sep consumes ':' or '=>' and reports whether there was one.
func (p *looseParser) sep() bool {
	p.space()
	if strings.HasPrefix(p.s[p.pos:], "=>") {
		p.pos += 2
		return true
	}
	if p.pos < len(p.s) && p.s[p.pos] == ':' {
		p.pos++
		return true
	}
	return false
}

func (p *looseParser) value() (any, error) {
	switch c := p.peek(); {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"' || c == '\'':
		return p.str()
	case c == '<':
		end := strings.IndexByte(p.s[p.pos:], '>')
		if end < 0 {
			return nil, fmt.Errorf("unterminated <placeholder> at %d", p.pos)
		}
		v := p.s[p.pos : p.pos+end+1]
		p.pos += end + 1
		return v, nil
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && strings.IndexByte("0123456789.eE+-", p.s[p.pos]) >= 0 {
			p.pos++
		}
		n := json.Number(p.s[start:p.pos])
		if _, err := n.Float64(); err != nil {
			return nil, fmt.Errorf("bad number %q", n)
		}
		return n, nil
	default:
		w := p.ident()
		switch w {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		}
		return nil, fmt.Errorf("unexpected %.20q at %d", p.s[p.pos:], p.pos)
	}
}

func (p *looseParser) ident() string {
	p.space()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9' && p.pos > start) {
			p.pos++
			continue
		}
		break
	}
	return p.s[start:p.pos]
}

func (p *looseParser) str() (string, error) {
	q := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\\' && p.pos < len(p.s):
			e := p.s[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if p.pos+4 <= len(p.s) {
					if r, err := strconv.ParseUint(p.s[p.pos:p.pos+4], 16, 32); err == nil {
						b.WriteRune(rune(r))
						p.pos += 4
						continue
					}
				}
				b.WriteString(`\u`)
			default: // \" \\ \/ and the spec's stray "\ "
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated string")
}

// member reads "key sep value". A bare string with " : " inside and no
// separator after it (the spec's `"tz_id : 109",`) is split into key and value.
func (p *looseParser) member() (string, any, error) {
	var key string
	if c := p.peek(); c == '"' || c == '\'' {
		k, err := p.str()
		if err != nil {
			return "", nil, err
		}
		key = k
	} else {
		key = p.ident()
		if key == "" {
			return "", nil, fmt.Errorf("expected a key at %d: %.20q", p.pos, p.s[p.pos:])
		}
	}
	if !p.sep() {
		if k, v, ok := strings.Cut(key, " : "); ok {
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return k, json.Number(v), nil
			}
			return k, v, nil
		}
		return "", nil, fmt.Errorf("expected : after key %q", key)
	}
	v, err := p.value()
	return key, v, err
}

func (p *looseParser) object() (any, error) {
	p.pos++ // {
	obj := map[string]any{}
	for {
		switch p.peek() {
		case '}':
			p.pos++
			return obj, nil
		case ',':
			p.pos++
			continue
		case 0:
			return nil, errors.New("unterminated object")
		}
		k, v, err := p.member()
		if err != nil {
			return nil, err
		}
		obj[k] = v
	}
}

// array reads [...]; PHP's ["k" => v, ...] becomes an object.
func (p *looseParser) array() (any, error) {
	p.pos++ // [
	var arr []any
	obj := map[string]any{}
	assoc := false
	for {
		switch p.peek() {
		case ']':
			p.pos++
			if assoc {
				return obj, nil
			}
			if arr == nil {
				arr = []any{}
			}
			return arr, nil
		case ',':
			p.pos++
			continue
		case 0:
			return nil, errors.New("unterminated array")
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if k, ok := v.(string); ok && p.sep() {
			val, err := p.value()
			if err != nil {
				return nil, err
			}
			assoc = true
			obj[k] = val
			continue
		}
		arr = append(arr, v)
	}
}
