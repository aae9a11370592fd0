// Package safeio opens files named by users without trusting them to be
// what they claim. A path may name a FIFO (opening it blocks until a writer
// appears), a device such as /dev/zero (endless data) or /dev/st0 (opening
// it rewinds a tape), a socket or a directory; a regular file may be far
// larger than any input advmatrix reads. Open refuses all of these before
// reading a byte, so that a bad path is an error rather than a hang or an
// out-of-memory crash.
package safeio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the errors of Open and ReadFile for a path
// that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the errors of Open and ReadFile for a file
// larger than the limit.
var ErrTooLarge = errors.New("file too large")

// Open opens the regular file at path for reading. Symbolic links are
// followed. It fails, without blocking and without reading, if path is
// anything but a regular file, or if the file is larger than limit bytes
// (limit < 0: no limit). The file is checked twice: by name before it is
// opened, so that opening a device has no side effect, and by descriptor
// after, so that a file swapped in between is caught. Errors name the path.
func Open(path string, limit int64) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := check(path, fi, limit); err != nil {
		return nil, err
	}
	// openFlags holds O_NONBLOCK where it exists: should a FIFO replace
	// the file after the Stat, opening it must still not wait for a
	// writer. Reads from a regular file ignore the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if fi, err = f.Stat(); err == nil {
		err = check(path, fi, limit)
	} else {
		err = fmt.Errorf("read %s: %w", path, err)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// check refuses anything but a regular file of at most limit bytes.
func check(path string, fi fs.FileInfo, limit int64) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("read %s: %s, %w", path, Kind(fi.Mode()), ErrNotRegular)
	}
	if limit >= 0 && fi.Size() > limit {
		return fmt.Errorf("read %s: %w: %d bytes, more than the limit of %d", path, ErrTooLarge, fi.Size(), limit)
	}
	return nil
}

// Kind names the type of file a mode describes, for error messages.
func Kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// ReadFile reads the whole regular file at path, which may hold at most
// limit bytes (limit < 0: no limit). A file that grows past the limit
// while it is read is an error too.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// Allocate what the file holds now, and read one byte more than the
	// limit to notice growth.
	buf := make([]byte, 0, fi.Size()+1)
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, limit+1)
	}
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	if limit >= 0 && int64(len(buf)) > limit {
		return nil, fmt.Errorf("read %s: %w: it grew past the limit of %d bytes while being read", path, ErrTooLarge, limit)
	}
	return buf, nil
}
