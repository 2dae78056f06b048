package mask

import (
	"github.com/dmzbridge/dmzbridge/bridge/jsontext"
)

// AppendMasked masks the event src for eventType and appends it to dst.
// t is src's tape, as the stage read it, or nil to read it here. Nearly
// every event is masked in its own text along its tape (splicer); what
// the splicer gives up on is masked by Apply on the document built from
// the same tape. Either way the document is the one Apply gives: Apply is
// the reference. src that is not JSON the tape reader takes is written as
// the empty document rather than unmasked (the stage never passes one).
func (p *Policy) AppendMasked(dst []byte, eventType string, src []byte, t *jsontext.Tape) []byte {
	tp := p.forType(eventType)
	s, _ := p.splicers.Get().(*splicer)
	if s == nil {
		s = new(splicer)
	}
	defer func() {
		s.p, s.tp, s.t, s.src, s.out = nil, nil, nil, nil, nil
		s.reader.Release()
		p.splicers.Put(s)
	}()
	if t == nil {
		var err error
		if t, err = s.reader.Read(src); err != nil {
			return append(dst, "null"...)
		}
	}
	if tp.splice {
		*s = splicer{p: p, tp: tp, t: t, src: src, reader: s.reader, str: s.str[:0], name: s.name[:0], texts: s.texts[:0], hits: s.hits[:0]}
		if out, ok := s.splice(dst); ok {
			return out
		}
	}
	return Append(dst, p.Apply(eventType, t.Value(0)))
}
