// Package jsontext reads and writes JSON text by hand where encoding/json's
// reflection would cost as much as the work around it.
//
// TapeReader is the bridge's only reader of partner JSON. It reads an event
// once, in one pass and in time proportional to its length, onto a Tape: a
// flat, pointer-free list of tokens, one per value and member name, each
// with its span in the text and the index where its subtree ends. Every
// later step shares that one reading: the identity rule and the event-type
// lookup read members from it, the schemas' fast path walks it, masking
// splices the text along it, and Tape.Value builds the decoded document
// for the schema library when the fast path is unsure. Because the tape
// holds no pointers, filling it allocates nothing once grown and costs no
// write barrier while the collector marks.
//
// The reader takes only what readers agree on: strict RFC 8259 grammar,
// valid UTF-8, escaped surrogates only in pairs, no member name repeated
// within its object, and Limits on nesting depth and on the length of
// strings, numbers and member names. Anything else is refused with an Error
// that says what and where (byte offset and JSON pointer) but never quotes
// the text, so it can go into a dead-letter header. Nothing is repaired:
// a payload is forwarded exactly as read or not at all.
// FuzzTapeMatchesStdlib holds the reader to encoding/json on every text it
// takes, FuzzTapeLimits to its limits.
//
// The word-at-a-time helpers (SpecialIndex, Plain8, BytesBetween) find a
// string's end and scan free text eight bytes per step; the writers
// (AppendString, AppendUnescaped) write and unescape as encoding/json does.
package jsontext
