package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/advmatrix/advmatrix/datasets/npy"
	"github.com/advmatrix/advmatrix/internal/atomicfile"
	"github.com/advmatrix/advmatrix/report"
)

// Cache is a content-addressed store of finished work on disk: the
// adversarial images and results of a crafting run, under the run's key,
// and each victim's evaluation, under the run's key and the victim's
// bytes. An interrupted run resumes from it and a repeated run is nearly
// free. Entries are written atomically and never modified; a damaged entry
// is treated as missing and written again.
type Cache struct {
	Dir string
}

// DefaultCacheDir is advmatrix's folder under the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache on Linux).
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory (%v): give --cache DIR or --no-cache", err)
	}
	return filepath.Join(d, "advmatrix"), nil
}

// OpenCache makes dir if needed and checks that it can be written.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("cache %s is not a folder", dir)
	}
	probe, err := os.CreateTemp(dir, ".probe*")
	if err != nil {
		return nil, fmt.Errorf("cache %s cannot be written: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if _, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("cache %s cannot be read: %w", dir, err)
	}
	return &Cache{Dir: dir}, nil
}

func (c *Cache) path(kind, key, ext string) string {
	return filepath.Join(c.Dir, kind, key[:2], key+ext)
}

// cellEntry is a crafting run as cached: the results without victims.
type cellEntry struct {
	Result report.AttackResult `json:"result"`
}

// GetCell returns a cached crafting run and its adversarial images.
func (c *Cache) GetCell(key string) (*cellEntry, []float32, bool) {
	if c == nil {
		return nil, nil, false
	}
	b, err := os.ReadFile(c.path("cells", key, ".json"))
	if err != nil {
		return nil, nil, false
	}
	var e cellEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, nil, false
	}
	a, err := npy.ReadFile(c.path("cells", key, ".npy"))
	if err != nil {
		return nil, nil, false
	}
	adv, err := a.Float32()
	if err != nil || len(a.Shape) != 4 || a.Shape[0] != e.Result.N {
		return nil, nil, false
	}
	return &e, adv, true
}

// PutCell stores a crafting run: the images first, then the results, so
// that a results entry always has its images.
func (c *Cache) PutCell(key string, e *cellEntry, adv []float32, shape [3]int) error {
	if c == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.path("cells", key, "")), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	var buf bytes.Buffer
	if err := npy.Write(&buf, npy.NewFloat32([]int{e.Result.N, shape[0], shape[1], shape[2]}, adv)); err != nil {
		return err
	}
	if err := atomicfile.Write(c.path("cells", key, ".npy"), buf.Bytes()); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.path("cells", key, ".json"), b); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// GetVictim returns a cached victim evaluation.
func (c *Cache) GetVictim(key string) (*report.VictimResult, bool) {
	if c == nil {
		return nil, false
	}
	b, err := os.ReadFile(c.path("victims", key, ".json"))
	if err != nil {
		return nil, false
	}
	var v report.VictimResult
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	return &v, true
}

// PutVictim stores a victim evaluation.
func (c *Cache) PutVictim(key string, v *report.VictimResult) error {
	if c == nil {
		return nil
	}
	p := c.path("victims", key, ".json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(p, b); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// Size is the number of entries and bytes in the cache.
func (c *Cache) Size() (entries int, size int64, err error) {
	err = filepath.WalkDir(c.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && filepath.Ext(path) == ".json" {
			entries++
		}
		if info, err := d.Info(); err == nil && d.Type().IsRegular() {
			size += info.Size()
		}
		return nil
	})
	return entries, size, err
}
