package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// testServicesPage checks ServicesPage: pages of every size read the same
// services as ListServices, in the same order, the last page without a
// cursor; names that are prefixes of others and empty deployments page
// correctly; a cursor the store did not issue is ErrInvalidCursor.
func testServicesPage(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	if p, err := s.ServicesPage(ctx, store.ServiceQuery{}); err != nil || len(p.Services) != 0 || p.NextCursor != "" {
		t.Fatalf("ServicesPage on an empty store = %+v, %v", p, err)
	}
	var specs []traceSpec
	names := []struct{ service, deployment string }{
		{"a", ""}, {"a", "x"}, {"a", "xy"}, {"ab", ""}, {"a\x00", "z"}, {"b", "x"}, {"é", ""}, {strings.Repeat("s", 200), "d"},
	}
	for i, n := range names {
		specs = append(specs, traceSpec{id: i + 1, start: time.Duration(i) * time.Minute, dur: time.Second, service: n.service, deployment: n.deployment})
	}
	writeTraces(t, s, specs...)
	all := services(t, s)
	if len(all) != len(names) {
		t.Fatalf("ListServices: %d services, want %d", len(all), len(names))
	}
	for _, limit := range []int{1, 2, 3, len(names), len(names) + 1, 0} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []model.ServiceInfo
			q := store.ServiceQuery{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > len(names) {
					t.Fatal("the pages do not end")
				}
				p, err := s.ServicesPage(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if limit > 0 && len(p.Services) > limit {
					t.Fatalf("a page of %d services, limit %d", len(p.Services), limit)
				}
				got = append(got, p.Services...)
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("pages (-ListServices +pages):\n%s", diff)
			}
		})
	}
	for _, c := range []string{"x", "!!", strings.Repeat("A", 5000)} {
		_, err := s.ServicesPage(ctx, store.ServiceQuery{Cursor: c})
		mustBe(t, fmt.Sprintf("ServicesPage(cursor %.20q)", c), err, store.ErrInvalidCursor)
	}
}
