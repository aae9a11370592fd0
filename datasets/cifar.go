package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/advmatrix/advmatrix/internal/safeio"
)

// cifarRecord is the size of one CIFAR-10 binary record: a label byte and
// a 3×32×32 image, channel after channel.
const cifarRecord = 1 + 3*32*32

var cifarNames = []string{
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck",
}

// CIFAR10 reads CIFAR-10 binary batch files (data_batch_1.bin …
// test_batch.bin), in the order given, into one 3×32×32 dataset with 10
// classes. Each file must be a whole number of 3073-byte records (label
// byte, then the red, green and blue 32×32 planes) with labels 0..9.
func CIFAR10(paths ...string) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("cifar10: no files given")
	}
	// Check every length before reading anything.
	records := 0
	for _, path := range paths {
		size, err := cifarSize(path)
		if err != nil {
			return nil, err
		}
		records += int(size / cifarRecord)
		if int64(records)*cifarRecord > maxIDXBytes {
			return nil, fmt.Errorf("cifar10: more than %d bytes of data", int64(maxIDXBytes))
		}
	}
	pix := make([]uint8, 0, records*(cifarRecord-1))
	labels := make([]int, 0, records)
	var sources []Source
	for _, path := range paths {
		b, src, err := readCIFAR(path)
		if err != nil {
			return nil, err
		}
		sources = append(sources, src)
		for i := 0; i < len(b)/cifarRecord; i++ {
			rec := b[i*cifarRecord : (i+1)*cifarRecord]
			if rec[0] > 9 {
				return nil, fmt.Errorf("read %s: record %d has label %d, want 0..9", path, i, rec[0])
			}
			labels = append(labels, int(rec[0]))
			pix = append(pix, rec[1:]...)
		}
	}
	if len(labels) != records {
		return nil, fmt.Errorf("cifar10: files changed while being read")
	}
	ds, err := NewUint8([3]int{3, 32, 32}, pix, labels, 10)
	if err != nil {
		return nil, err
	}
	ds.Name = "cifar10:" + strings.Join(paths, ",")
	ds.ClassNames = clone(cifarNames)
	ds.Sources = sources
	return ds, nil
}

// cifarSize returns the length of a batch file after checking it.
func cifarSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("read %s: %s, %w", path, safeio.Kind(fi.Mode()), safeio.ErrNotRegular)
	}
	size := fi.Size()
	if size == 0 || size%cifarRecord != 0 {
		return 0, fmt.Errorf("read %s: length %d is not a positive multiple of the %d-byte CIFAR-10 record", path, size, cifarRecord)
	}
	return size, nil
}

// readCIFAR reads a whole batch file.
func readCIFAR(path string) ([]byte, Source, error) {
	size, err := cifarSize(path)
	if err != nil {
		return nil, Source{}, err
	}
	f, err := safeio.Open(path, size)
	if err != nil {
		return nil, Source{}, err
	}
	defer f.Close()
	b, extra, err := readExactly(f, size)
	if err == nil && (int64(len(b)) != size || extra) {
		err = fmt.Errorf("file changed while being read")
	}
	if err != nil {
		return nil, Source{}, fmt.Errorf("read %s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	return b, Source{Path: path, SHA256: hex.EncodeToString(sum[:])}, nil
}
