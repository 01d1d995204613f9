package api

import (
	"math"
	"testing"
)

func TestRounding(t *testing.T) {
	tests := []struct {
		name  string
		round func(float64) float64
		in    float64
		want  float64
	}{
		{name: "ms to a tenth", round: roundMS, in: 1107.8579755584958, want: 1107.9},
		{name: "ms below a second: four digits", round: roundMS, in: 699.362, want: 699.4},
		{name: "ms tens", round: roundMS, in: 23.4567, want: 23.46},
		{name: "ms below one keeps microseconds", round: roundMS, in: 0.812, want: 0.812},
		{name: "ms not finer than a microsecond", round: roundMS, in: 0.0123456, want: 0.012},
		{name: "ms minutes", round: roundMS, in: 61234.5678, want: 61234.6},
		{name: "cost to a millionth", round: roundCost, in: 0.0022458, want: 0.002246},
		{name: "cost of dollars", round: roundCost, in: 12.345678912, want: 12.345679},
		{name: "small cost: four digits", round: roundCost, in: 0.00024165000000000005, want: 0.0002417},
		{name: "tiny cost kept", round: roundCost, in: 6.000000000000001e-07, want: 6e-07},
		{name: "score to four decimals", round: roundScore, in: 10.0 / 3, want: 3.3333},
		{name: "ratio four significant digits", round: roundRatio, in: 2.0 / 3, want: 0.6667},
		{name: "small ratio keeps its digits", round: roundRatio, in: 1.0 / 7000, want: 0.0001429},
		{name: "ratio one", round: roundRatio, in: 1, want: 1},
		{name: "ratio zero", round: roundRatio, in: 0, want: 0},
		{name: "ratio NaN", round: roundRatio, in: math.NaN(), want: 0},
		{name: "signal ms", round: roundSignal("latency_p95_ms"), in: 4012.345, want: 4012.3},
		{name: "signal rate", round: roundSignal("error_rate"), in: 0.123456, want: 0.1235},
		{name: "signal cost", round: roundSignal("cost_usd"), in: 1.23456789, want: 1.234568},
		{name: "signal count", round: roundSignal("total_tokens_per_group"), in: 1234.56789, want: 1234.5679},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.round(tt.in); got != tt.want {
				t.Errorf("round(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if got := roundPtr(nil, roundMS); got != nil {
		t.Errorf("roundPtr(nil) = %v, want nil", *got)
	}
	inf := math.Inf(1)
	if got := roundPtr(&inf, roundMS); got != nil {
		t.Errorf("roundPtr(+Inf) = %v, want nil", *got)
	}
}
