package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/monitor"
	"github.com/flowwatch/flowwatch/internal/store"
)

// monitorFile is a monitor read from the monitors_dir directory.
type monitorFile struct {
	path   string // the file, as found in the directory
	loaded monitor.Loaded
}

// readMonitorsDir loads every *.yaml and *.yml file (in any case)
// directly in dir, in name order, as `flowwatch monitor apply -f` would,
// with the names checked against env. Subdirectories and names starting
// with "." are left out, as a shell glob would. Its error lists the
// problems of every file at once, each with the file and line, and names
// both files when two define the same monitor. A directory that cannot be
// read is an error: the configuration asked for it.
func readMonitorsDir(dir string, env monitor.Env) ([]monitorFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("monitors_dir: %w (create the directory, or leave monitors_dir out of the configuration)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("monitors_dir: %w", err)
	}
	var (
		files    []monitorFile
		problems []string
		byName   = map[string]string{} // monitor name -> the file defining it
	)
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if strings.HasPrefix(name, ".") || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, name)
		// Stat follows symbolic links (a Kubernetes ConfigMap mounts its
		// files as links); a directory named *.yaml is not a file.
		fi, err := os.Stat(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := readLimited(path, monitor.MaxFileSize)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		loaded, err := monitor.Load(data, env)
		if err != nil {
			problems = append(problems, fileProblems(path, err)...)
			continue
		}
		if first, ok := byName[loaded.Monitor.Name]; ok {
			problems = append(problems, fmt.Sprintf("%s: monitor %q is already defined in %s; a monitor name may be used by one file only", path, loaded.Monitor.Name, first))
			continue
		}
		byName[loaded.Monitor.Name] = path
		files = append(files, monitorFile{path: path, loaded: loaded})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("monitors_dir %s: %d problem(s), nothing applied:\n%s", dir, len(problems), strings.Join(problems, "\n"))
	}
	return files, nil
}

// readLimited reads a file of at most limit bytes; a larger one is read
// just past the limit, which monitor.Load refuses with the size.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// fileProblems formats the error of monitor.Load as "FILE:LINE:COLUMN:
// KEY: message" lines, the way `flowwatch monitor validate` prints them.
func fileProblems(path string, err error) []string {
	var (
		pe *monitor.ParseError
		ve *monitor.ValidationError
	)
	switch {
	case errors.As(err, &pe):
		ve = &monitor.ValidationError{Problems: []monitor.Problem{{Line: pe.Line, Column: pe.Column, Message: pe.Message}}}
	case !errors.As(err, &ve):
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	out := make([]string, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		var b strings.Builder
		b.WriteString(path)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Message)
		out = append(out, b.String())
	}
	return out
}

// Results of applying a monitor file, as logged.
const (
	monitorCreated   = "created"
	monitorUpdated   = "updated"
	monitorUnchanged = "unchanged"
)

// applyMonitorFiles stores the monitors of files, in order: it creates the
// new ones, replaces those that differ from the stored monitor (a new
// version) and leaves the others as they are (same version). Monitors in
// the store that no file defines are left alone. It logs one line per
// file.
func applyMonitorFiles(ctx context.Context, st store.MonitorStore, files []monitorFile, log *slog.Logger) error {
	for _, f := range files {
		m := f.loaded.Monitor
		for _, w := range f.loaded.Warnings {
			log.Warn("monitor_file_warning", "file", f.path, "monitor", m.Name, "warning", w)
		}
		if w := targetWarning(ctx, st, m, log); w != "" {
			log.Warn("monitor_file_warning", "file", f.path, "monitor", m.Name, "warning", w)
		}
		sm, result, err := applyMonitor(ctx, st, m)
		if err != nil {
			return fmt.Errorf("monitors_dir: apply %s (monitor %s): %w", f.path, m.Name, err)
		}
		log.Info("monitor_file_applied", "file", f.path, "monitor", m.Name, "result", result,
			"version", sm.Version, "form", f.loaded.Form)
	}
	return nil
}

// serviceLister lists the services (and deployments) traces came from.
type serviceLister interface {
	ListServices(ctx context.Context) ([]model.ServiceInfo, error)
}

// targetWarning says when no trace of a monitor's target has been
// received (monitor.TargetWarning), if st can list the services seen.
func targetWarning(ctx context.Context, st store.MonitorStore, m model.Monitor, log *slog.Logger) string {
	if l, ok := st.(*monitor.Limited); ok {
		st = l.MonitorStore
	}
	sl, ok := st.(serviceLister)
	if !ok {
		return ""
	}
	seen, err := sl.ListServices(ctx)
	if err != nil {
		log.Warn("monitor_target_check_failed", "monitor", m.Name, "err", err)
		return ""
	}
	return monitor.TargetWarning(m.Target, seen)
}

// applyMonitor stores m unless the stored monitor of its name is the same.
// It replaces only the version it compared with, so two replicas starting
// with the same files do not both write a new version: the one that loses
// compares again and finds the monitor unchanged.
func applyMonitor(ctx context.Context, st store.MonitorStore, m model.Monitor) (model.StoredMonitor, string, error) {
	const tries = 3
	for range tries {
		cur, err := st.GetMonitor(ctx, m.Name)
		if errors.Is(err, store.ErrNotFound) {
			sm, created, err := st.PutMonitor(ctx, m, 0)
			switch {
			case err != nil:
				return model.StoredMonitor{}, "", err
			case !created: // created meanwhile by another replica
				return sm, monitorUpdated, nil
			}
			return sm, monitorCreated, nil
		}
		if err != nil {
			return model.StoredMonitor{}, "", err
		}
		same, err := sameMonitor(cur.Monitor, m)
		if err != nil {
			return model.StoredMonitor{}, "", err
		}
		if same {
			return cur, monitorUnchanged, nil
		}
		sm, _, err := st.PutMonitor(ctx, m, cur.Version)
		if errors.Is(err, store.ErrConflict) {
			continue // changed meanwhile: compare with the new version
		}
		if err != nil {
			return model.StoredMonitor{}, "", err
		}
		return sm, monitorUpdated, nil
	}
	return model.StoredMonitor{}, "", fmt.Errorf("the stored monitor changed %d times while it was being applied: %w", tries, store.ErrConflict)
}

// sameMonitor reports whether two monitors are the same definition. It
// compares their JSON, the form the store keeps them in, so that what a
// round trip through the store cannot tell apart (an empty list and no
// list) counts as the same.
func sameMonitor(a, b model.Monitor) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return slices.Equal(ja, jb), nil
}
