// Package progress draws progress bars with an ETA on stderr, and only when
// stderr is a terminal: logs and CI output stay clean. It is a small face
// over github.com/schollz/progressbar, so that every command draws the same
// bar.
package progress

import (
	"os"

	"github.com/schollz/progressbar/v3"
)

// Bar reports progress of a known amount of work; a nil *Bar (not on a
// terminal) does nothing.
type Bar struct {
	bar *progressbar.ProgressBar
}

// Enabled reports whether bars are drawn: stderr is a terminal.
func Enabled() bool {
	st, err := os.Stderr.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New returns a bar for total units of work, labelled, drawn on stderr
// when it is a terminal.
func New(label string, total int) *Bar {
	if !Enabled() {
		return nil
	}
	return &Bar{bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(label), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())}
}

// Add records n more units done.
func (b *Bar) Add(n int) {
	if b != nil {
		_ = b.bar.Add(n)
	}
}

// Set records that done units are done.
func (b *Bar) Set(done int) {
	if b != nil {
		_ = b.bar.Set(done)
	}
}

// Done clears the bar.
func (b *Bar) Done() {
	if b != nil {
		_ = b.bar.Finish()
	}
}
