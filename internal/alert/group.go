package alert

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// A group holds, for one monitor and one target, the alerts the target
// is told of: each firing alert, and each resolved one until a message
// has told of its resolution. A member's State is where the alert is; its
// Told is what the latest message said of it. A member whose State and
// Told differ is a change waiting to be told.
//
// When a run ends, join updates the group with what the run found, and
// sets DueAt when a message is to go:
//   - a change in a group that has told of none of its alerts yet (a new
//     group) waits out Wait after the run, so that runs ending soon after join
//     the same message;
//   - a change in a group already telling of firing alerts goes at once,
//     but not sooner than Interval after the group's latest message;
//   - no change, but alerts still firing (and not acknowledged) and
//     Repeat passed since the latest message: a reminder, under the same
//     Interval bound. It lists every alert still firing, acknowledged or
//     not.
//
// A DueAt already set stays: later changes join the message waiting.
// When DueAt comes, Flush builds the message and advances the group; the
// store does both in one transaction with queueing the message.

// join applies what a run told of its alerts to group g at now;
// firingNow holds the ids of the monitor's alerts firing after the run
// (a member firing in g but not there resolved unseen by g).
func join(g model.AlertGroup, told []model.GroupedAlert, firingNow map[string]bool, timing model.GroupTiming, now time.Time) model.AlertGroup {
	g.Alerts = slices.DeleteFunc(slices.Clone(g.Alerts), func(m model.GroupedAlert) bool {
		return m.State == model.AlertFiring && !firingNow[m.AlertID] && m.Told == ""
	})
	for i, m := range g.Alerts {
		if m.State == model.AlertFiring && !firingNow[m.AlertID] {
			g.Alerts[i].State = model.AlertResolved
			g.Alerts[i].Message.State = model.AlertResolved
		}
	}
	for _, t := range told {
		i := slices.IndexFunc(g.Alerts, func(m model.GroupedAlert) bool { return m.AlertID == t.AlertID })
		switch {
		case t.State == model.AlertFiring && i < 0:
			g.Alerts = append(g.Alerts, model.GroupedAlert{AlertID: t.AlertID, Key: t.Key, State: model.AlertFiring, Acked: t.Acked, Message: t.Message})
		case t.State == model.AlertFiring:
			g.Alerts[i].State, g.Alerts[i].Acked, g.Alerts[i].Message = model.AlertFiring, t.Acked, t.Message
		case i < 0:
			// Resolved before the target was told it fired: nothing to
			// take back.
		case g.Alerts[i].Told == "":
			g.Alerts = slices.Delete(g.Alerts, i, i+1)
		default:
			g.Alerts[i].State, g.Alerts[i].Message = model.AlertResolved, t.Message
		}
	}
	switch {
	case changed(g.Alerts):
		if !g.DueAt.IsZero() {
			break // the message waiting will tell of it too
		}
		if !toldAny(g) {
			g.DueAt = now.Add(max(timing.Wait, 0))
		} else {
			g.DueAt = later(now, g.LastSentAt.Add(timing.Interval))
		}
	case timing.Repeat > 0 && toldFiring(g.Alerts) && !now.Before(g.LastSentAt.Add(timing.Repeat)):
		if g.DueAt.IsZero() {
			g.DueAt = later(now, g.LastSentAt.Add(timing.Interval))
		}
	default:
		// Nothing to tell (a change waiting was taken back: an alert
		// resolved before it was told).
		g.DueAt = time.Time{}
	}
	return g
}

// changed reports whether one of members has a change to tell.
func changed(members []model.GroupedAlert) bool {
	return slices.ContainsFunc(members, func(m model.GroupedAlert) bool { return m.State != m.Told })
}

// toldAny reports whether g's latest message told of an alert that is
// still a member: false for a new group, whose first message waits out
// group_wait.
func toldAny(g model.AlertGroup) bool {
	return slices.ContainsFunc(g.Alerts, func(m model.GroupedAlert) bool { return m.Told != "" })
}

