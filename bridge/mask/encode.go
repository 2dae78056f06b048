package mask

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// Append writes v, a tree of map[string]any, []any, string, Masked,
// json.Number, float64, bool and nil, as compact JSON with sorted keys.
// It exists because encoding/json's reflection costs as much as the
// whole validation of an event.
func Append(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case string:
		return jsontext.AppendString(dst, x)
	case Masked:
		return jsontext.AppendString(dst, string(x))
	case json.Number:
		return append(dst, x...)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = Append(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		var buf [32]string
		keys := buf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsontext.AppendString(dst, k)
			dst = append(dst, ':')
			dst = Append(dst, x[k])
		}
		return append(dst, '}')
	}
	// Not produced by the decoder; encoding/json knows what to do.
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}
