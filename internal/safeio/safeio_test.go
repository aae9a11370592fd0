package safeio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withTimeout fails the test instead of hanging it when f blocks, as
// opening a FIFO without O_NONBLOCK would.
func withTimeout(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("blocked for 10s")
		return nil
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("small", link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		fifo = ""
	}
	fifoLink := filepath.Join(dir, "fifolink")
	if fifo != "" {
		if err := os.Symlink(fifo, fifoLink); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, path string
		limit      int64
		want       string // "" for success
		is         error
	}{
		{"regular", small, 5, "", nil},
		{"no limit", small, -1, "", nil},
		{"symlink to a regular file", link, 5, "", nil},
		{"too large", small, 4, "5 bytes, more than the limit of 4", ErrTooLarge},
		{"directory", dir, -1, "a directory", ErrNotRegular},
		{"missing", filepath.Join(dir, "missing"), -1, "no such file", os.ErrNotExist},
		{"dev zero", "/dev/zero", 1 << 30, "a character device", ErrNotRegular},
		{"dev null", "/dev/null", 1 << 30, "a character device", ErrNotRegular},
		{"fifo", fifo, -1, "a named pipe", ErrNotRegular},
		{"symlink to a fifo", fifoLink, -1, "a named pipe", ErrNotRegular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				t.Skip("no FIFOs here")
			}
			if _, err := os.Stat(tt.path); err != nil && tt.is != os.ErrNotExist {
				t.Skipf("%s: %v", tt.path, err)
			}
			for _, op := range []string{"Open", "ReadFile"} {
				var b []byte
				err := withTimeout(t, func() error {
					if op == "Open" {
						f, err := Open(tt.path, tt.limit)
						if err == nil {
							f.Close()
						}
						return err
					}
					var err error
					b, err = ReadFile(tt.path, tt.limit)
					return err
				})
				if tt.want == "" {
					if err != nil {
						t.Fatalf("%s: %v", op, err)
					}
					if op == "ReadFile" && string(b) != "hello" {
						t.Errorf("ReadFile = %q", b)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
					t.Errorf("%s error %v, want one naming %s and containing %q", op, err, tt.path, tt.want)
				}
				if !errors.Is(err, tt.is) {
					t.Errorf("%s error %v is not %v", op, err, tt.is)
				}
			}
		})
	}
}

func TestReadFileSizes(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 100000} {
		p := filepath.Join(dir, "f")
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i * 7)
		}
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p, int64(n))
		if err != nil || string(got) != string(want) {
			t.Errorf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
}
