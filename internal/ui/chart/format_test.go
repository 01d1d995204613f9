package chart

import (
	"math"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		f    func(float64) string
		in   float64
		want string
	}{
		{"count", FormatCount, 1234567, "1,234,567"},
		{"count zero", FormatCount, 0, "0"},
		{"count small", FormatCount, 999, "999"},
		{"count thousand", FormatCount, 1000, "1,000"},
		{"count negative", FormatCount, -1234, "-1,234"},
		{"count fraction", FormatCount, 2.5, "2.5"},
		{"count huge", FormatCount, 1e12, "1,000,000,000,000"},
		{"count NaN", FormatCount, math.NaN(), "–"},
		{"tokens small", FormatTokens, 950, "950"},
		{"tokens k", FormatTokens, 12345, "12.3k"},
		{"tokens round k", FormatTokens, 12000, "12k"},
		{"tokens M", FormatTokens, 1234567, "1.23M"},
		{"tokens rounds up a suffix", FormatTokens, 999_600, "1M"},
		{"tokens B", FormatTokens, 4.5e9, "4.5B"},
		{"tokens T", FormatTokens, 1.2e12, "1.2T"},
		{"tokens past T", FormatTokens, 2.5e16, "25,000T"},
		{"tokens Inf", FormatTokens, math.Inf(1), "–"},
		{"ms tiny", FormatMillis, 0.42, "0.42 ms"},
		{"ms zero", FormatMillis, 0, "0 ms"},
		{"ms", FormatMillis, 123, "123 ms"},
		{"ms decimals", FormatMillis, 4.56, "4.56 ms"},
		{"ms rounds to s", FormatMillis, 999.7, "1 s"},
		{"s", FormatMillis, 1234, "1.23 s"},
		{"s tens", FormatMillis, 61234, "61.2 s"},
		{"s long", FormatMillis, 3_600_000, "3,600 s"},
		{"usd zero", FormatUSD, 0, "$0"},
		{"usd tiny", FormatUSD, 0.000123, "$0.000123"},
		{"usd nano", FormatUSD, 1e-9, "$0.000000001"},
		{"usd cents", FormatUSD, 0.5, "$0.50"},
		{"usd sub-dollar", FormatUSD, 0.0123, "$0.0123"},
		{"usd dollars", FormatUSD, 12.345, "$12.35"},
		{"usd rounds to a dollar", FormatUSD, 0.9996, "$1.00"},
		{"usd thousands", FormatUSD, 1234, "$1,234"},
		{"usd rounds to thousands", FormatUSD, 999.999, "$1,000"},
		{"usd negative", FormatUSD, -2.5, "-$2.50"},
		{"ratio", FormatRatio, 0.123, "12.3%"},
		{"ratio one", FormatRatio, 1, "100.0%"},
		{"ratio zero", FormatRatio, 0, "0.0%"},
		{"ratio tiny negative", FormatRatio, -0.00001, "0.0%"},
		{"score", FormatScore, 4.25, "4.25"},
		{"score whole", FormatScore, 4, "4"},
		{"score rounds", FormatScore, 3.14159, "3.14"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnitFormat(t *testing.T) {
	tests := []struct {
		u    Unit
		v    float64
		want string
	}{
		{Count, 1500, "1,500"},
		{Tokens, 1500, "1.5k tokens"},
		{Millis, 1500, "1.5 s"},
		{USD, 1500, "$1,500"},
		{Ratio, 0.5, "50.0%"},
		{Score, 4.5, "4.5"},
		{Unit(99), 7, "7"},
	}
	for _, tc := range tests {
		if got := tc.u.Format(tc.v); got != tc.want {
			t.Errorf("Unit(%d).Format(%v) = %q, want %q", tc.u, tc.v, got, tc.want)
		}
	}
}

func TestYAxis(t *testing.T) {
	tests := []struct {
		name       string
		u          Unit
		lo, hi     float64
		yMin, yMax *float64
		want       []string
	}{
		{"counts from zero", Count, 40, 60, nil, nil, []string{"0", "20", "40", "60"}},
		{"all zero counts", Count, 0, 0, nil, nil, []string{"0", "1"}},
		{"no data", Count, math.Inf(1), math.Inf(-1), nil, nil, []string{"0", "1"}},
		{"integer counts", Count, 0, 2, nil, nil, []string{"0", "1", "2"}},
		{"ratio default", Ratio, 0.95, 0.99, nil, nil, []string{"0%", "20%", "40%", "60%", "80%", "100%"}},
		{"ratio zoomed", Ratio, 0.95, 0.99, fp(0.9), fp(1), []string{"90%", "92%", "94%", "96%", "98%", "100%"}},
		{"scores fixed", Score, 3.2, 4.1, fp(1), fp(5), []string{"1", "2", "3", "4", "5"}},
		{"scores free", Score, 3.2, 4.1, nil, nil, []string{"3.2", "3.4", "3.6", "3.8", "4", "4.2"}},
		{"data past a fixed end", Score, 0, 4, fp(1), fp(5), []string{"0", "1", "2", "3", "4", "5"}},
		{"ms to s", Millis, 0, 2400, nil, nil, []string{"0 s", "0.5 s", "1 s", "1.5 s", "2 s", "2.5 s"}},
		{"ms", Millis, 0, 240, nil, nil, []string{"0 ms", "50 ms", "100 ms", "150 ms", "200 ms", "250 ms"}},
		{"usd tiny", USD, 0, 3e-9, nil, nil, []string{"$0", "$0.000000001", "$0.000000002", "$0.000000003"}},
		{"usd cents", USD, 0, 0.37, nil, nil, []string{"$0", "$0.10", "$0.20", "$0.30", "$0.40"}},
		{"usd", USD, 0, 1234, nil, nil, []string{"$0", "$500", "$1,000", "$1,500"}},
		{"tokens huge", Tokens, 0, 1.2e12, nil, nil, []string{"0", "0.5T", "1T", "1.5T"}},
		{"counts k", Count, 0, 23456, nil, nil, []string{"0", "5k", "10k", "15k", "20k", "25k"}},
		{"counts 1.5k", Count, 0, 1234, nil, nil, []string{"0", "500", "1,000", "1,500"}},
		{"negative scores", Score, -3, -1, nil, nil, []string{"-3", "-2.5", "-2", "-1.5", "-1"}},
		{"one value", Score, 4, 4, nil, nil, []string{"3.6", "3.8", "4", "4.2", "4.4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newYAxis(tc.u, tc.lo, tc.hi, tc.yMin, tc.yMax, 4)
			var got []string
			for _, v := range a.ticks {
				got = append(got, a.label(v))
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ticks %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ticks %q, want %q", got, tc.want)
				}
			}
			if tc.lo <= tc.hi && (a.lo > tc.lo || a.hi < tc.hi) {
				t.Errorf("domain [%v, %v] does not hold the data [%v, %v]", a.lo, a.hi, tc.lo, tc.hi)
			}
		})
	}
}

func TestTimeTicks(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		start, end time.Time
		loc        *time.Location
		max        int
		want       []string // label, and "/second line" when there is one
	}{
		{"hour in minutes", monday.Add(10 * time.Hour), monday.Add(11 * time.Hour), time.UTC, 8,
			[]string{"10:00/Mon 13 Oct", "10:10", "10:20", "10:30", "10:40", "10:50", "11:00"}},
		{"day in hours", monday, monday.Add(24 * time.Hour), time.UTC, 8,
			[]string{"00:00/Mon 13 Oct", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "00:00/Tue 14"}},
		{"week in days", monday, monday.Add(7 * 24 * time.Hour), time.UTC, 8,
			[]string{"Mon 13/Oct 2025", "Tue 14", "Wed 15", "Thu 16", "Fri 17", "Sat 18", "Sun 19", "Mon 20"}},
		{"month in weeks", monday, monday.Add(30 * 24 * time.Hour), time.UTC, 8,
			[]string{"Mon 13/Oct 2025", "Mon 20", "Mon 27", "Mon 3/Nov", "Mon 10"}},
		{"year in months", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC, 8,
			[]string{"Jan/2025", "Apr", "Jul", "Oct", "Jan/2026"}},
		{"zone", monday, monday.Add(6 * time.Hour), paris, 8,
			[]string{"02:00/Mon 13 Oct", "03:00", "04:00", "05:00", "06:00", "07:00", "08:00"}},
		{"unaligned start", monday.Add(10*time.Hour + 7*time.Minute), monday.Add(13 * time.Hour), time.UTC, 8,
			[]string{"10:30/Mon 13 Oct", "11:00", "11:30", "12:00", "12:30", "13:00"}},
		{"tiny span", monday, monday.Add(30 * time.Second), time.UTC, 8,
			[]string{"00:00/Mon 13 Oct"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, x := range timeTicks(tc.start, tc.end, tc.loc, tc.max) {
				s := x.label
				if x.second != "" {
					s += "/" + x.second
				}
				got = append(got, s)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestTimeTicksAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// 2 November 2025: 01:00–02:00 local happens twice.
	start := time.Date(2025, 11, 1, 20, 0, 0, 0, ny)
	ticks := timeTicks(start, start.Add(12*time.Hour), ny, 14)
	for i := 1; i < len(ticks); i++ {
		if !ticks[i].t.After(ticks[i-1].t) {
			t.Fatalf("ticks not increasing at %d: %v then %v", i, ticks[i-1].t, ticks[i].t)
		}
	}
	if len(ticks) < 10 {
		t.Errorf("only %d ticks", len(ticks))
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`<script>alert("x") & 'y'</script>`, "&lt;script&gt;alert(&#34;x&#34;) &amp; &#39;y&#39;&lt;/script&gt;"},
		{"a\nb\tc\x00d", "a b c d"},
		{"bad \xff utf8 \uFFFE", "bad \uFFFD utf8 \uFFFD"},
		{"C1 \u0085 control, é and 漢字 kept", "C1   control, é and 漢字 kept"},
	}
	for _, tc := range tests {
		if got := string(appendEscaped(nil, tc.in)); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"  a \n b  ", 10, "a b"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"ééééééé", 4, "ééé…"},
	}
	for _, tc := range tests {
		if got := oneLine(tc.in, tc.n); got != tc.want {
			t.Errorf("oneLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestPathNumbers(t *testing.T) {
	var p pathPen
	p.move(10, 20)
	p.line(10.8, 19.5)
	p.line(12, 25.04)
	p.line(11.9, 25)
	p.dot(3, 4)
	if got, want := string(p.b), "M10 20l.8-.5 1.2 5.5-.1 0M3 4h0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTimeBounds(t *testing.T) {
	if got := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); got != minTime {
		t.Errorf("minTime is %d, want %d", int64(minTime), got)
	}
	if got := time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC).Unix(); got != maxTime {
		t.Errorf("maxTime is %d, want %d", int64(maxTime), got)
	}
}
