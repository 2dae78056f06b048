package jsontext

import "hash/maphash"

// nameTracker finds a member name repeated within one object. Names are
// compared pairwise as they are read, and only within a class of (length,
// first and last byte): event objects have a few dozen members, where
// this beats building a set. Past 64 members an object's names are only
// hashed as they are read, and at its end the hashes are radix-sorted and
// neighbours compared: linear, and sequential in memory, where a hash
// table's probes miss the cache on every name of a large object. The
// reader opens a frame per object; names is a stack, each open object's
// names above its parent's, and so is hashed.
//
// A name is kept as offsets, into the text or, for an escaped name (which
// is compared by its value), into a copy of its value: storing a pointer
// per name costs a write barrier while the collector marks.
type nameTracker struct {
	src     []byte
	frames  []nameFrame
	names   []nameSpan
	copies  []byte   // escaped names' values
	hashed  []uint64 // large objects' names: hash<<32 | index in names
	scratch []uint64 // for the radix sort
	seed    maphash.Seed
	// bound is an upper bound on the text's names (nameBound), or -1
	// until a large object needs it: it then reserves room for them at
	// once rather than growing (and copying) its lists name by name.
	bound int
}

// nameSpan is a name's value, src[start:end] or copies[start:end] when
// copied, and its token.
type nameSpan struct {
	start, end uint32
	tok        uint32
	copied     bool
}

type nameFrame struct {
	seen   uint64 // the classes of its names so far
	start  int    // its first name in names
	copies int    // its first byte in copies
	hashed int    // its first entry in hashed, or -1 while it is small
}

func (t *nameTracker) reset(src []byte) {
	t.bound = -1
	t.frames = t.frames[:0]
	t.src = src
	t.names = t.names[:0]
	t.copies = t.copies[:0]
	t.hashed = t.hashed[:0]
	if t.seed == (maphash.Seed{}) {
		t.seed = maphash.MakeSeed()
	}
}

func (t *nameTracker) bytes(n nameSpan) []byte {
	if n.copied {
		return t.copies[n.start:n.end]
	}
	return t.src[n.start:n.end]
}

// open starts an object's frame.
func (t *nameTracker) open() {
	t.frames = append(t.frames, nameFrame{start: len(t.names), copies: len(t.copies), hashed: -1})
}

// close ends the innermost object's frame and forgets its names. It
// returns the token of a name the object repeats, or -1.
func (t *nameTracker) close() int {
	f := t.frames[len(t.frames)-1]
	dup := -1
	if f.hashed >= 0 {
		dup = t.repeated(t.hashed[f.hashed:])
		t.hashed = t.hashed[:f.hashed]
	}
	t.names = t.names[:f.start]
	t.copies = t.copies[:f.copies]
	t.frames = t.frames[:len(t.frames)-1]
	return dup
}

// name records a name in the innermost object: the raw text
// src[start:end], or value, its unescaped value, when it had escapes; tok
// is its token. It returns false when the object already has the name
// (a large object's repetition is found by close).
func (t *nameTracker) name(start, end int, value []byte, tok int) bool {
	n := nameSpan{start: uint32(start), end: uint32(end), tok: uint32(tok)}
	if value != nil {
		n.start, n.end, n.copied = uint32(len(t.copies)), uint32(len(t.copies)+len(value)), true
		t.copies = append(t.copies, value...)
	}
	k := t.bytes(n)
	f := &t.frames[len(t.frames)-1]
	if f.hashed >= 0 {
		t.hash(len(t.names), k)
		t.names = append(t.names, n)
		return true
	}
	bit := nameClass(k)
	if f.seen&bit != 0 {
		for _, other := range t.names[f.start:] {
			if string(t.bytes(other)) == string(k) {
				return false
			}
		}
	}
	f.seen |= bit
	t.names = append(t.names, n)
	if len(t.names)-f.start > 64 {
		if t.bound < 0 {
			t.bound = nameBound(t.src)
		}
		if cap(t.names) < t.bound {
			t.names = append(make([]nameSpan, 0, t.bound), t.names...)
		}
		if cap(t.hashed) < len(t.hashed)+t.bound {
			t.hashed = append(make([]uint64, 0, len(t.hashed)+t.bound), t.hashed...)
		}
		f.hashed = len(t.hashed)
		for j := f.start; j < len(t.names); j++ {
			t.hash(j, t.bytes(t.names[j]))
		}
	}
	return true
}

// hash records the name at index j in names, whose value is k. The hash
// is seeded per process, so a partner cannot choose names that collide.
func (t *nameTracker) hash(j int, k []byte) {
	t.hashed = append(t.hashed, maphash.Bytes(t.seed, k)>>32<<32|uint64(j))
}

// repeated sorts a large object's hashed names by hash and compares the
// names of equal hashes: the token of a repeated name, or -1.
func (t *nameTracker) repeated(h []uint64) int {
	if cap(t.scratch) < len(h) {
		t.scratch = make([]uint64, len(h))
	}
	tmp := t.scratch[:len(h)]
	for shift := uint(32); shift < 64; shift += 8 { // four passes over the hash's 32 bits
		var count [256]int
		for _, v := range h {
			count[v>>shift&0xff]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, v := range h {
			d := v >> shift & 0xff
			tmp[count[d]] = v
			count[d]++
		}
		h, tmp = tmp, h
	}
	// After an even number of passes the sorted entries are back in h.
	for i := 1; i < len(h); i++ {
		for j := i - 1; j >= 0 && h[j]>>32 == h[i]>>32; j-- {
			a, b := t.names[uint32(h[j])], t.names[uint32(h[i])]
			if string(t.bytes(a)) == string(t.bytes(b)) {
				return int(max(a.tok, b.tok))
			}
		}
	}
	return -1
}

// nameClass is the bit of a name's class among 64, by its length and
// first and last byte.
func nameClass(k []byte) uint64 { return 1 << NameSlot(k) }

// NameSlot is a member name's class among 64, by its length and first
// and last byte: a hash that costs three loads, for looking names up in
// small tables.
func NameSlot(k []byte) uint {
	if len(k) == 0 {
		return 0
	}
	return (uint(len(k))*7 + uint(k[0])*3 + uint(k[len(k)-1])) & 63
}
