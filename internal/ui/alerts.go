package ui

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// alertPageSize is the number of alerts listed at a time.
const alertPageSize = 50

type alertsPage struct {
	Base
	State   string
	Monitor string
	States  []Tab
	Alerts  []model.Alert
	Next    string
	First   string
}

func (u *UI) alerts(w http.ResponseWriter, r *http.Request) error {
	if u.o.Alerts == nil {
		return errNoStore
	}
	b := u.base(r, "alerts", "Alerts")
	b.Refresh = true
	p := &alertsPage{Base: b, State: b.Query.Get("state"), Monitor: b.Query.Get("monitor")}
	q := store.AlertQuery{Monitor: p.Monitor, Limit: alertPageSize, Cursor: b.Query.Get("cursor")}
	switch p.State {
	case "":
	case string(model.AlertFiring), string(model.AlertResolved):
		q.State = model.AlertState(p.State)
	default:
		return badRequest("state=%q is not one of firing, resolved.", p.State)
	}
	for _, s := range []struct{ key, label string }{{"", "All"}, {"firing", "Firing"}, {"resolved", "Resolved"}} {
		p.States = append(p.States, Tab{Label: s.label, Link: b.Link("state", s.key, "cursor", ""), Current: s.key == p.State})
	}
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	page, err := u.o.Alerts.ListAlerts(ctx, q)
	if errors.Is(err, store.ErrInvalidCursor) {
		return badRequest("This page link is out of date; start again from the first page.")
	}
	if err != nil {
		return fmt.Errorf("list alerts: %w", err)
	}
	p.Alerts = page.Alerts
	if page.NextCursor != "" {
		p.Next = b.Link("cursor", page.NextCursor)
	}
	if q.Cursor != "" {
		p.First = b.Link("cursor", "")
	}
	u.render(w, r, http.StatusOK, "alerts", p)
	return nil
}

type alertPage struct {
	Base
	Alert         model.Alert
	Notifications []model.Notification
}

func (u *UI) alert(w http.ResponseWriter, r *http.Request) error {
	if u.o.Alerts == nil {
		return errNoStore
	}
	id := r.PathValue("id")
	b := u.base(r, "alerts", "Alert")
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	a, err := u.o.Alerts.GetAlert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("There is no alert %q.", id)
	}
	if err != nil {
		return fmt.Errorf("read alert %s: %w", id, err)
	}
	ns, err := u.o.Alerts.AlertNotifications(ctx, id)
	if err != nil {
		return fmt.Errorf("notifications of alert %s: %w", id, err)
	}
	b.Title = a.Summary
	u.render(w, r, http.StatusOK, "alert", &alertPage{Base: b, Alert: a, Notifications: ns})
	return nil
}