// toldFiring reports whether one of members was told firing by the
// latest message, still fires and is not acknowledged: what a reminder is
// about.
func toldFiring(members []model.GroupedAlert) bool {
	return slices.ContainsFunc(members, func(m model.GroupedAlert) bool {
		return m.State == model.AlertFiring && m.Told == model.AlertFiring && !m.Acked
	})
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Flush decides the messages of group g, due at now, under the silences
// of its monitor in force: the group to write back, and the
// notifications to queue (none when nothing is left to tell).
//
// A message lists the group's members, new firing alerts first, then
// those still firing, then the resolved; its event is firing while any of
// them fires (reminder when none of them changed), resolved when all did.
// Members a silence mutes are left out of it: when they changed, they are
// told in a second notification of status suppressed, with the silence's
// id, recorded and never sent. After the flush, resolved members leave
// the group and firing ones count as told, muted or not.
func Flush(g model.AlertGroup, silences []model.Silence, now time.Time) (model.AlertGroup, []model.Notification) {
	now = now.UTC()
	var loud, quiet []model.GroupedAlert
	silenceOf := map[string]string{}
	for _, m := range g.Alerts {
		if id := muting(silences, g.Monitor, m.Key, now); id != "" {
			quiet = append(quiet, m)
			silenceOf[m.AlertID] = id
		} else {
			loud = append(loud, m)
		}
	}
	seq := g.Sent + 1
	var out []model.Notification
	sent := false
	if changed(loud) || (!changed(g.Alerts) && toldFiring(loud)) {
		out = append(out, groupMessage(g, loud, changed(loud), GroupDedupKey(g.ID, seq), now))
		sent = true
	}
	if changed(quiet) {
		n := groupMessage(g, quiet, true, GroupDedupKey(g.ID, seq)+"/suppressed", now)
		n.Status, n.SilenceID, n.DoneAt = model.NotificationSuppressed, silenceOf[n.Message.Alerts[0].AlertID], now
		out = append(out, n)
	}
	g.DueAt = time.Time{}
	if len(out) == 0 {
		return g, nil
	}
	g.Sent = seq
	if sent {
		g.LastSentAt = now
	}
	kept := g.Alerts[:0:0]
	for _, m := range g.Alerts {
		if m.State == model.AlertResolved {
			continue
		}
		m.Told = model.AlertFiring
		kept = append(kept, m)
	}
	g.Alerts = kept
	return g, out
}

// muting is the id of the first silence that mutes key of monitor at
// now; "" when none does.
func muting(silences []model.Silence, monitor, key string, now time.Time) string {
	for _, s := range silences {
		if s.Mutes(monitor, key, now) {
			return s.ID
		}
	}
	return ""
}

// groupMessage is the notification telling of members of g (at least
// one): isChange says whether any of them changed (else it is a
// reminder).
func groupMessage(g model.AlertGroup, members []model.GroupedAlert, isChange bool, dedupKey string, now time.Time) model.Notification {
	members = slices.Clone(members)
	slices.SortStableFunc(members, func(a, b model.GroupedAlert) int {
		return cmp.Or(cmp.Compare(memberOrder(a), memberOrder(b)), strings.Compare(a.Key, b.Key), strings.Compare(a.AlertID, b.AlertID))
	})
	items := make([]model.AlertMessage, 0, len(members))
	var fresh, firing, resolved int
	for _, m := range members {
		msg := m.Message
		msg.Alerts = nil
		msg.AlertID, msg.State = m.AlertID, m.State
		switch {
		case m.State == model.AlertResolved:
			msg.Change = model.ChangeResolved
			resolved++
		case m.Told == "":
			msg.Change = model.ChangeNew
			fresh++
		default:
			msg.Change = model.ChangeFiring
			firing++
		}
		items = append(items, msg)
	}

	head := model.AlertMessage{Monitor: g.Monitor, Alerts: items, State: model.AlertFiring}
	latest := items[0]
	for _, it := range items {
		if it.WindowEnd.After(latest.WindowEnd) {
			latest = it
		}
	}
	head.Service, head.Deployment = latest.Service, latest.Deployment
	head.RunID, head.WindowStart, head.WindowEnd = latest.RunID, latest.WindowStart, latest.WindowEnd
	head.Degraded = latest.Degraded
	switch {
	case fresh+firing == 0:
		head.Event, head.State = model.EventResolved, model.AlertResolved
	case isChange:
		head.Event = model.EventFiring
	default:
		head.Event = model.EventReminder
	}
	head.Summary = groupSummary(fresh, firing, resolved)

	n := model.Notification{Monitor: g.Monitor, Channel: g.Channel, Recipients: slices.Clone(g.Recipients),
		Event: head.Event, DedupKey: dedupKey, Message: head,
		Status: model.NotificationPending, CreatedAt: now, NextAttemptAt: now}
	if len(items) == 1 {
		n.AlertID = items[0].AlertID
	}
	return n
}

// GroupDedupKey identifies the seq-th message of a group (1 for the
// first): "group/<group id>/<seq>".
func GroupDedupKey(groupID string, seq int) string {
	return "group/" + groupID + "/" + strconv.Itoa(seq)
}

// memberOrder orders a group message: new firing alerts, those still
// firing, the resolved.
func memberOrder(m model.GroupedAlert) int {
	switch {
	case m.State == model.AlertResolved:
		return 2
	case m.Told == "":
		return 0
	default:
		return 1
	}
}

// groupSummary counts a group message's alerts: "3 firing (1 new), 2
// resolved".
func groupSummary(fresh, firing, resolved int) string {
	var parts []string
	if n := fresh + firing; n > 0 {
		p := fmt.Sprintf("%d firing", n)
		if fresh > 0 && firing > 0 {
			p += fmt.Sprintf(" (%d new)", fresh)
		}
		parts = append(parts, p)
	}
	if resolved > 0 {
		parts = append(parts, fmt.Sprintf("%d resolved", resolved))
	}
	return strings.Join(parts, ", ")
}
