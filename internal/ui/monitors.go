package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

type monitorsPage struct {
	Base
	Monitors []MonitorRow
}

func (u *UI) monitors(w http.ResponseWriter, r *http.Request) error {
	if u.o.Monitors == nil || u.o.Runs == nil || u.o.Results == nil {
		return errNoStore
	}
	b := u.base(r, "monitors", "Monitors")
	b.Refresh = true
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	rows, err := u.monitorRows(ctx)
	if err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "monitors", &monitorsPage{Base: b, Monitors: rows})
	return nil
}

type monitorPage struct {
	Base
	Row     MonitorRow
	Stored  model.StoredMonitor
	YAML    string
	Quality MonitorQuality
	Runs    []model.Run
	// CanRun says the Run now button is offered; Started names the run
	// just started by it.
	CanRun  bool
	Started string
	// ServiceLink opens the target's service page.
	ServiceLink string
}

// maxRunHistory bounds the runs listed on a monitor page.
const maxRunHistory = 50

func (u *UI) monitor(w http.ResponseWriter, r *http.Request) error {
	if u.o.Monitors == nil || u.o.Runs == nil || u.o.Results == nil {
		return errNoStore
	}
	name := r.PathValue("name")
	b := u.base(r, "monitors", name)
	rg, err := parseRange(b.Query, b.Now, b.Loc)
	if err != nil {
		return err
	}
	b.Range, b.Refresh = rg, true
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	sm, err := u.o.Monitors.GetMonitor(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("There is no monitor named %q.", name)
	}
	if err != nil {
		return fmt.Errorf("read monitor %s: %w", name, err)
	}
	p := &monitorPage{Base: b, Stored: sm, CanRun: u.o.RunNow != nil, Started: b.Query.Get("started"),
		ServiceLink: serviceLink(b, sm.Monitor.Target.Service, sm.Monitor.Target.Deployment, "quality")}
	if y, err := monitor.MarshalYAML(sm.Monitor); err == nil {
		p.YAML = string(y)
	} else {
		p.YAML = "# could not render the definition: " + err.Error()
	}
	filter := b.Query.Get("show")
	if filter == "" {
		filter = instanceFilters[0].key
	}
	if p.Quality, err = u.monitorQuality(ctx, b, rg, sm.Monitor, filter); err != nil {
		return err
	}
	if p.Runs, err = u.o.Runs.ListRuns(ctx, name, maxRunHistory); err != nil {
		return fmt.Errorf("runs of monitor %s: %w", name, err)
	}
	if p.Row, err = u.monitorRow(ctx, sm.Monitor, p.Runs); err != nil {
		return err
	}
	u.render(w, r, http.StatusOK, "monitor", p)
	return nil
}

// runNow serves the Run now button: it records a manual run and sends the
// viewer back to the monitor page, which shows it.
func (u *UI) runNow(w http.ResponseWriter, r *http.Request) error {
	if u.o.RunNow == nil {
		return &pageError{status: http.StatusServiceUnavailable, msg: "Manual runs are not available on this server."}
	}
	name := r.PathValue("name")
	ctx, cancel, err := u.begin(r)
	if err != nil {
		return err
	}
	defer cancel()
	run, err := u.o.RunNow(ctx, name, nil, nil)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("There is no monitor named %q.", name)
	}
	if err != nil {
		return &pageError{status: http.StatusConflict, msg: "The run could not be started: " + firstLine(err.Error())}
	}
	http.Redirect(w, r, "/monitors/"+pathEscape(name)+"?started="+pathEscape(run.ID), http.StatusSeeOther)
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
