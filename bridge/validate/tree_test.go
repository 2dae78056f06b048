package validate

import (
	"testing"

	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// TestTapeReaderReadsTypicalEvents: the reader under its default limits
// takes ordinary events.
func TestTapeReaderReadsTypicalEvents(t *testing.T) {
	events := []string{benchEvent, `{"a":"\u00fc\n\"q\"\\","b":[1,-0.5,2e10,true,false,null],"c":{}}`, `  [] `}
	for _, s := range shippedSamples() {
		events = append(events, s)
	}
	for _, e := range events {
		var r jsontext.TapeReader
		if _, err := r.Read([]byte(e)); err != nil {
			t.Errorf("the tape reader refuses %s: %v", e, err)
		}
	}
}
