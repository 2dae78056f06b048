package validate

import (
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// gen draws choices from fuzz input; past its end every choice is 0.
type gen struct {
	b []byte
	i int
}

func (g *gen) n(k int) int {
	if g.i >= len(g.b) || k <= 1 {
		g.i++
		return 0
	}
	v := int(g.b[g.i]) % k
	g.i++
	return v
}

func (g *gen) pick(s ...string) string { return s[g.n(len(s))] }

var (
	genNames   = []string{"a", "b", "id", "x-y", "é"}
	genStrings = []string{"", "a", "abc", "2026-11-23T10:00:00Z", "2026-11-23", "x@y.example", "DE89", "é€", "12:00:00Z"}
	genNumbers = []string{"0", "-1", "1", "1.5", "2", "10", "1e2", "-0", "0.1", "100", "3.0", "1e400", "123456789012345678901"}
)

// schema writes a random schema of the keywords the fast path knows,
// sometimes with one it does not, depth levels deep at most.
func (g *gen) schema(depth int) string {
	if depth <= 0 || g.n(4) == 0 {
		return g.pick(`true`, `false`, `{}`, `{"type":"string"}`, `{"type":"integer"}`, `{"type":["number","null"]}`, `{"$ref":"#/$defs/d"}`)
	}
	var kw []string
	add := func(k, v string) { kw = append(kw, strconv.Quote(k)+":"+v) }
	for range g.n(5) + 1 {
		switch g.n(22) {
		case 0:
			add("type", g.pick(`"object"`, `"array"`, `"string"`, `"number"`, `"integer"`, `"boolean"`, `"null"`, `["string","integer"]`, `["object","array"]`))
		case 1:
			add("enum", "["+g.pick(`"a"`, `"abc"`, `1`, `null`, `true`)+","+g.pick(`""`, `"é€"`, `2`, `1.0`, `false`)+"]")
		case 2:
			add("const", g.pick(`"a"`, `1`, `null`, `false`, `1.5`, `{"a":1}`))
		case 3:
			add("required", `["`+g.pick(genNames...)+`"]`)
		case 4:
			add("properties", `{"`+g.pick(genNames...)+`":`+g.schema(depth-1)+`,"`+g.pick(genNames...)+`":`+g.schema(depth-1)+`}`)
		case 5:
			add("additionalProperties", g.schema(depth-1))
		case 6:
			add("patternProperties", `{"`+g.pick("^a", "b$", "^[0-9]+$", ".", "^x-")+`":`+g.schema(depth-1)+`}`)
		case 7:
			add(g.pick("minProperties", "maxProperties"), strconv.Itoa(g.n(3)))
		case 8:
			add("items", g.schema(depth-1))
		case 9:
			add("prefixItems", "["+g.schema(depth-1)+"]")
		case 10:
			add(g.pick("minItems", "maxItems"), strconv.Itoa(g.n(3)))
		case 11:
			add(g.pick("minLength", "maxLength"), strconv.Itoa(g.n(4)))
		case 12:
			add("pattern", strconv.Quote(g.pick("^a", "c$", "^[A-Z]{2}[0-9]{2}", "é", "^.{2,3}$", "[0-9]")))
		case 13:
			add("format", g.pick(`"date-time"`, `"date"`, `"email"`, `"time"`, `"uuid"`, `"ipv4"`, `"uri"`))
		case 14:
			add(g.pick("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"), g.pick(genNumbers...))
		case 15:
			add("allOf", "["+g.schema(depth-1)+","+g.schema(depth-1)+"]")
		case 16:
			add("anyOf", "["+g.schema(depth-1)+","+g.schema(depth-1)+"]")
		case 17:
			add("$ref", `"#/$defs/d"`)
		case 18:
			// Keywords outside the fast path's subset: the schema must then
			// have none, or still agree.
			add(g.pick("not", "if", "contains", "propertyNames"), g.schema(depth-1))
		case 19:
			add(g.pick("uniqueItems", "multipleOf", "oneOf", "dependentRequired"), g.pick(`true`, `2`, `[{}, {"type":"string"}]`, `{"a":["b"]}`))
		case 20:
			add("type", `"integer"`)
			add("maximum", g.pick(genNumbers...))
		default:
			add("additionalProperties", "false")
		}
	}
	return "{" + strings.Join(kw, ",") + "}"
}

// doc writes a random JSON document of the generator's names and values.
func (g *gen) doc(depth int) string {
	switch k := g.n(8); {
	case depth <= 0 || k < 3:
		switch g.n(4) {
		case 0:
			return strconv.Quote(g.pick(genStrings...))
		case 1:
			return g.pick(genNumbers...)
		default:
			return g.pick("true", "false", "null")
		}
	case k < 6:
		var m []string
		seen := map[string]bool{}
		for range g.n(4) {
			name := g.pick(genNames...)
			if !seen[name] {
				seen[name] = true
				m = append(m, strconv.Quote(name)+":"+g.doc(depth-1))
			}
		}
		return "{" + strings.Join(m, ",") + "}"
	default:
		var a []string
		for range g.n(4) {
			a = append(a, g.doc(depth-1))
		}
		return "[" + strings.Join(a, ",") + "]"
	}
}

// FuzzFastPathGeneratedSchemas: for schemas an operator could load, not
// only the shipped ones, the fast path accepts only what the library
// accepts. Schema and document are both drawn from the fuzz input.
func FuzzFastPathGeneratedSchemas(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []byte{0, 1, 2, 3})
	f.Add([]byte{4, 9, 4, 0, 0, 14, 2, 3}, []byte{3, 0, 1, 1, 2})
	f.Add([]byte{5, 20, 3, 11, 1, 12, 3}, []byte{200, 100, 50, 25})
	f.Fuzz(func(t *testing.T, schemaSeed, docSeed []byte) {
		checkGenerated(t, schemaSeed, docSeed)
	})
}

