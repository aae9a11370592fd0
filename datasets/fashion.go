package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FashionMNISTDir is where the Debian package dataset-fashion-mnist
// installs Fashion-MNIST, the folder [FashionMNIST] reads by default.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

var fashionNames = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// FashionMNIST reads the Fashion-MNIST split "train" (60000 images) or
// "test" (10000), 1×28×28, from the idx files in dir ([FashionMNISTDir] if
// dir is empty): train-images-idx3-ubyte and train-labels-idx1-ubyte, or
// t10k-… for the test split, each gzip-compressed (.gz) or plain.
func FashionMNIST(split, dir string) (*Dataset, error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	if prefix == "" {
		return nil, fmt.Errorf("fashion-mnist: unknown split %q (want train or test)", split)
	}
	name := "fashion-mnist:" + split
	if dir == "" {
		dir = FashionMNISTDir
	} else {
		name += "@" + dir
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("fashion-mnist: folder %s not found (install the Debian package dataset-fashion-mnist, or give fashion-mnist@DIR): %w", dir, err)
	}
	imgPath, err := findIDX(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := findIDX(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	ds, err := idxPair(imgPath, lblPath, 10)
	if err != nil {
		return nil, err
	}
	ds.Name = name
	ds.ClassNames = clone(fashionNames)
	return ds, nil
}

// findIDX returns the path of base.gz or base in dir.
func findIDX(dir, base string) (string, error) {
	for _, name := range []string{base + ".gz", base} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("fashion-mnist: neither %s.gz nor %s in %s", base, base, dir)
}

// idxPair reads an idx3 image file and an idx1 label file.
func idxPair(imgPath, lblPath string, classes int) (*Dataset, error) {
	img, src1, err := ReadIDXFile(imgPath)
	if err != nil {
		return nil, err
	}
	lbl, src2, err := ReadIDXFile(lblPath)
	if err != nil {
		return nil, err
	}
	ds, err := fromIDX(img, lbl, imgPath, lblPath, classes)
	if err != nil {
		return nil, err
	}
	ds.Sources = []Source{src1, src2}
	return ds, nil
}
