package payload

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

// fill sets every field reachable from v to a non-zero value derived from
// its path, so that a field an encoder forgets cannot come back equal.
func fill(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("value of " + path + " \"quoted\" ✓")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(path)) * 1000003)
	case reflect.Uint32:
		v.SetUint(uint64(len(path)))
	case reflect.Float64:
		v.SetFloat(float64(len(path)) + 0.25)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), path+"[]")
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf(map[string]any{"key": path, "list": []any{"a", true}}))
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	}
}

func TestTraceEncoderCoversModel(t *testing.T) {
	var tr model.Trace
	fill(reflect.ValueOf(&tr).Elem(), "Trace")

	for _, tc := range []struct {
		name   string
		value  any
		encode func() ([]byte, error)
		into   func() any
	}{
		{"trace", &tr, func() ([]byte, error) { return AppendTrace(nil, &tr) }, func() any { return new(model.Trace) }},
		{"zero trace", &model.Trace{}, func() ([]byte, error) { return AppendTrace(nil, &model.Trace{}) }, func() any { return new(model.Trace) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.encode()
			if err != nil {
				t.Fatal(err)
			}
			got := tc.into()
			if err := json.Unmarshal(b, got); err != nil {
				t.Fatalf("encoder output %s: %v", b, err)
			}
			if diff := cmp.Diff(tc.value, got); diff != "" {
				t.Errorf("encode/decode (-want +got):\n%s\n(a field missing from the encoder in trace.go?)", diff)
			}
			// And the same as what encoding/json writes.
			std, err := json.Marshal(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			ref := tc.into()
			if err := json.Unmarshal(std, ref); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(ref, got); diff != "" {
				t.Errorf("differs from encoding/json (-std +ours):\n%s", diff)
			}
		})
	}
}
