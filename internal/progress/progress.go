// Package progress draws a one-line progress bar on stderr, and only when
// stderr is a terminal: logs and CI output stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Bar reports progress of a known amount of work.
type Bar struct {
	w       io.Writer
	label   string
	total   int
	done    int
	start   time.Time
	last    time.Time
	enabled bool
}

// New returns a bar writing to stderr when it is a terminal, and a silent
// one otherwise.
func New(label string, total int) *Bar {
	return &Bar{w: os.Stderr, label: label, total: total, start: time.Now(), enabled: isTerminal(os.Stderr)}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	b.done += n
	if !b.enabled {
		return
	}
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond && b.done < b.total {
		return
	}
	b.last = now
	const width = 30
	frac := float64(b.done) / float64(max(b.total, 1))
	fill := int(frac * width)
	rate := float64(b.done) / max(now.Sub(b.start).Seconds(), 1e-9)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %d/%d (%.0f/s)", b.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), 100*frac, b.done, b.total, rate)
}

// Done clears the bar.
func (b *Bar) Done() {
	if b.enabled {
		fmt.Fprint(b.w, "\r\033[K")
	}
}
