package kafka

import (
	"maps"
	"testing"
)

func TestTrackerCommittable(t *testing.T) {
	type step struct {
		op     string // "add" or "ok"/"fail" (settle the i-th added record)
		p      int
		offset int64
		i      int
	}
	add := func(p int, off int64) step { return step{op: "add", p: p, offset: off} }
	ok := func(i int) step { return step{op: "ok", i: i} }
	fail := func(i int) step { return step{op: "fail", i: i} }
	for _, tc := range []struct {
		name  string
		steps []step
		want  map[tp]int64
	}{
		{"nothing stored", []step{add(0, 0), add(0, 1)}, nil},
		{"contiguous prefix", []step{add(0, 0), add(0, 1), add(0, 2), ok(0), ok(1)}, map[tp]int64{{"t", 0}: 1}},
		{"gap holds back later offsets", []step{add(0, 0), add(0, 1), add(0, 2), ok(1), ok(2)}, nil},
		{"gap filled", []step{add(0, 0), add(0, 1), add(0, 2), ok(1), ok(2), ok(0)}, map[tp]int64{{"t", 0}: 2}},
		{"partitions independent", []step{add(0, 5), add(1, 7), add(0, 6), ok(1), ok(0)}, map[tp]int64{{"t", 0}: 5, {"t", 1}: 7}},
		{"failure blocks its partition only", []step{add(0, 0), add(1, 0), add(0, 1), fail(0), ok(2), ok(1)}, map[tp]int64{{"t", 1}: 0}},
		{"offsets with holes (compaction)", []step{add(0, 3), add(0, 9), ok(0), ok(1)}, map[tp]int64{{"t", 0}: 9}},
		{"re-fetch after rebalance never lowers", []step{add(0, 10), add(0, 11), ok(0), ok(1), add(0, 5), ok(2)}, map[tp]int64{{"t", 0}: 11}},
		{"re-fetch pending holds later", []step{add(0, 10), ok(0), add(0, 5), add(0, 12), ok(2)}, map[tp]int64{{"t", 0}: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			var recs []*record
			var parts []int
			for _, s := range tc.steps {
				switch s.op {
				case "add":
					recs = append(recs, tr.add("t", s.p, s.offset))
					parts = append(parts, s.p)
				default:
					tr.settle("t", parts[s.i], recs[s.i], s.op == "ok")
				}
			}
			got := tr.committable()
			if !maps.Equal(got, tc.want) {
				t.Fatalf("committable = %v, want %v", got, tc.want)
			}
			tr.committed(got)
			if again := tr.committable(); len(again) != 0 {
				t.Fatalf("after commit, committable = %v, want nothing", again)
			}
		})
	}
}

func TestTrackerSettleOnceAndFirstFailure(t *testing.T) {
	tr := newTracker()
	a := tr.add("t", 0, 0)
	b := tr.add("t", 0, 1)
	if tr.pendingCount() != 2 {
		t.Fatalf("pending %d, want 2", tr.pendingCount())
	}
	if !tr.settle("t", 0, a, false) {
		t.Fatal("first failure not reported as such")
	}
	if tr.settle("t", 0, a, true) {
		t.Fatal("a second settle of the same record counted")
	}
	if tr.settle("t", 0, b, false) {
		t.Fatal("second failure reported as the first")
	}
	if tr.pendingCount() != 0 || !tr.hasFailed() {
		t.Fatalf("pending %d failed %v", tr.pendingCount(), tr.hasFailed())
	}
	if c := tr.committable(); len(c) != 0 {
		t.Fatalf("failed records made %v committable", c)
	}
}
