package model

import "time"

// RunStatus is where a monitor run is in its life.
type RunStatus string

// Run statuses: a run is created pending, claimed (running) by one
// scheduler, and ends succeeded or failed.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
)

// Run triggers.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// Run is one run of a monitor over one window of traces.
type Run struct {
	ID             string
	Monitor        string
	MonitorVersion int64
	Trigger        string // TriggerSchedule or TriggerManual
	Status         RunStatus
	// ScheduledAt is the schedule's tick (or the time a manual run was
	// asked for); the window is computed from it, so a retried run reads
	// the same traces.
	ScheduledAt time.Time
	WindowStart time.Time
	WindowEnd   time.Time
	CreatedAt   time.Time
	StartedAt   time.Time // zero until claimed
	FinishedAt  time.Time // zero until it ends
	// Attempts counts the claims: a run whose scheduler died is claimed
	// again once its lease expires.
	Attempts int
	// LeaseOwner and LeaseUntil say which scheduler runs it, until when.
	LeaseOwner string
	LeaseUntil time.Time
	Error      string
	// Progress is how far the run's evaluation has gone, as its scheduler
	// last recorded it.
	Progress RunProgress
}

// RunProgress counts a run's sampled traces (Total, 0 until sampling is
// done) and those evaluated for every metric (Done).
type RunProgress struct {
	Done  int
	Total int
}
