package monitor

import (
	"errors"
	"fmt"
	"math"

	"github.com/flowwatch/flowwatch/internal/model"
)

// z95 is the standard normal quantile of 0.975: the z of a two-sided 95%
// interval.
const z95 = 1.959963984540054

// tieTolerance is how close, relative to a threshold's magnitude (and at
// least absolutely), a value counts as equal to the threshold. Averages of
// fractional scores (F1, lexical groundedness) carry floating-point
// rounding; a value that equals its threshold is never a violation.
const tieTolerance = 1e-9

// below reports whether v is strictly below limit, beyond rounding.
func below(v, limit float64) bool {
	return v < limit-tieTolerance*math.Max(1, math.Abs(limit))
}

// above reports whether v is strictly above limit, beyond rounding.
func above(v, limit float64) bool {
	return v > limit+tieTolerance*math.Max(1, math.Abs(limit))
}

// Grade settles an instance against the metric's pass score: a judged
// instance passes when its score is at least passScore; any other instance
// has no score and does not pass. A judged instance whose score is absent,
// not finite (NaN, ±Inf) or outside a known metric's scale becomes an
// error saying so, never a score; an unknown status becomes an error too.
// Aggregate grades every instance the same way; a run stores the graded
// instances so that they agree with its results.
func Grade(inst model.Instance, passScore float64) model.Instance {
	fail := func(format string, args ...any) model.Instance {
		inst.Status = model.InstanceError
		inst.Error = fmt.Sprintf(format, args...)
		inst.Score = nil
		inst.Passed = false
		return inst
	}
	switch inst.Status {
	case model.InstanceJudged:
		if inst.Score == nil {
			return fail("judged without a score")
		}
		v := *inst.Score
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fail("score %v is not a number on the metric's scale", v)
		}
		if info, ok := metricInfo(inst.Metric); ok && !info.inScale(v) {
			return fail("score %s is outside the scale: %s", fnum(v), info.scale())
		}
		inst.Passed = !below(v, passScore)
		return inst
	case model.InstanceNotEvaluable, model.InstanceError:
		inst.Score = nil
		inst.Passed = false
		return inst
	default:
		return fail("unknown instance status %q", inst.Status)
	}
}

// Aggregate computes a quality metric's result over its instances in one
// run, with the metric's thresholds (defaults applied, so PassScore is
// set).
//
// Judged instances (see Grade) give the average score and the pass rate,
// passed / judged, with its 95% Wilson score interval. The result violates
// its thresholds when the pass rate is strictly below MinPassRate or the
// average strictly below MinAverage; a value equal to its threshold does
// not violate it. With nothing judged there is no average, no pass rate and
// no violation: the result has NoData set.
//
// The error is for a caller's mistake: no pass score, or an instance of
// another metric.
func Aggregate(metric string, th model.QualityThreshold, instances []model.Instance) (model.MetricResult, error) {
	if th.PassScore == nil {
		return model.MetricResult{}, fmt.Errorf("quality metric %s: no pass score (defaults not applied)", metric)
	}
	passScore := *th.PassScore
	if math.IsNaN(passScore) {
		return model.MetricResult{}, fmt.Errorf("quality metric %s: pass score is NaN", metric)
	}
	r := model.MetricResult{
		Metric:      metric,
		PassScore:   passScore,
		MinPassRate: copyPtr(th.MinPassRate),
		MinAverage:  copyPtr(th.MinAverage),
	}
	var sum float64
	for _, inst := range instances {
		if inst.Metric != metric {
			return model.MetricResult{}, fmt.Errorf("quality metric %s: instance of trace %s is for metric %q", metric, inst.TraceID, inst.Metric)
		}
		g := Grade(inst, passScore)
		switch g.Status {
		case model.InstanceJudged:
			r.Judged++
			sum += *g.Score
			if g.Passed {
				r.Passed++
			}
		case model.InstanceNotEvaluable:
			r.NotEvaluable++
		default:
			r.Errors++
		}
	}
	if r.Judged == 0 {
		r.NoData = true
		return r, nil
	}

	avg := sum / float64(r.Judged)
	rate := float64(r.Passed) / float64(r.Judged)
	lo, hi, err := Wilson(r.Passed, r.Judged)
	if err != nil {
		return model.MetricResult{}, fmt.Errorf("quality metric %s: %w", metric, err)
	}
	r.AverageScore = &avg
	r.PassRate = &rate
	r.PassRateCI = &[2]float64{lo, hi}
	r.PassRateViolation = r.MinPassRate != nil && below(rate, *r.MinPassRate)
	r.AverageViolation = r.MinAverage != nil && below(avg, *r.MinAverage)
	r.Violation = r.PassRateViolation || r.AverageViolation
	return r, nil
}

