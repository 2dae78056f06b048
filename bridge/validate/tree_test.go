package validate

import (
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// TestTapeReaderReadsTypicalEvents: the tape way is the one valid traffic
// takes; were the reader to refuse ordinary events, everything would go
// the slow way and only the benchmark would notice.
func TestTapeReaderReadsTypicalEvents(t *testing.T) {
	events := []string{benchEvent, `{"a":"\u00fc\n\"q\"\\","b":[1,-0.5,2e10,true,false,null],"c":{}}`, `  [] `}
	for _, s := range shippedSamples() {
		events = append(events, s)
	}
	for _, e := range events {
		var r jsontext.TapeReader
		if r.Read([]byte(e)) == nil {
			t.Errorf("the tape reader refuses %s", e)
		}
	}
}
