package bench

import (
	"math"
	"testing"
)

func TestComposedLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rates []float64
		want  float64
	}{
		{"one leg", []float64{1000}, 1000},
		{"two equal legs halve", []float64{1000, 1000}, 500},
		// The figures: 105k consume, 43.5k batched store, 105k
		// consume, 86k publish give about 18.7k.
		{"fsync figures", []float64{105000, 43500, 105000, 86000}, 18660},
		{"unknown leg", []float64{1000, 0, 1000}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := composedLimit(tc.rates...)
			if math.Abs(got-tc.want) > 0.01*tc.want+1e-9 {
				t.Fatalf("composedLimit(%v) = %.1f, want %.1f", tc.rates, got, tc.want)
			}
		})
	}
}

func TestResultLimitUsesTheModesStoreLeg(t *testing.T) {
	r := benchResult{RawPartnerConsumePerS: 100, RawBatchedPerS: 50, RawAsyncPerS: 100, RawIngestConsumePerS: 100, RawERPPublishPerS: 100}
	r.RawStore = "batched"
	if got, want := r.limit(), composedLimit(100, 50, 100, 100); got != want {
		t.Fatalf("fsync limit %.2f, want %.2f", got, want)
	}
	r.RawStore = "async"
	if got, want := r.limit(), 25.0; got != want {
		t.Fatalf("relaxed limit %.2f, want %.2f", got, want)
	}
}
