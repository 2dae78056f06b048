package app

import (
	"io/fs"
	"strings"
	"testing"
)

func TestParseCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		ok      bool
		wantErr bool
	}{
		{in: "max\n"},
		{in: "536870912\n", want: 536870912, ok: true},
		{in: "  268435456  ", want: 268435456, ok: true},
		{in: "9223372036854771712\n"}, // cgroup v1: no limit
		{in: "0"},
		{in: "", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
	} {
		got, ok, err := parseCgroupLimit(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want || ok != tc.ok {
			t.Errorf("parseCgroupLimit(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, got, ok, err, tc.want, tc.ok, tc.wantErr)
		}
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	files := []string{"v2", "v1"}
	for _, tc := range []struct {
		name     string
		contents map[string]string
		want     int64
		from     string
		wantErr  string
	}{
		{name: "v2 limit", contents: map[string]string{"v2": "1073741824\n", "v1": "5"}, want: 1 << 30, from: "v2"},
		{name: "v2 without limit wins over v1", contents: map[string]string{"v2": "max\n", "v1": "1073741824"}},
		{name: "v1 when there is no v2", contents: map[string]string{"v1": "536870912\n"}, want: 512 << 20, from: "v1"},
		{name: "v1 unlimited", contents: map[string]string{"v1": "9223372036854771712\n"}},
		{name: "no cgroup files", contents: map[string]string{}},
		{name: "garbage names the file", contents: map[string]string{"v2": "many\n"}, wantErr: "v2:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(name string) ([]byte, error) {
				s, ok := tc.contents[name]
				if !ok {
					return nil, fs.ErrNotExist
				}
				return []byte(s), nil
			}
			got, from, err := cgroupMemoryLimit(read, files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || from != tc.from {
				t.Fatalf("got %d from %q, %v; want %d from %q", got, from, err, tc.want, tc.from)
			}
		})
	}
}

func TestSoftMemoryLimitIsNinetyPercent(t *testing.T) {
	if got := softMemoryLimit(1000 << 20); got != 900<<20 {
		t.Fatalf("soft limit of 1000 MiB = %d, want %d", got, 900<<20)
	}
}
