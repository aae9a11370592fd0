package models

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// noHang fails the test, instead of hanging the suite, when f blocks.
func noHang(t *testing.T, f func() error) error {
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

// A model path that is not a regular file (a FIFO, /dev/zero, a folder)
// fails at once, without reading: before, /dev/zero was read until memory
// ran out and a FIFO blocked forever.
func TestLoadSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.onnx")
	if err := mkfifo(fifo); err != nil {
		fifo = ""
	}
	tests := []struct {
		name, path, want string
	}{
		{"fifo", fifo, "named pipe"},
		{"dev zero", "/dev/zero", "character device"},
		{"folder", dir, "directory"},
		{"missing", filepath.Join(dir, "missing.onnx"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				t.Skip("no FIFOs here")
			}
			if _, err := os.Stat(tt.path); err != nil && tt.name != "missing" {
				t.Skip(err)
			}
			check := func(op string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
					t.Errorf("%s: error %v, want one naming %s and saying %q", op, err, tt.path, tt.want)
				}
			}
			check("LoadFile", noHang(t, func() error { _, err := LoadFile(tt.path); return err }))
			check("InspectFile", noHang(t, func() error { _, err := InspectFile(tt.path); return err }))
			check("ReadModelFile", noHang(t, func() error { _, err := ReadModelFile(tt.path); return err }))
		})
	}
	// The errors can be told apart from a malformed model.
	if _, err := ReadModelFile("/dev/zero"); err != nil && !errors.Is(err, safeio.ErrNotRegular) {
		t.Errorf("/dev/zero: %v is not safeio.ErrNotRegular", err)
	}
}

// InspectFile reads external data as LoadFile does, so a model that keeps
// its weights beside it is runnable (Inspect, from memory, cannot say).
func TestInspectFileExternalData(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	tg := gemmModel(r)
	var wRaw []byte
	for _, w := range tg.g.Initializer {
		if w.GetName() == "W" {
			wRaw = append([]byte(nil), w.RawData...)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), wRaw, 0o644); err != nil {
		t.Fatal(err)
	}
	path := externalModel(t, dir, tg, "w.bin")
	in, err := InspectFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Runnable || in.Classes != 3 || in.Parameters != 3*16+3 {
		t.Errorf("InspectFile: runnable %v, %d classes, %d parameters, problem %q", in.Runnable, in.Classes, in.Parameters, in.Problem)
	}
	b, _ := os.ReadFile(path)
	if in, err := Inspect(b); err != nil || in.Runnable {
		t.Errorf("Inspect from memory: %+v, %v; want not runnable", in, err)
	}
}