// TestFastPathGeneratedSchemas runs the property over a fixed sweep of
// seeds, so every test run covers a few thousand generated schemas.
func TestFastPathGeneratedSchemas(t *testing.T) {
	fastSchemas, fastAccepted := 0, 0
	for i := range 1500 {
		s := []byte(strconv.Itoa(i*7919) + strconv.Itoa(i*104729) + strconv.Itoa(i))
		for j := range s {
			s[j] = s[j]*31 + byte(i)
		}
		hasFast, accepted := checkGenerated(t, s, []byte(strconv.Itoa(i*31337)+"xyz"+strconv.Itoa(i)))
		if hasFast {
			fastSchemas++
		}
		if accepted {
			fastAccepted++
		}
	}
	if fastSchemas < 300 || fastAccepted < 60 {
		t.Fatalf("the sweep reached the fast path too rarely: %d schemas with one, %d documents it accepted", fastSchemas, fastAccepted)
	}
	t.Logf("%d generated schemas had a fast path; it accepted %d documents", fastSchemas, fastAccepted)
}

func checkGenerated(t *testing.T, schemaSeed, docSeed []byte) (hasFast, accepted bool) {
	g := &gen{b: schemaSeed}
	defs := `{"$defs":{"d":` + g.schema(2) + `}`
	body := defs + `,"allOf":[` + g.schema(3) + `]}`
	if root := g.schema(3); strings.HasPrefix(root, "{") && root != "{}" {
		body = defs + "," + root[1:] // its keywords beside $defs, at the root
	}
	reg, err := LoadFS(fstest.MapFS{"gen.v1.json": {Data: []byte(body)}}, "gen")
	if err != nil {
		return false, false // not a schema the bridge would load
	}
	s, _ := reg.Lookup("gen")
	if !s.HasFastPath() {
		return false, false
	}
	d := &gen{b: docSeed}
	payload := []byte(d.doc(3))
	var r jsontext.TapeReader
	tp, err := r.Read(payload)
	if err != nil {
		return true, false
	}
	if !s.fast.valid(tp, 0, &walkScratch{}) {
		return true, false
	}
	if err := s.Validate(tp.Value(0)); err != nil {
		t.Fatalf("schema %s\ndocument %s\nthe fast path accepts what the library rejects: %v", body, payload, err)
	}
	return true, true
}
