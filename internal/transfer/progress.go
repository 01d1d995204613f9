package transfer

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/store"
)

// bar shows the progress of one kind of record: records done of the
// total, the rate of this run and the time left at that rate.
type bar struct {
	w       io.Writer
	redraw  bool
	every   time.Duration
	now     func() time.Time
	kind    store.RecordKind
	total   int64
	before  int64 // copied by earlier runs
	start   time.Time
	shownAt time.Time
}

func newBar(opts Options, kind store.RecordKind, total, before int64) *bar {
	b := &bar{w: opts.Progress, redraw: opts.Redraw, every: opts.ProgressEvery, now: opts.Now,
		kind: kind, total: total, before: before}
	b.start = b.now()
	b.shownAt = b.start
	return b
}

// update shows copied (this run's records) if it is time to.
func (b *bar) update(copied int64) {
	if b.w == nil {
		return
	}
	now := b.now()
	if now.Sub(b.shownAt) < b.every {
		return
	}
	b.shownAt = now
	if b.redraw {
		fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(copied, now, ""))
	} else {
		fmt.Fprintln(b.w, b.line(copied, now, ""))
	}
}

// finish shows the kind's last line, with a note (why it stopped).
func (b *bar) finish(copied int64, note string) {
	if b.w == nil {
		return
	}
	line := b.line(copied, b.now(), note)
	if b.redraw {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

func (b *bar) line(copied int64, now time.Time, note string) string {
	done := b.before + copied
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-15s %s/%s", b.kind, count(done), count(b.total))
	if b.total > 0 {
		fmt.Fprintf(&sb, " %3d%%", min(100, done*100/b.total))
	}
	const width = 20
	filled := width
	if b.total > 0 {
		filled = int(min(width, done*width/b.total))
	}
	sb.WriteString(" [" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]")
	elapsed := now.Sub(b.start)
	if copied > 0 && elapsed > 0 {
		rate := float64(copied) / elapsed.Seconds()
		fmt.Fprintf(&sb, " %s/s", count(int64(rate)))
		if left := b.total - done; left > 0 && note == "" && rate > 0 {
			fmt.Fprintf(&sb, " ETA %s", (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
		} else {
			fmt.Fprintf(&sb, " in %s", elapsed.Round(time.Millisecond))
		}
	}
	if note != "" {
		sb.WriteString(" (" + note + ")")
	}
	return sb.String()
}

// count writes n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