// Wilson returns the 95% Wilson score interval of a proportion of passed
// successes in n trials:
//
//	p = passed/n, z = 1.959963984540054 (the 0.975 normal quantile)
//	centre     = (p + z²/2n) / (1 + z²/n)
//	half-width = z / (1 + z²/n) × √(p(1−p)/n + z²/4n²)
//	[low, high] = [centre − half-width, centre + half-width]
//
// clamped to [0, 1], with low exactly 0 when passed is 0 and high exactly
// 1 when passed is n. Unlike the normal approximation it stays inside
// [0, 1] and is not a single point at 0 or n passes.
func Wilson(passed, n int) (lo, hi float64, err error) {
	if n <= 0 || passed < 0 || passed > n {
		return 0, 0, fmt.Errorf("wilson interval of %d passed out of %d: %w", passed, n, errBadProportion)
	}
	nf := float64(n)
	p := float64(passed) / nf
	z2 := z95 * z95
	denom := 1 + z2/nf
	centre := (p + z2/(2*nf)) / denom
	half := z95 / denom * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	lo = math.Max(0, centre-half)
	hi = math.Min(1, centre+half)
	if passed == 0 {
		lo = 0
	}
	if passed == n {
		hi = 1
	}
	return lo, hi, nil
}

var errBadProportion = errors.New("passed must be between 0 and n, and n above 0")

// Summarize counts the violations of quality metric results (those of one
// run, one metric's over several runs, or all of a time range), as the
// reference system's dashboard does: each threshold set on a result with
// data is a check; the violation count is the number of violated checks
// and the violation rate is violations / checks. Results with no data
// have nothing to check and are counted apart, never as violations: their
// thresholds as Unchecked, and those whose evaluator failed (a judge
// outage) as Unhealthy.
func Summarize(results []model.MetricResult) model.QualitySummary {
	var s model.QualitySummary
	for _, r := range results {
		s.Metrics++
		if r.NoData {
			s.NoData++
			if r.Errors > 0 {
				s.Unhealthy++
			}
			if r.MinPassRate != nil {
				s.Unchecked++
			}
			if r.MinAverage != nil {
				s.Unchecked++
			}
			continue
		}
		if r.MinPassRate != nil {
			s.Checks++
			if r.PassRateViolation {
				s.Violations++
			}
		}
		if r.MinAverage != nil {
			s.Checks++
			if r.AverageViolation {
				s.Violations++
			}
		}
		if r.Violation {
			s.ViolatedMetrics++
		}
	}
	if s.Checks > 0 {
		rate := float64(s.Violations) / float64(s.Checks)
		s.ViolationRate = &rate
	}
	return s
}

// CheckSignal checks an operational signal's value against its bound: a
// violation when the value is strictly above Max or strictly below Min. A
// nil or non-finite value is no data and no violation.
func CheckSignal(name, group string, value *float64, b model.Bound) model.OperationalResult {
	r := model.OperationalResult{
		Name:  name,
		Group: group,
		Bound: model.Bound{Max: copyPtr(b.Max), Min: copyPtr(b.Min)},
	}
	if value == nil || math.IsNaN(*value) || math.IsInf(*value, 0) {
		r.NoData = true
		return r
	}
	v := *value
	r.Value = &v
	r.Violation = (b.Max != nil && above(v, *b.Max)) || (b.Min != nil && below(v, *b.Min))
	return r
}

func copyPtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
