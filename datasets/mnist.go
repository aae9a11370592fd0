package datasets

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"sync"
)

// The MNIST database by Yann LeCun and Corinna Cortes, CC BY-SA 3.0; see
// mnist/README.md.
var (
	//go:embed mnist/train-images-idx3-ubyte.gz
	mnistTrainImages []byte
	//go:embed mnist/train-labels-idx1-ubyte.gz
	mnistTrainLabels []byte
	//go:embed mnist/t10k-images-idx3-ubyte.gz
	mnistTestImages []byte
	//go:embed mnist/t10k-labels-idx1-ubyte.gz
	mnistTestLabels []byte
)

var digitNames = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// embedded decodes an embedded idx pair once.
type embedded struct {
	once           sync.Once
	images, labels []byte
	imgName        string
	lblName        string
	ds             *Dataset
	err            error
}

var mnistSplits = map[string]*embedded{
	"train": {images: mnistTrainImages, labels: mnistTrainLabels,
		imgName: "mnist/train-images-idx3-ubyte.gz", lblName: "mnist/train-labels-idx1-ubyte.gz"},
	"test": {images: mnistTestImages, labels: mnistTestLabels,
		imgName: "mnist/t10k-images-idx3-ubyte.gz", lblName: "mnist/t10k-labels-idx1-ubyte.gz"},
}

func (e *embedded) load() (*Dataset, error) {
	e.once.Do(func() {
		var sources []Source
		read := func(b []byte, name string) *IDX {
			if e.err != nil {
				return nil
			}
			sum := sha256.Sum256(b)
			sources = append(sources, Source{Path: "embedded:" + name, SHA256: hex.EncodeToString(sum[:])})
			x, err := ReadIDX(bytes.NewReader(b))
			if err != nil {
				e.err = fmt.Errorf("read embedded:%s: %w", name, err)
			}
			return x
		}
		img := read(e.images, e.imgName)
		lbl := read(e.labels, e.lblName)
		if e.err != nil {
			return
		}
		ds, err := fromIDX(img, lbl, "embedded:"+e.imgName, "embedded:"+e.lblName, 10)
		if err != nil {
			e.err = err
			return
		}
		ds.ClassNames = digitNames
		ds.Sources = sources
		e.ds = ds
	})
	if e.err != nil {
		return nil, e.err
	}
	// Share the decoded pixels; give the caller its own exported slices.
	ds := *e.ds
	ds.Labels = clone(ds.Labels)
	ds.ClassNames = clone(ds.ClassNames)
	ds.Sources = clone(ds.Sources)
	return &ds, nil
}

// MNIST returns the MNIST split "train" (60000 images) or "test" (10000
// images), 1×28×28, from the copy embedded in the binary. The split is
// decompressed on first use and kept; later calls share its pixels.
func MNIST(split string) (*Dataset, error) {
	e, ok := mnistSplits[split]
	if !ok {
		return nil, fmt.Errorf("mnist: unknown split %q (want train or test)", split)
	}
	ds, err := e.load()
	if err != nil {
		return nil, err
	}
	ds.Name = "mnist:" + split
	return ds, nil
}
